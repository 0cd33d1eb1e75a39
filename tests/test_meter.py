"""Musical time: bar lengths exact to the sample, regions snapped to the grid, tempo and downbeat
heard in a real FluidSynth render, and every bad value named."""

import math

import numpy as np
import pytest
import soundfile as sf

from engine.errors import BadParameter
from engine.meter import Meter, estimate_meter, meter_from
from engine.settings import RenderSettings
from engine.train.fluidsynth import find_soundfont, render, write_groove


@pytest.fixture(scope="module")
def groove(tmp_path_factory) -> tuple[np.ndarray, int, float]:
    """12 bars at 97 BPM with drums and a one-beat pickup, rendered by FluidSynth."""
    folder = tmp_path_factory.mktemp("groove")
    downbeat = write_groove(folder / "g.mid", 97.0, bars=12, pickup=1)
    render(folder / "g.mid", folder / "g.wav", find_soundfont())
    audio, rate = sf.read(folder / "g.wav", dtype="float32", always_2d=True)
    return audio.T, rate, downbeat


@pytest.mark.parametrize("bpm, beats, rate", [(97, 4, 48_000), (120, 3, 44_100), (133.3, 7, 96_000)])
def test_bars_are_exact_to_the_sample_and_do_not_drift(bpm, beats, rate):
    meter = Meter(bpm, beats)
    for bars in (1, 4, 16, 64):
        exact = bars * beats * 60 * rate / bpm
        assert abs(meter.samples(bars, rate) - exact) <= 0.5


def test_snap_moves_edges_to_the_nearest_lines_and_never_below_one_cell():
    meter = Meter(120.0, 4, beat_offset=0.25)  # bars at 0.25, 2.25, 4.25 ...; beats every 0.5 s
    assert meter.snap(2.4, 4.1, "bar", 10.0) == (2.25, 4.25)
    assert meter.snap(2.4, 2.6, "bar", 10.0) == (2.25, 4.25)   # inside one bar: that bar
    assert meter.snap(4.0, 4.6, "bar", 10.0) == (4.25, 6.25)   # across a bar line: the bar around the middle
    assert meter.snap(0.1, 0.6, "beat", 10.0) == (0.25, 0.75)
    assert meter.snap(9.0, 10.0, "bar", 10.0) == (8.25, 10.0)  # clamped to the clip
    assert meter.snap(0.0, 0.2, "bar", 10.0) == (0.0, 0.25)


@pytest.mark.parametrize("kwargs, words", [
    ({"bpm": 0}, "bpm must be from 20 to 400"),
    ({"bpm": -90}, "bpm must be"),
    ({"bpm": 401}, "bpm must be"),
    ({"bpm": math.nan}, "bpm must be"),
    ({"bpm": 120, "beats_per_bar": 0}, "beats_per_bar"),
    ({"bpm": 120, "beats_per_bar": 2.5}, "beats_per_bar"),
    ({"bpm": 120, "beats_per_bar": True}, "beats_per_bar"),
    ({"bpm": 120, "beat_offset": -1}, "beat_offset"),
])
def test_bad_meters_are_named(kwargs, words):
    with pytest.raises(BadParameter, match=words):
        Meter(**kwargs)


def test_tempo_and_downbeat_are_heard_in_a_fluidsynth_render(groove):
    audio, rate, downbeat = groove
    heard = estimate_meter(audio, rate)
    assert heard.tempo_heard and heard.downbeat_heard
    assert heard.bpm == pytest.approx(97.0, rel=0.0005)  # to the grid: 0.05 %, a 12-bar render drifts < 1 frame
    assert 0.5 < heard.tempo_confidence <= 1 and heard.info()["tempo_confidence"] == round(heard.tempo_confidence, 2)
    bar = 4 * 60 / 97
    error = (heard.beat_offset - downbeat) % bar
    assert min(error, bar - error) < 0.1 * 60 / 97
    with_tempo = estimate_meter(audio, rate, bpm=97.0)  # a given tempo: only the downbeat is heard
    assert with_tempo.bpm == 97.0 and not with_tempo.tempo_heard


@pytest.mark.parametrize("bpm, beats, drums", [(63.5, 4, False), (123.0, 4, False), (140.5, 3, False),
                                              (172.0, 3, False), (88.0, 4, True), (157.5, 4, True)])
def test_tempo_is_heard_to_the_grid_with_or_without_drums(tmp_path, bpm, beats, drums):
    """Integer and half-integer tempi within 0.05 % (chords alone may be heard an octave off:
    half, double, a third, three times the tempo, each to the same precision)."""
    write_groove(tmp_path / "g.mid", bpm, bars=12, beats_per_bar=beats, pickup=1, drums=drums, program=0)
    render(tmp_path / "g.mid", tmp_path / "g.wav", find_soundfont())
    audio, rate = sf.read(tmp_path / "g.wav", dtype="float32", always_2d=True)
    heard = estimate_meter(audio.T, rate, beats)
    error = min(abs(heard.bpm / (bpm * k) - 1) for k in (1, 0.5, 2, 1 / 3, 3))
    assert error <= 0.0005, (heard.bpm, bpm)


def test_meter_from_fills_in_only_what_is_missing(groove):
    audio, rate, _ = groove
    assert meter_from(None, None, None) is None
    given = meter_from(97.0, 3, 0.5, audio, rate, downbeat=True)
    assert (given.bpm, given.beats_per_bar, given.beat_offset, given.tempo_heard) == (97.0, 3, 0.5, False)
    heard = meter_from(None, None, None, audio, rate)
    assert heard.tempo_heard and heard.beat_offset is None  # no downbeat asked for, none reported
    assert heard.info() == {"bpm": heard.bpm, "beats_per_bar": 4, "tempo": "heard",
                            "tempo_confidence": round(heard.tempo_confidence, 2)}


@pytest.mark.parametrize("make", [lambda n: np.zeros((2, n), np.float32),
                                  lambda n: np.full((2, n), 0.1, np.float32),
                                  lambda n: np.zeros((2, n // 20), np.float32)])
def test_no_beat_in_silence_a_constant_or_a_scrap(make):
    audio = make(44_100 * 6)
    assert estimate_meter(audio, 44_100) is None
    with pytest.raises(BadParameter, match="no steady beat"):
        meter_from(None, None, None, audio, 44_100)


# -- through the pipeline (the tiny test model; guide 0, the copy, and 1, the model alone) -------
FAST = RenderSettings(steps=3, griffin_lim_iters=3)


@pytest.mark.parametrize("guide", [0.0, 1.0])
@pytest.mark.parametrize("direction", ["right", "left"])
def test_an_extension_in_bars_is_exact_and_keeps_the_source(pipeline, groove, guide, direction):
    audio, rate, _ = groove
    clip = audio[:, :rate * 6]
    out = pipeline.outpaint(clip, rate, bars=2, bpm=97.0, direction=direction, seed=1,
                            settings=RenderSettings(steps=3, griffin_lim_iters=3, guide=guide))
    grow = out.audio.shape[1] - clip.shape[1]
    assert grow == Meter(97.0).samples(2, rate) == round(8 * 60 * rate / 97)
    fade = round(FAST.crossfade * rate)
    kept = out.audio[:, :clip.shape[1] - fade] if direction == "right" else out.audio[:, grow + fade:]
    assert np.array_equal(kept, clip[:, :clip.shape[1] - fade] if direction == "right" else clip[:, fade:])
    musical_time = {k: v for k, v in out.info.items() if k not in ("task", "params", "settings", "model")}
    assert musical_time == {"bpm": 97.0, "beats_per_bar": 4, "tempo": "given", "bars": 2}


def test_an_extension_in_bars_hears_the_tempo_when_none_is_given(pipeline, groove):
    audio, rate, _ = groove
    out = pipeline.outpaint(audio[:, :rate * 8], rate, bars=1, seed=1, settings=FAST)
    assert out.info["tempo"] == "heard" and out.info["bpm"] == pytest.approx(97.0, rel=0.02)
    assert out.audio.shape[1] - rate * 8 == Meter(out.info["bpm"]).samples(1, rate)


def test_generate_in_bars_is_exact_at_the_callers_rate(pipeline):
    (out,) = pipeline.generate(bars=3, bpm=97.0, beats_per_bar=3, sample_rate=48_000, seed=2, settings=FAST)
    assert out.audio.shape == (2, round(9 * 60 * 48_000 / 97))
    assert out.info["bars"] == 3 and out.info["beats_per_bar"] == 3


def test_snapped_inpaint_replaces_whole_bars_and_reports_them(pipeline, groove):
    audio, rate, downbeat = groove
    bar = 4 * 60 / 97
    out = pipeline.inpaint(audio, rate, [(downbeat + 2.1 * bar, downbeat + 2.9 * bar)], snap="bar", bpm=97.0,
                           beat_offset=downbeat, seed=1, settings=FAST)
    (start, end), = out.info["regions"]
    assert start == pytest.approx(downbeat + 2 * bar, abs=1e-5) and end == pytest.approx(downbeat + 3 * bar, abs=1e-5)
    a, b = round(start * rate), round(end * rate)
    assert np.array_equal(out.audio[:, :a], audio[:, :a]) and np.array_equal(out.audio[:, b:], audio[:, b:])
    assert not np.array_equal(out.audio[:, a:b], audio[:, a:b])


@pytest.mark.parametrize("task, kwargs, words", [
    ("outpaint", {"bars": 2, "seconds": 1.0}, "in seconds or in bars"),
    ("outpaint", {"bars": 0}, "bars must be a number above 0"),
    ("outpaint", {"bars": 9999, "bpm": 97.0}, "9999 bars at 97 BPM"),
    ("outpaint", {"bars": 2, "bpm": 500.0}, "bpm must be a number from 20 to 400"),
    ("outpaint", {"bars": 2, "bpm": 97.0, "beats_per_bar": 0}, "beats_per_bar"),
    ("inpaint", {"regions": [(1.0, 2.0)], "snap": "bar", "bpm": 97.0, "beat_offset": -2.0}, "beat_offset"),
    ("inpaint", {"regions": [(1.0, 2.0)], "snap": "half"}, "snap must be one of beat, bar"),
    ("generate", {"bars": 2}, "a length in bars needs a tempo"),
])
def test_bad_musical_time_is_refused_in_words(pipeline, groove, task, kwargs, words):
    audio, rate, _ = groove
    inputs = {} if task == "generate" else {"audio": audio[:, :rate * 6], "sample_rate": rate}
    with pytest.raises(BadParameter, match=words):
        pipeline.run(task, **inputs, **kwargs)


def test_a_clip_without_a_beat_asks_for_its_tempo(pipeline):
    drone = np.tile(np.sin(2 * np.pi * 110 * np.arange(44_100 * 6) / 44_100).astype(np.float32) * 0.3, (2, 1))
    with pytest.raises(BadParameter, match="give its tempo"):
        pipeline.outpaint(drone, 44_100, bars=1, settings=FAST)


# -- vary: a variation of a loop that stays a loop ---------------------------------------------
def test_a_varied_loop_keeps_its_length_and_wraps_seamlessly(pipeline, groove):
    from engine.metrics import seam_discontinuity

    audio, rate, downbeat = groove
    bar = Meter(97.0).samples(1, rate)
    start = round(downbeat * rate)
    loop = audio[:, start: start + 2 * bar]  # two bars, cut on the downbeats
    out = pipeline.vary(loop, rate, 0.5, seed=3, settings=FAST)
    assert out.audio.shape == loop.shape  # the same bars at the same tempo
    assert not np.array_equal(out.audio, loop)
    again = pipeline.vary(loop, rate, 0.5, seed=3, settings=FAST)
    assert np.array_equal(out.audio, again.audio)  # same seed, same loop
    played = np.concatenate((out.audio, out.audio), axis=1)  # as the DAW loops it
    # no click where it wraps: a hard cut reads 10 or more; the wrap carries the loop's own
    # downbeat, which the source's phase keeps sharp (the source's wrap reads 26)
    assert seam_discontinuity(played, loop.shape[1]) < 10
    step = np.abs(np.diff(out.audio, axis=1)).max(axis=1)
    assert (np.abs(out.audio[:, 0] - out.audio[:, -1]) <= step).all()  # the end runs into the start
    assert np.array_equal(pipeline.vary(loop, rate, 0.0).audio, loop)  # strength 0: the loop itself


def test_vary_refuses_what_it_cannot_loop(pipeline):
    with pytest.raises(BadParameter, match="strength"):
        pipeline.vary(np.full((2, 44_100), 0.1, np.float32), 44_100, 1.5)
    from engine.errors import BadAudio
    too_long = np.full((1, round(pipeline.max_seconds / 3 * 8_000) + 8_000), 0.1, np.float32)
    with pytest.raises(BadAudio, match="three times over"):
        pipeline.vary(too_long, 8_000, 0.3)
