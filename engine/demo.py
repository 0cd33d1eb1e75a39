"""`daw-diffusion demo`: every task once on a synthetic clip, written as new WAV files."""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import torch

from bridge.audiofile import write_audio
from engine.model import ModelConfig, MsaniiModel
from engine.pipeline import DEFAULT_CHECKPOINT, Pipeline, RenderSettings, pick_device

log = logging.getLogger("daw-diffusion.demo")


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


def run_demo(args: argparse.Namespace, settings: RenderSettings) -> int:
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
    jobs = {
        "generate": lambda: pipeline.generate(8.0, seed=args.seed)[0],
        "style_transfer": lambda: pipeline.style_transfer(clip, sr, 0.5, seed=args.seed),
        "interpolate": lambda: pipeline.interpolate(clip, other, sr, 0.5, 0.6, seed=args.seed),
        "inpaint": lambda: pipeline.inpaint(clip, sr, [(2.0, 3.0), (5.5, 6.0)], seed=args.seed),
        "outpaint": lambda: pipeline.outpaint(clip, sr, 4.0, seed=args.seed),
    }
    written = {"input": str(write_audio(out_dir / "input.wav", clip, sr))}
    for name, job in jobs.items():
        start = time.perf_counter()
        render = job()
        path = write_audio(out_dir / f"{name}.wav", render.audio, render.sample_rate)
        written[name] = str(path)
        log.info("%-15s %6.2f s of audio in %5.2f s -> %s", name, render.seconds,
                 time.perf_counter() - start, path)
    print(json.dumps({"ok": True, "device": str(pipeline.device), "outputs": written}))
    return 0
