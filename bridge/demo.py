"""`daw-diffusion demo`: every task of the table, with its example parameters, on a synthetic
chord progression, run in this process (no service), written as new WAV files."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bridge.audiofile import write_audio
from bridge.render import SETTINGS, add_settings
from engine.tasks import TASKS

log = logging.getLogger("daw-diffusion.demo")


def add_command(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="render every task on a synthetic clip")
    d.add_argument("--out-dir", type=Path, default=Path("renders/demo"))
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--checkpoint", type=Path, help="model file (default: the bundled model)")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    add_settings(d)
    d.set_defaults(handler=run_demo)


def chord_progression(seconds: float = 8.0, sample_rate: int = 44_100) -> np.ndarray:
    """Stereo `[2, samples]`: I-vi-IV-V in C, plucked harmonic tones, one chord per second."""
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    t = np.arange(int(sample_rate * 1.0)) / sample_rate
    bars = []
    for k in range(int(seconds)):
        bar = np.zeros_like(t)
        for note in chords[k % 4]:
            f = 440.0 * 2 ** ((note - 69) / 12)
            bar += sum(np.sin(2 * np.pi * f * h * t) / h**1.5 for h in (1, 2, 3, 4))
        bars.append(bar * np.exp(-3.0 * t))
    mono = np.concatenate(bars) * 0.12
    return np.stack([mono, np.roll(mono, 220)]).astype(np.float32)  # 5 ms for some width


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    import torch  # the demo runs the model here; the rest of the bridge never loads torch

    from engine.model import ModelConfig, MsaniiModel
    from engine.pipeline import DEFAULT_CHECKPOINT, Pipeline, pick_device
    from engine.settings import RenderSettings

    settings = RenderSettings(**{k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None})
    if args.checkpoint is not None or DEFAULT_CHECKPOINT.is_file():
        pipeline = Pipeline.from_checkpoint(args.checkpoint, args.device, settings)
    else:
        log.warning("no bundled model yet: using an UNTRAINED model, so renders sound like noise; "
                    "the point of this demo is that every task runs end to end")
        torch.manual_seed(args.seed)
        pipeline = Pipeline(MsaniiModel(ModelConfig.preset("cpu")), pick_device(args.device), settings=settings)
    out_dir = args.out_dir / time.strftime("%Y%m%d-%H%M%S")
    sr = pipeline.sample_rate
    clip = chord_progression(sample_rate=sr)
    other = np.roll(chord_progression(sample_rate=sr), sr // 2, axis=1)[::-1].copy()
    clips = dict(zip(("audio", "a", "b"), (clip, clip, other)))  # each input by its name in the table
    written = {"input": str(write_audio(out_dir / "input.wav", clip, sr))}
    for task in TASKS.values():
        start = time.perf_counter()
        inputs = {name: clips[name] for name in task.inputs} | ({"sample_rate": sr} if task.inputs else {})
        render = pipeline.run(task.name, **inputs, **dict(task.example), seed=args.seed)[0]
        path = write_audio(out_dir / f"{task.name}.wav", render.audio, render.sample_rate)
        written[task.name] = str(path)
        log.info("%-15s %6.2f s of audio in %5.2f s -> %s", task.name, render.seconds,
                 time.perf_counter() - start, path)
    return {"ok": True, "device": str(pipeline.device), "outputs": written}
