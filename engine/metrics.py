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


def spectral_convergence(reference: np.ndarray, estimate: np.ndarray) -> float:
    """||ref - est||_F / ||ref||_F over STFT magnitudes (lower is better)."""
    return float(np.linalg.norm(reference - estimate) / max(np.linalg.norm(reference), 1e-12))


def log_spectral_distance(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean over frames of the RMS over bins of the dB difference of power spectra
    `[..., bins, frames]` (lower is better)."""
    ref = 10 * np.log10(np.maximum(reference, 1e-5) ** 2)
    est = 10 * np.log10(np.maximum(estimate, 1e-5) ** 2)
    return float(np.sqrt(((ref - est) ** 2).mean(axis=-2)).mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature rows `[N, D]` of `a` and `b`."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays, flattened."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


def chroma(magnitude: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """Pitch-class energy `[12, frames]` from an STFT magnitude `[bins, frames]` (bins between
    55 Hz and 4 kHz folded onto the 12 pitch classes), each frame normalised to sum 1."""
    freqs = np.arange(magnitude.shape[0]) * sample_rate / n_fft
    use = (freqs > 55) & (freqs < 4000)
    classes = np.round(12 * np.log2(freqs[use] / 440.0)).astype(int) % 12
    out = np.zeros((12, magnitude.shape[1]))
    np.add.at(out, classes, magnitude[use] ** 2)
    return out / np.maximum(out.sum(0, keepdims=True), 1e-12)


def onset_envelope(log_mel: np.ndarray) -> np.ndarray:
    """Positive frame-to-frame rise of a log-mel `[bands, frames]`, summed over bands."""
    return np.concatenate(([0.0], np.maximum(np.diff(log_mel, axis=-1), 0).sum(0)))
