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
    return float(np.linalg.norm(reference - estimate) / max(np.linalg.norm(reference), 1e-12))  # type: ignore[operator]


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


NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TRIADS = {f"{NOTE_NAMES[root]}{'m' if minor else ''}": [root, (root + 3 + (not minor)) % 12, (root + 7) % 12]
          for minor in (False, True) for root in range(12)}  # "C", "C#", ..., "Am", ...
TEMPLATES = {name: np.isin(np.arange(12), notes).astype(float) for name, notes in TRIADS.items()}


def chord_name(chroma_frames: np.ndarray) -> str:
    """The major or minor triad (`TRIADS`) whose template correlates best with the mean of
    `chroma_frames` `[12, frames]` (`chroma`'s: bin 0 is A)."""
    mean = np.roll(chroma_frames.mean(-1), -3)  # bin 0 = C
    return max(TRIADS, key=lambda name: correlation(mean, TEMPLATES[name]))


def heard_chord(audio: np.ndarray, sample_rate: int, n_fft: int = 8192) -> str:
    """The triad `audio` `[channels, samples]` plays, from its power spectrum over long windows
    (8192 points at 44.1 kHz: 5 Hz bins, so the bass's pitch class counts too), averaged over
    the channels and windows."""
    mono = np.atleast_2d(audio).mean(0)
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    windows = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::n_fft // 4]
    power = (np.abs(np.fft.rfft(windows * np.hanning(n_fft), axis=-1)) ** 2).mean(0)
    return chord_name(chroma(np.sqrt(power)[:, None], sample_rate, n_fft))


def onset_envelope(log_mel: np.ndarray) -> np.ndarray:
    """Positive frame-to-frame rise of a log-mel `[bands, frames]`, summed over bands."""
    return np.concatenate(([0.0], np.maximum(np.diff(log_mel, axis=-1), 0).sum(0)))


def chroma_peak(chroma_frames: np.ndarray) -> float:
    """Key centre: the clip's mean chroma `[12]` at its strongest pitch class, over its mean
    (1 = all pitch classes alike; tonal music is around 2-4)."""
    mean = chroma_frames.mean(-1)
    return float(mean.max() / max(mean.mean(), 1e-12))


def onset_peakiness(envelope: np.ndarray) -> float:
    """Distinct attacks: the mean of the strongest 5 % of an onset envelope over its median."""
    top = np.sort(envelope)[-max(1, len(envelope) // 20):]
    return float(top.mean() / max(np.median(envelope), 1e-12))


def onset_autocorrelation(envelope: np.ndarray, frame_rate: float, lags: tuple[float, float] = (0.25, 2.0)) -> float:
    """Beat: the highest normalised autocorrelation of the onset envelope at lags of `lags`
    seconds (0 = no periodicity; a steady beat gives 0.3 and more)."""
    x = envelope - envelope.mean()
    energy = max(float((x * x).sum()), 1e-12)
    low, high = max(1, round(lags[0] * frame_rate)), min(len(x) - 1, round(lags[1] * frame_rate))
    return float(max((x[:-k] * x[k:]).sum() / energy for k in range(low, high + 1))) if high >= low else 0.0


def frame_ripple_db(audio: np.ndarray, sample_rate: int, frame_rate: float) -> float:
    """Amplitude ripple at a model's frame rate, in dB: the amplitude envelope's spectrum at
    `frame_rate` Hz over its median between 20 and 200 Hz (a frame-by-frame pulsing a
    spectrogram model can leave; real music shows no peak there)."""
    mono = np.atleast_2d(audio).mean(0)
    hop = 64
    frames = len(mono) // hop
    envelope = np.sqrt((mono[: frames * hop].reshape(frames, hop) ** 2).mean(1) + 1e-12)
    envelope = np.log(envelope) - np.log(envelope).mean()
    spectrum = np.abs(np.fft.rfft(envelope * np.hanning(frames)))
    freqs = np.fft.rfftfreq(frames, hop / sample_rate)
    near = np.abs(freqs - frame_rate) <= 1.0
    band = (freqs >= 20) & (freqs <= 200)
    if not near.any() or not band.any():
        return 0.0
    return float(20 * np.log10(spectrum[near].max() / max(np.median(spectrum[band]), 1e-12)))
