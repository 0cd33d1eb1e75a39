"""Every task of the table, with its example parameters, on a synthetic chord progression, run
in this process (no service): what `daw-diffusion demo` does. Renders go into a new folder, so
nothing is overwritten."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from engine.device import pick_device
from engine.model import ModelConfig, MsaniiModel
from engine.pipeline import DEFAULT_CHECKPOINT, Pipeline
from engine.settings import RenderSettings
from engine.tasks import TASKS

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


def run_demo(out_dir: Path, settings: RenderSettings, checkpoint: Path | None = None, device: str = "auto",
             seed: int = 0) -> dict[str, Any]:
    """Render every task once into a new folder under `out_dir`; returns the files written."""
    if checkpoint is not None or DEFAULT_CHECKPOINT.is_file():
        pipeline = Pipeline.from_checkpoint(checkpoint, device, settings)
    else:
        log.warning("no bundled model yet: using an UNTRAINED model, so renders sound like noise; "
                    "the point of this demo is that every task runs end to end")
        torch.manual_seed(seed)
        pipeline = Pipeline(MsaniiModel(ModelConfig.preset("cpu")), pick_device(device), settings=settings)
    folder = out_dir / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True)  # a new folder: an earlier demo's files stay as they are
    sr = pipeline.sample_rate
    clip = chord_progression(sample_rate=sr)
    other = np.roll(chord_progression(sample_rate=sr), sr // 2, axis=1)[::-1].copy()
    clips = dict(zip(("audio", "a", "b"), (clip, clip, other)))  # each input by its name in the table
    sf.write(folder / "input.wav", clip.T, sr, subtype="FLOAT")
    written = {"input": str(folder / "input.wav")}
    for task in TASKS.values():
        start = time.perf_counter()
        inputs = {name: clips[name] for name in task.inputs} | ({"sample_rate": sr} if task.inputs else {})
        render = pipeline.run(task.name, **inputs, **dict(task.example), seed=seed)[0]
        path = folder / f"{task.name}.wav"
        sf.write(path, render.audio.T, render.sample_rate, subtype="FLOAT")
        written[task.name] = str(path)
        log.info("%-15s %6.2f s of audio in %5.2f s -> %s", task.name, render.seconds,
                 time.perf_counter() - start, path)
    return {"ok": True, "device": str(pipeline.device), "outputs": written}
