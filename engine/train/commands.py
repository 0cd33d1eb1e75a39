"""Command-line entry points for training: prepare-data, train, evaluate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-data", help="render the MIDI corpus and/or import audio folders")
    p.add_argument("--out", type=Path, required=True, help="data folder (audio/ + manifest.jsonl)")
    p.add_argument("--audio", type=Path, action="append", default=[], help="folder of your recordings (repeatable)")
    p.add_argument("--debian", action="append", default=[], metavar="PKG",
                   help="import a Debian music package (repeatable; 'all' = every package the project uses)")
    p.add_argument("--debian-cache", type=Path, help="where packages are downloaded and unpacked (default OUT/debian)")
    p.add_argument("--no-midi", action="store_true", help="skip the music21 corpus")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the corpus selection to render")
    p.add_argument("--renders-per-piece", type=int, default=2)
    p.add_argument("--held-out", type=float, default=0.1, help="share of pieces kept for evaluation")
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--min-seconds", type=float, default=4.0)
    p.add_argument("--soundfont", type=Path)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=prepare)

    k = sub.add_parser("pack-data", help="a small training folder to take along (to a borrowed GPU): excerpts of "
                                         "every package's tracks as Ogg Vorbis, captions already embedded")
    k.add_argument("--data", type=Path, required=True, help="folder made by prepare-data")
    k.add_argument("--out", type=Path, required=True, help="a new folder")
    k.add_argument("--max-mib", type=float, default=40.0, help="size of its audio, at most")
    k.add_argument("--seconds", type=float, default=60.0, help="excerpt of each track")
    k.add_argument("--text-encoder", default="all-MiniLM-L6-v2", help="'none' for a model without text")
    k.add_argument("--seed", type=int, default=0)
    k.set_defaults(handler=pack)

    t = sub.add_parser("train", help="train the magnitude network (stage 1) or the diffusion U-Net (stage 2)")
    t.add_argument("stage", choices=["magnitude", "diffusion", "vocoder"], help="('vocoder': magnitude's old name)")
    t.add_argument("--data", type=Path, required=True, help="folder made by prepare-data")
    t.add_argument("--run-dir", type=Path, required=True, help="run folder: model.safetensors + resumable state")
    t.add_argument("--preset", default="real",
                   help="real (the default model's body), real-full (with a full-rank linear path), real-large (for a GPU), "
                        "cpu, gpu, tiny, tiny-context")
    t.add_argument("--text-encoder", default="all-MiniLM-L6-v2", help="'none' for an unconditional model")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--crop-frames", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--warmup-steps", type=int, default=500)
    t.add_argument("--ema-start", type=int, default=1000)
    t.add_argument("--max-steps", type=int, default=1_000_000)
    t.add_argument("--decay-steps", type=int, default=0,
                   help="the learning rate falls linearly to 0 over these steps before --max-steps")
    t.add_argument("--time-budget", type=float, help="seconds to train in this invocation")
    t.add_argument("--checkpoint-every", type=float, default=300.0, help="seconds between checkpoints")
    t.add_argument("--snapshot-every", type=float, help="seconds of training between kept copies of the model")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--fresh", action="store_true", help="start this stage's network anew (other parts kept)")
    t.add_argument("--context-guess", choices=["repeat", "copy"],
                   help="the context U-Net's second first guess: loop-repeat, or the best-matching copy (weights kept)")
    t.add_argument("--outer-width", type=int, metavar="WIDTH",
                   help="grow a full-rank outer stage of this width around the run's trained U-Net "
                        "(its body kept; starts as the same model), so it can predict every mel band")
    t.add_argument("--outer-blocks", type=int, default=2, help="residual blocks of a grown outer stage (0: a linear path)")
    t.add_argument("--outer-timestep", action="store_true",
                   help="scale and shift the grown outer stage's features per noise level (may be added to a "
                        "trained stage of the same width and blocks)")
    t.add_argument("--local-width", type=int, metavar="WIDTH",
                   help="grow a frequency-local stage of this width onto the run's trained U-Net: 2D kernels over "
                        "bands and frames, shared across pitch (starts as the same model)")
    t.add_argument("--local-layers", type=int, default=3, help="dilated convolutions of a grown local stage")
    t.set_defaults(handler=train)

    e = sub.add_parser("evaluate", help="measure checkpoints on held-out tracks against baselines (JSON + PNG)")
    e.add_argument("--checkpoint", type=Path, required=True)
    e.add_argument("--compare", type=Path, action="append", default=[], help="another checkpoint, side by side")
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--clips", type=int, default=10, help="held-out 20 s clips, each from another track")
    e.add_argument("--clip-seconds", type=float, default=20.0, help="length of each clip")
    e.add_argument("--gaps", default="0.5,1,2,4", help="inpainted gap lengths in seconds")
    e.add_argument("--extensions", default="2,5", help="extension lengths in seconds")
    e.add_argument("--snapshots", type=Path, nargs="+", default=(),
                   help="runs' snapshots/ folders: quality against training time")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.set_defaults(handler=evaluate)


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    from engine.train.debian import PACKAGES
    from engine.train.prepare import prepare_data

    packages = tuple(p for name in args.debian for p in (PACKAGES if name == "all" else (name,)))
    report = prepare_data(args.out, midi=not args.no_midi, audio_dirs=tuple(args.audio),
                          debian_packages=packages, debian_cache=args.debian_cache, scale=args.scale,
                          renders_per_piece=args.renders_per_piece, held_out_fraction=args.held_out,
                          max_seconds=args.max_seconds, min_seconds=args.min_seconds, seed=args.seed,
                          soundfont=args.soundfont, workers=args.workers)
    return {"ok": report.rendered + report.imported > 0, "rendered": report.rendered,
            "imported": report.imported, "skipped": report.skipped, "manifest": str(args.out / "manifest.jsonl")}


def pack(args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import asdict

    from engine.train.pack import pack_data

    encoder = "" if args.text_encoder == "none" else args.text_encoder
    return {"ok": True, **asdict(pack_data(args.data, args.out, args.max_mib, args.seconds, encoder, args.seed))}


def train(args: argparse.Namespace) -> dict[str, Any]:
    from engine.train.config import TrainConfig
    from engine.train.trainer import train as run

    encoder = "" if args.text_encoder == "none" else args.text_encoder
    return run(TrainConfig(
        stage="magnitude" if args.stage == "vocoder" else args.stage, data_dir=args.data, run_dir=args.run_dir,
        preset=args.preset, text_encoder=encoder,
        batch_size=args.batch_size, crop_frames=args.crop_frames, lr=args.lr, warmup_steps=args.warmup_steps,
        ema_start=args.ema_start, max_steps=args.max_steps, decay_steps=args.decay_steps, time_budget=args.time_budget,
        checkpoint_every=args.checkpoint_every, snapshot_every=args.snapshot_every, seed=args.seed, device=args.device,
        progress=not args.no_progress, fresh=args.fresh,
        context_guess=args.context_guess, outer_width=args.outer_width,
        outer_blocks=args.outer_blocks, outer_timestep=args.outer_timestep,
        local_width=args.local_width, local_layers=args.local_layers))


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.train.evaluate import EvalConfig
    from engine.train.evaluate import evaluate as run

    def seconds(text: str) -> tuple[float, ...]:
        return tuple(float(s) for s in text.split(",") if s)

    return run(EvalConfig((args.checkpoint, *args.compare), args.data, args.out, clips=args.clips, clip_seconds=args.clip_seconds,
                          gaps=seconds(args.gaps), extensions=seconds(args.extensions), snapshots=tuple(args.snapshots),
                          seed=args.seed, device=args.device))
