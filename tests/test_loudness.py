"""Renders at their source's level: BS.1770 loudness and true peak, as a mastering meter reads them."""

import numpy as np
import pytest

from engine.loudness import like_source, loudness, true_peak

RATE = 48_000


def sine(freq: float, seconds: float, level: float, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.stack([level * np.sin(2 * np.pi * freq * t)] * channels).astype(np.float32)


def test_a_full_scale_1khz_sine_reads_as_bs1770_says():
    assert loudness(sine(1000, 3.0, 1.0), RATE) == pytest.approx(-3.01, abs=0.05)  # mono
    assert loudness(sine(1000, 3.0, 0.1, channels=2), RATE) == pytest.approx(-20.0, abs=0.05)
    at_44k = np.sin(2 * np.pi * 1000 * np.arange(3 * 44_100) / 44_100).astype(np.float32)[None]
    assert loudness(at_44k, 44_100) == pytest.approx(-3.01, abs=0.05)  # the same curve at any rate
    quiet_then_loud = np.concatenate([sine(1000, 3.0, 0.001), sine(1000, 3.0, 0.5)], axis=1)  # gating: -60 dB
    assert loudness(quiet_then_loud, RATE) == pytest.approx(loudness(sine(1000, 3.0, 0.5), RATE), abs=0.3)


def test_true_peak_finds_the_peak_between_samples():
    t = np.arange(RATE) / RATE  # a quarter of the sample rate, sampled 45 degrees off its crests
    between = (np.sin(2 * np.pi * (RATE / 4) * t + np.pi / 4)).astype(np.float32)[None]
    assert np.abs(between).max() == pytest.approx(0.707, abs=0.01)
    assert true_peak(between, RATE) == pytest.approx(1.0, abs=0.05)


def test_like_source_matches_loudness_within_1_lu_and_never_passes_the_ceiling():
    source = sine(220, 4.0, 0.8, channels=2)
    louder = sine(330, 4.0, 0.3, channels=2) + sine(1500, 4.0, 0.5, channels=2)
    out = like_source(louder, source, RATE)
    assert loudness(out, RATE) == pytest.approx(loudness(source, RATE), abs=1.0)
    assert true_peak(out, RATE) <= max(true_peak(source, RATE), 10 ** (-1 / 20)) + 1e-4
    spiky = sine(220, 4.0, 0.05, channels=2)
    spiky[:, 1000] = 0.99  # one click: matching loudness would push it far over full scale
    out = like_source(spiky, source, RATE)
    assert true_peak(out, RATE) == pytest.approx(10 ** (-1 / 20), abs=1e-3)  # the source peaks lower: -1 dBTP
    assert np.array_equal(like_source(np.zeros((2, RATE), np.float32), source, RATE), np.zeros((2, RATE)))
