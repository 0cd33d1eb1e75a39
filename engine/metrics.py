"""Measurements a musician would make by ear, as numbers. numpy only."""

from __future__ import annotations

import numpy as np


def spectral_flux(audio: np.ndarray, n_fft: int = 256, hop: int = 64) -> np.ndarray:
    """Positive spectral flux per short frame, summed over channels: `[frames]`. Frame k
    starts at sample k * hop. Clicks show up as broadband jumps, i.e. large flux."""
    audio = np.atleast_2d(audio)
    frames = 1 + (audio.shape[-1] - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    window = np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(audio[:, index] * window, axis=-1))  # [C, frames, bins]
    flux = np.maximum(np.diff(mag, axis=1), 0).sum(axis=(0, 2))
    return np.concatenate(([0.0], flux))


def seam_discontinuity(audio: np.ndarray, seam: int, n_fft: int = 256, hop: int = 64) -> float:
    """Largest spectral flux in the frames around sample `seam`, divided by the median flux
    of the whole clip. About 1-3 for a seamless join; a hard cut between unrelated signals
    typically gives 10 or more."""
    flux = spectral_flux(audio, n_fft, hop)
    centre = seam // hop
    around = flux[max(0, centre - n_fft // hop - 1): centre + 2]
    return float(around.max() / max(np.median(flux), 1e-12))
