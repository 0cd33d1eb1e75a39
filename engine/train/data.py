"""Audio from the manifest: random crops with the caption of each crop's file (training), and
fixed clips of held-out tracks (evaluation, benches)."""

from __future__ import annotations

import random

import numpy as np
import soundfile as sf
import torch

from engine.spectral import SpectralConfig

CLIP_RATE = 44_100  # the manifest's audio is written at this rate


class CropSampler:
    """Endless random crops `[2, samples]` of `frames` mel frames from one split. Files are
    picked in proportion to their length; near-silent crops are redrawn."""

    def __init__(self, entries: list[dict], frames: int, spectral: SpectralConfig, seed: int) -> None:
        if not entries:
            raise ValueError("no audio in this split of the manifest")
        self.entries = entries
        self.samples = (frames - 1) * spectral.hop_length
        self.weights = [max(e["duration"], 1e-3) for e in entries]
        self.rng = random.Random(seed)

    def crop(self) -> tuple[np.ndarray, str]:
        for _ in range(8):
            entry = self.rng.choices(self.entries, self.weights)[0]
            info = sf.info(entry["path"])
            start = self.rng.randrange(max(1, info.frames - self.samples))
            audio, _ = sf.read(entry["path"], start=start, frames=self.samples, dtype="float32", always_2d=True)
            audio = audio.T
            if audio.shape[0] == 1:
                audio = np.repeat(audio, 2, axis=0)
            if audio.shape[-1] < self.samples:
                audio = np.pad(audio, ((0, 0), (0, self.samples - audio.shape[-1])))
            if np.abs(audio).max() > 1e-3:
                break
        return audio[:2], entry["caption"]

    def batch(self, size: int) -> tuple[torch.Tensor, list[str]]:
        """`[size, 2, samples]` float32 and the captions."""
        crops = [self.crop() for _ in range(size)]
        return torch.from_numpy(np.stack([c[0] for c in crops])), [c[1] for c in crops]

    def state(self) -> tuple:
        return self.rng.getstate()

    def restore(self, state: tuple) -> None:
        self.rng.setstate(state)


def load_clips(entries: list[dict], count: int, seconds: float, seed: int) -> list[tuple[np.ndarray, str]]:
    """`count` clips of `seconds` `[2, samples]` at 44.1 kHz, each from another track, taking the
    packages in turn (a fixed choice for a seed), from the middle part of each track."""
    rng = np.random.default_rng(seed)
    usable = [e for e in entries if e["duration"] >= seconds + 4]
    if not usable:
        raise ValueError(f"no track of at least {seconds + 4:g} s in this split")
    by_group: dict[str, list[dict]] = {}
    for entry in usable:
        by_group.setdefault(entry.get("package", entry["source"]), []).append(entry)
    order = [rng.permutation(len(group)).tolist() for group in by_group.values()]
    picks: list[dict] = []
    while len(picks) < min(count, len(usable)):
        for group, indices in zip(by_group.values(), order):
            if indices and len(picks) < count:
                picks.append(group[indices.pop()])
    clips = []
    for entry in picks:
        frames = sf.info(entry["path"]).frames
        length = round(seconds * CLIP_RATE)
        start = int(rng.integers(min(2 * CLIP_RATE, frames - length), max(frames - length - 2 * CLIP_RATE, 2 * CLIP_RATE) + 1))
        start = min(start, frames - length)
        audio, _ = sf.read(entry["path"], start=start, frames=length, dtype="float32", always_2d=True)
        clips.append((np.ascontiguousarray(audio.T), entry["caption"]))
    return clips
