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


def test_a_fill_takes_the_level_of_the_music_around_it_within_12_db():
    from engine.loudness import MOST_FILL_GAIN_DB, like_surroundings

    audio = sine(220, 6.0, 0.1, channels=2)  # -23 LUFS around samples 2..4 s
    start, end = 2 * RATE, 4 * RATE
    loud = sine(330, 2.0, 0.2, channels=2)  # 6 dB over
    out = like_surroundings(loud, audio, start, end, RATE)
    assert loudness(out, RATE) == pytest.approx(loudness(audio, RATE), abs=1.0)
    faint = sine(330, 2.0, 0.001, channels=2)  # 40 dB under: raised by the most a fill may move
    gained = loudness(like_surroundings(faint, audio, start, end, RATE), RATE) - loudness(faint, RATE)
    assert gained == pytest.approx(MOST_FILL_GAIN_DB, abs=0.1)
    hot = np.concatenate((sine(220, 2.0, 0.1, channels=2), sine(220, 0.01, 0.99, channels=2)), axis=1)
    click = sine(330, 1.0, 0.05, channels=2)
    click[:, 100] = 0.9  # matching loudness would push the click over the surroundings' peak
    assert true_peak(like_surroundings(click, hot, hot.shape[1], hot.shape[1] + RATE, RATE), RATE) <= \
        true_peak(hot, RATE) + 1e-4
    silent_around = np.zeros((2, 3 * RATE), np.float32)
    assert np.array_equal(like_surroundings(loud, silent_around, RATE, 3 * RATE, RATE), loud)  # nothing to match


def test_fills_and_extensions_take_the_level_of_the_music_where_they_go(pipeline):
    from engine.demo import chord_progression
    from engine.settings import RenderSettings

    rate = 44_100
    music = chord_progression(16.0, rate)
    music[:, 8 * rate:] *= 0.25  # the second half 12 dB down: the best copy comes from the louder first half
    gap = (11.0, 12.0)
    out = pipeline.inpaint(music, rate, [gap]).audio
    a, b = (round(t * rate) for t in gap)
    # the copy came from 4 s before (7-8 s, loud), read against the music around both: it comes down
    # to what was there within 3 LU (10 LU too loud without); the level step beside its source blurs it
    assert loudness(out[:, a:b], rate) == pytest.approx(loudness(music[:, a:b], rate), abs=3.0)
    longer = pipeline.outpaint(music, rate, 2.0, settings=RenderSettings(guide=1.0, steps=4, griffin_lim_iters=4))
    tail = longer.audio[:, music.shape[1]:]
    level = loudness(tail, rate) - loudness(music[:, -2 * rate:], rate)
    assert abs(level) <= 1.0  # the model alone: its own level is whatever the random weights make
