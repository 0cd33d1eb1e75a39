"""Which U-Net can make music: the model issue's architecture probe, before any long run.

(a) The floor each candidate's output map puts under the loss, on held-out real music;
(b) each candidate, started from the bundled weights (an outer stage grows around them with a
zero output), trained for the same CPU budget on one 20 s stretch of a training track, then asked
to generate 10 s on its own: does it bring back the stretch's harmonic lines (CREPE's pitched
frames, near the stretch's own), or noise in the right colour? Beside that: loss per noise
level on the stretch and on held-out music, CPU seconds per training step and per sampler step
on 10 s of stereo.

    python bench/probe_architecture.py --data data/real --budget 420 --out docs/model-card/probe.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from engine.checkpoint import load_checkpoint
from engine.pipeline import DEFAULT_CHECKPOINT, Pipeline
from engine.train.config import TrainConfig
from engine.train.data import load_clips
from engine.train.manifest import read_manifest
from engine.train.noise_levels import LEVELS, floor_by_level, loss_by_level, output_basis
from engine.train.pitch import pitch_scores
from engine.train.trainer import Trainer

RATE = 44_100
CANDIDATES = (  # name, outer stage width (None: the bundled architecture as it is), its blocks
    ("bundled", None, 0),
    ("linear-path", 128, 0),
    ("outer-128", 128, 2),
    ("outer-256", 256, 2),
)


def pick_stretch(data: Path, seconds: float, out: Path) -> dict:
    """The most pitched `seconds` among the middles of the first training tracks of each package,
    written as a one-track data folder."""
    entries = read_manifest(data, "train")
    firsts = list({e.get("package", e["source"]): e for e in reversed(entries) if e["duration"] > seconds + 20}.values())
    best = None
    for entry in firsts[:8]:
        frames = sf.info(entry["path"]).frames
        start = max(0, frames // 2 - round(seconds * RATE / 2))
        audio, _ = sf.read(entry["path"], start=start, frames=round(seconds * RATE), dtype="float32", always_2d=True)
        score = pitch_scores(audio.T, RATE)
        if best is None or score["pitched"] > best[0]["pitched"]:
            best = (score, entry, audio, start)
    assert best is not None, "no training track is long enough"
    score, entry, audio, start = best
    (out / "audio").mkdir(parents=True, exist_ok=True)
    sf.write(out / "audio" / "stretch.wav", audio, RATE, subtype="PCM_16")
    row = {"file": "audio/stretch.wav", "duration": seconds, "caption": entry["caption"], "split": "train",
           "source": entry["file"], "start_s": round(start / RATE, 2)}
    (out / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    return {**row, **score}


def crops(audio: np.ndarray, frames: int, count: int) -> torch.Tensor:
    """`count` evenly spaced crops `[count, 2, samples]` of `frames` mel frames."""
    samples = (frames - 1) * 512
    starts = np.linspace(0, audio.shape[-1] - samples, count).astype(int)
    return torch.from_numpy(np.stack([audio[:2, s:s + samples] for s in starts]))


def sampler_step_seconds(model: torch.nn.Module) -> float:
    x, t = torch.randn(1, 2, 128, 864), torch.tensor([500.0])  # 10 s stereo at hop 512
    with torch.inference_mode():
        model(x, t)
        start = time.perf_counter()
        for _ in range(3):
            model(x, t)
    return (time.perf_counter() - start) / 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--work", type=Path, default=Path("runs/probe"))
    parser.add_argument("--budget", type=float, default=420.0, help="training seconds per candidate")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    stretch = pick_stretch(args.data, 20.0, args.work / "data")
    print("stretch:", stretch)
    source, _ = sf.read(args.work / "data" / "audio" / "stretch.wav", dtype="float32", always_2d=True)
    on_stretch = crops(source.T, 256, 6)
    held_out = torch.from_numpy(np.stack([clip[:, :255 * 512] for clip, _ in
                                          load_clips(read_manifest(args.data, "heldout"), 6, 8.0, seed=0)]))
    report: dict = {"stretch": stretch, "budget_s": args.budget, "levels": list(LEVELS), "candidates": {}}
    for name, width, blocks in CANDIDATES:
        run = args.work / name
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        shutil.copyfile(args.checkpoint, run / "model.safetensors")
        trainer = Trainer(TrainConfig(
            stage="diffusion", data_dir=args.work / "data", run_dir=run, batch_size=4, crop_frames=256,
            warmup_steps=100, time_budget=args.budget, checkpoint_every=1e9, progress=False, outer_width=width,
            outer_blocks=blocks))
        first = trainer.step
        trainer.run()
        model, meta = load_checkpoint(run / "model.safetensors")
        model.eval()
        steps = trainer.step - first
        pipeline = Pipeline(model, "cpu", meta)
        samples = [pitch_scores(pipeline.run("generate", seconds=10.0, seed=seed)[0].audio, RATE) for seed in range(3)]
        row = {
            "outer_width": width or 0, "outer_blocks": blocks, "output_rank": int(output_basis(model.unet).shape[1]),
            "parameters_M": round(sum(p.numel() for p in model.unet.parameters()) / 1e6, 2),
            "train_steps": steps, "train_s_per_step": round(trainer.runs[-1]["seconds"] / max(1, steps), 3),
            "sampler_step_s_10s_stereo": round(sampler_step_seconds(model.unet), 3),
            "floor_held_out": floor_by_level(model, held_out), "loss_held_out": loss_by_level(model, held_out),
            "floor_stretch": floor_by_level(model, on_stretch), "loss_stretch": loss_by_level(model, on_stretch),
            "generated_pitched": round(float(np.mean([s["pitched"] for s in samples])), 3),
            "generated_periodicity": round(float(np.mean([s["periodicity"] for s in samples])), 3),
        }
        report["candidates"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if not isinstance(v, list)}))
        if args.out:
            args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))


def table(report: dict) -> str:
    stretch = report["stretch"]
    lines = [f"Stretch: {stretch['source']} from {stretch['start_s']} s, pitched {stretch['pitched']:.3f}, "
             f"periodicity {stretch['periodicity']:.3f}; {report['budget_s']:.0f} s of training each.", "",
             "| candidate | output rank | U-Net M | steps | s/step train | s/sampler step (10 s stereo) | "
             "floor held-out | loss held-out | loss stretch | generated pitched | periodicity |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["candidates"].items():
        lines.append(f"| {name} | {r['output_rank']} | {r['parameters_M']} | {r['train_steps']} | {r['train_s_per_step']} | "
                     f"{r['sampler_step_s_10s_stereo']} | {np.mean(r['floor_held_out']):.3f} | "
                     f"{np.mean(r['loss_held_out']):.3f} | {np.mean(r['loss_stretch']):.3f} | "
                     f"{r['generated_pitched']:.3f} | {r['generated_periodicity']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
