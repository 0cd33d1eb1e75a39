"""Checks and conversions for audio coming from outside: `[channels, samples]` float32."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from engine.clip import MAX_CHANNELS, MAX_RATE, MAX_SECONDS, MIN_RATE
from engine.errors import BadAudio, BadParameter

MIN_SECONDS = 0.1  # shorter than a few STFT frames: nothing to analyse
SILENCE_PEAK = 1e-6  # about -120 dBFS: below this the input is digital silence


def check_sample_rate(sample_rate: int) -> int:
    if not isinstance(sample_rate, (int, np.integer)) or not MIN_RATE <= sample_rate <= MAX_RATE:
        raise BadParameter(f"sample rate must be a whole number of Hz between {MIN_RATE} and {MAX_RATE}, not {sample_rate!r}")
    return int(sample_rate)


def check_audio(audio: np.ndarray | torch.Tensor, sample_rate: int, name: str = "audio") -> np.ndarray:
    """Return `audio` as float32 `[channels, samples]` (1-D input is mono), or raise BadAudio
    saying what is wrong: empty, too long, too many channels, NaN/inf, or silent."""
    check_sample_rate(sample_rate)
    data = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise BadAudio(f"{name} must be [channels, samples], got an array of shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number):
        raise BadAudio(f"{name} must hold numbers, not {data.dtype}")
    channels, samples = data.shape
    if samples == 0 or channels == 0:
        raise BadAudio(f"{name} is empty")
    if channels > MAX_CHANNELS:
        raise BadAudio(f"{name} has {channels} channels; at most {MAX_CHANNELS} are supported "
                       "(is it [samples, channels] instead of [channels, samples]?)")
    if samples < MIN_SECONDS * sample_rate:
        raise BadAudio(f"{name} is {1000 * samples / sample_rate:.0f} ms long; at least {MIN_SECONDS:g} s is needed")
    if samples > MAX_SECONDS * sample_rate:
        raise BadAudio(f"{name} is {samples / sample_rate:.0f} s long; at most {MAX_SECONDS:.0f} s is accepted")
    data = data.astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise BadAudio(f"{name} contains NaN or infinite samples")
    if np.abs(data).max() < SILENCE_PEAK:
        raise BadAudio(f"{name} is silent; there is nothing to transform (use generate instead)")
    return data


CEILING = 10 ** (-0.1 / 20)  # -0.1 dBFS


def below_full_scale(audio: np.ndarray) -> np.ndarray:
    """Rendered audio never leaves above full scale: a render that peaks over -0.1 dBFS is
    scaled down as a whole to peak there (an untrained or overdriven model can produce
    anything; ears and speakers should not find out)."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return audio * np.float32(CEILING / peak) if peak > CEILING else audio


def resample(audio: torch.Tensor, source_rate: int, target_rate: int) -> torch.Tensor:
    """Band-limited resampling along the last axis (no-op at equal rates)."""
    if source_rate == target_rate:
        return audio
    return torchaudio.functional.resample(audio, source_rate, target_rate)


def fit_length(audio: torch.Tensor, samples: int) -> torch.Tensor:
    """Trim, or loop (tile) a shorter clip, to exactly `samples` samples on the last axis."""
    if audio.shape[-1] >= samples:
        return audio[..., :samples]
    repeats = -(-samples // audio.shape[-1])
    return audio.repeat(*([1] * (audio.ndim - 1)), repeats)[..., :samples]
