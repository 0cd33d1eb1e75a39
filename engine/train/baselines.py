"""What a musician could do without the model, as the yardsticks of the evaluation: fill a
region `[start, end)` (samples) of `audio` `[C, S]` from the audio around it. numpy + the
project's STFT; each returns the patch `[C, end - start]`."""

from __future__ import annotations

import numpy as np
import torch

from engine.spectral import MelSpectral


def silence(audio: np.ndarray, start: int, end: int) -> np.ndarray:
    return np.zeros((audio.shape[0], end - start), dtype=np.float32)


def loop_repeat(audio: np.ndarray, start: int, end: int) -> np.ndarray:
    """The audio just before the region, as long as the region, repeated if it is shorter
    (after the region when nothing comes before it: a left extension)."""
    length = end - start
    source = audio[:, max(0, start - length): start] if start > 0 else audio[:, end: end + length]
    if source.shape[-1] == 0:
        return silence(audio, start, end)
    reps = -(-length // source.shape[-1])
    return np.tile(source, (1, reps))[:, :length].astype(np.float32)


def shaped_noise(audio: np.ndarray, start: int, end: int, spectral: MelSpectral, context: int,
                 seed: int = 0) -> np.ndarray:
    """Noise with the colour and level of up to `context` samples on each side of the region."""
    sides = [audio[:, max(0, start - context): start], audio[:, end: end + context]]
    return noise_like(np.concatenate([s for s in sides if s.shape[-1]], axis=-1), end - start, spectral, seed)


def noise_like(around: np.ndarray, length: int, spectral: MelSpectral, seed: int = 0) -> np.ndarray:
    """`length` samples of noise whose average power spectrum, per channel, is that of `around`
    `[C, S]` (same colour, same level)."""
    magnitude = spectral.stft(torch.from_numpy(np.ascontiguousarray(around))).abs().square().mean(-1, keepdim=True).sqrt()
    frames = spectral.config.frames_for(length)
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand(around.shape[0], magnitude.shape[-2], frames, generator=generator) * 2 * np.pi
    spec = torch.polar(magnitude.expand(-1, -1, frames).contiguous(), phase)
    noise = spectral.istft(spec, length).numpy()
    # overlapping frames of random phase add in power, not in amplitude: set the level directly
    level = np.sqrt((around**2).mean(-1, keepdims=True)) / np.maximum(np.sqrt((noise**2).mean(-1, keepdims=True)), 1e-12)
    return (noise * level).astype(np.float32)
