"""What the evaluation measures on output audio, with one fixed analysis (`JUDGE`: n_fft 2048,
hop 512, 128 mels) so that models of different hops are judged alike: log-mel and chroma
features, the scores of a filled region, and the structure of whole clips."""

from __future__ import annotations

import numpy as np
import torch

from engine import metrics
from engine.spectral import MelSpectral, SpectralConfig

JUDGE = MelSpectral(SpectralConfig(hop_length=512))
TO_DB = 20 / np.log(10)  # natural-log magnitude -> dB
RATE = 44_100


def log_mel(audio: np.ndarray) -> np.ndarray:
    return JUDGE.log_mel(torch.from_numpy(np.ascontiguousarray(audio))).numpy()


def audio_chroma(audio: np.ndarray) -> np.ndarray:
    """Chroma `[12, frames]` of audio `[channels, samples]`, its channels averaged (the judge's STFT)."""
    magnitude = JUDGE.stft(torch.from_numpy(np.ascontiguousarray(audio))).abs().numpy()
    return metrics.chroma(magnitude.reshape(-1, *magnitude.shape[-2:]).mean(0), RATE, 2048)


def inside(start: int, end: int) -> slice:
    """Judge frames whose whole window lies inside samples `[start, end)`."""
    hop, half = JUDGE.config.hop_length, JUDGE.config.n_fft // 2
    first, last = -(-(start + half) // hop), (end - half) // hop
    return slice(first, max(first + 1, last + 1))


def region_scores(truth: np.ndarray, out: np.ndarray, start: int, end: int,
                  truth_features: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """L1 (dB) and chroma correlation in the region, seam discontinuity at its inner edges;
    `truth_features` = (log_mel(truth), audio_chroma(truth)) when already computed."""
    frames = inside(start, end)
    truth_mel, truth_chroma = truth_features or (log_mel(truth), audio_chroma(truth))
    l1 = float(np.abs(log_mel(out)[..., frames] - truth_mel[..., frames]).mean() * TO_DB)
    corr = metrics.correlation(truth_chroma[:, frames], audio_chroma(out)[:, frames])
    seams = [s for s in (start, end) if 0 < s < truth.shape[-1]]
    seam = float(np.mean([metrics.seam_discontinuity(out, s) for s in seams]))
    return {"log_mel_l1_db": l1, "chroma_correlation": corr, "seam": seam}


def structure(audio: np.ndarray) -> dict:
    """Tonal and rhythmic structure, and the amplitude ripple at both models' frame rates
    (hop 1024: 43 Hz, hop 512: 86 Hz)."""
    envelope = metrics.onset_envelope(log_mel(audio).mean(0))
    return {"chroma_peak": metrics.chroma_peak(audio_chroma(audio)), "onset_peakiness": metrics.onset_peakiness(envelope),
            "onset_autocorrelation": metrics.onset_autocorrelation(envelope, RATE / JUDGE.config.hop_length),
            "ripple_43hz_db": metrics.frame_ripple_db(audio, RATE, RATE / 1024),
            "ripple_86hz_db": metrics.frame_ripple_db(audio, RATE, RATE / 512)}


def mean_rows(rows: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def frame_features(audios: list[np.ndarray]) -> np.ndarray:
    """Per-frame log-mel vectors `[N, 128]` of every channel of every clip."""
    return np.concatenate([np.moveaxis(log_mel(a), -1, -2).reshape(-1, 128) for a in audios])
