"""The evaluation's yardsticks and measurements do what their names say."""

import numpy as np
import pytest

from engine import metrics
from engine.train import baselines
from engine.train.scores import JUDGE, audio_chroma, region_scores

RATE = 44_100


def tone(freq: float, seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.stack([level * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


def test_loop_repeat_copies_what_came_just_before():
    audio = np.arange(20, dtype=np.float32)[None].repeat(2, 0)
    assert np.array_equal(baselines.loop_repeat(audio, 10, 14)[0], [6, 7, 8, 9])
    assert np.array_equal(baselines.loop_repeat(audio, 3, 10)[0], [0, 1, 2, 0, 1, 2, 0])  # tiled
    assert np.array_equal(baselines.loop_repeat(audio, 0, 3)[0], [3, 4, 5])  # left extension


def test_shaped_noise_has_the_colour_and_level_of_the_surroundings():
    low = tone(200, 4.0)
    patch = baselines.shaped_noise(low, RATE, 2 * RATE, JUDGE, RATE)
    spectrum = np.abs(np.fft.rfft(patch[0])) ** 2  # power
    freqs = np.fft.rfftfreq(patch.shape[-1], 1 / RATE)
    assert spectrum[freqs < 400].sum() > 100 * spectrum[freqs > 1000].sum()
    assert np.sqrt((patch**2).mean()) == pytest.approx(np.sqrt((low**2).mean()), rel=0.3)
    assert not np.allclose(patch, low[:, RATE: 2 * RATE])


def test_region_scores_rank_the_truth_above_a_wrong_note():
    truth = tone(440, 6.0)
    wrong = truth.copy()
    wrong[:, 2 * RATE: 4 * RATE] = tone(311, 2.0)
    right = region_scores(truth, truth, 2 * RATE, 4 * RATE)
    off = region_scores(truth, wrong, 2 * RATE, 4 * RATE)
    assert right["log_mel_l1_db"] < 0.01 and right["chroma_correlation"] > 0.99
    assert off["log_mel_l1_db"] > 5 and off["chroma_correlation"] < 0.5


def test_structure_measures_tell_music_from_noise():
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal((2, 8 * RATE)) * 0.1).astype(np.float32)
    clicks = noise * 0.01
    clicks[:, :: RATE // 2] = 0.9  # a beat at 120 BPM
    assert metrics.chroma_peak(audio_chroma(tone(440, 4.0))) > 4 * metrics.chroma_peak(audio_chroma(noise))
    from engine.train.scores import log_mel

    beat = metrics.onset_envelope(log_mel(clicks).mean(0))
    flat = metrics.onset_envelope(log_mel(noise).mean(0))
    frame_rate = RATE / JUDGE.config.hop_length
    assert metrics.onset_autocorrelation(beat, frame_rate) > 0.3 > metrics.onset_autocorrelation(flat, frame_rate)
    assert metrics.onset_peakiness(beat) > 2 * metrics.onset_peakiness(flat)


def test_frame_ripple_finds_a_pulsing_at_the_frame_rate():
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(6 * RATE) * 0.1).astype(np.float32)
    t = np.arange(noise.size) / RATE
    pulsing = noise * (1 + 0.8 * np.sin(2 * np.pi * RATE / 512 * t))
    assert metrics.frame_ripple_db(pulsing, RATE, RATE / 512) > metrics.frame_ripple_db(noise, RATE, RATE / 512) + 10


def test_the_pitch_tracker_tells_a_melody_from_noise_of_its_colour():
    from engine.train import pitch

    melody = np.concatenate([tone(f, 1.0) for f in (262, 330, 392, 523)], axis=1)
    melody[:, : RATE // 2] = 0  # silence counts as unpitched
    noise = baselines.noise_like(melody, melody.shape[-1], JUDGE, 0)
    tuned, rough = pitch.pitch_scores(melody, RATE), pitch.pitch_scores(noise, RATE)
    assert 0.75 < tuned["pitched"] < 0.9 and rough["pitched"] < tuned["pitched"] / 4  # noise around 4 tones: a little
    assert tuned["periodicity"] > 2 * rough["periodicity"]
    # CREPE's embedding: the same notes in another order and rhythm lie nearer the melody than its noise
    other = np.concatenate([tone(f, s, 0.2) for f, s in ((523, 0.5), (392, 1.5), (262, 0.75), (330, 1.25))], axis=1)
    near, far = (metrics.frechet_distance(pitch.embedding(a, RATE, every=1), pitch.embedding(melody, RATE, every=1))
                 for a in (other, noise))
    assert near < far / 2


def test_a_clip_too_short_for_its_extensions_is_refused_before_anything_runs(tmp_path):
    from engine.train.evaluate import EvalConfig

    with pytest.raises(ValueError, match=r"--clip-seconds 6 is too short .* at least 10 s"):
        EvalConfig((tmp_path / "m.safetensors",), tmp_path, tmp_path, clip_seconds=6.0)
    EvalConfig((tmp_path / "m.safetensors",), tmp_path, tmp_path, clip_seconds=6.0, gaps=(2.0,), extensions=(2.0,))


def test_curves_without_snapshots_say_so_instead_of_empty_axes(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from engine.train.plots import plot_curves

    saved: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.append(fig))
    rows = [{"strength": s, "chroma_correlation": 1 - s, "onset_correlation": 1 - s / 2} for s in (0.1, 0.5)]
    levels = {"levels": [50, 950], "model": {"loss": [0.5, 0.2], "floor": [0.0, 0.0]}}
    plot_curves({"style_transfer": {"model": rows}, "training_curve": [], "noise_levels": levels}, tmp_path / "c.png")
    middle = saved[0].axes[1]
    assert not middle.axison and "no snapshots given" in middle.texts[0].get_text()
