"""Properties of the five tasks, on a tiny random model (they must hold for any weights)."""

import numpy as np
import pytest
from signals import sine_mix

from engine.clip import Clip
from engine.demo import chord_progression
from engine.errors import BadAudio, BadParameter, JobCancelled, TooLarge, UnknownSampler, UnknownTask
from engine.metrics import seam_discontinuity
from engine.settings import RenderSettings

FAST = RenderSettings(steps=4, griffin_lim_iters=4, guide=1.0)  # inpaint/outpaint: the model alone


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("rate", [44_100, 48_000, 22_050])
def test_style_transfer_keeps_length_channels_and_rate(pipeline, channels, rate):
    audio = sine_mix(1.2345, rate, channels)
    render = pipeline.style_transfer(audio, rate, 0.5, seed=1, settings=FAST)
    assert render.audio.shape == audio.shape and render.sample_rate == rate
    assert render.audio.dtype == np.float32 and np.isfinite(render.audio).all()
    assert np.abs(render.audio).max() <= 1.0  # never above full scale, whatever the model does


def test_a_model_gone_wild_still_renders_below_full_scale(chord):
    from signals import tiny_model

    from engine.pipeline import Pipeline

    loud = tiny_model()
    loud.spectral.scaler.max.fill_(40.0)  # scaled mels decode to absurd levels
    render = Pipeline(loud).style_transfer(chord, 44_100, 0.8, seed=0, settings=FAST)
    assert 0.01 < np.abs(render.audio).max() <= max(np.abs(chord).max(), 10 ** (-1 / 20))  # at the source's level


def test_same_seed_same_audio_different_seed_different(pipeline, chord):
    run = lambda seed: pipeline.style_transfer(chord, 44_100, 0.6, seed=seed, settings=FAST).audio
    assert np.array_equal(run(7), run(7))
    assert not np.allclose(run(7), run(8))


def test_generate_lengths_variations_and_their_seeds(pipeline):
    renders = pipeline.generate(1.5, channels=2, sample_rate=48_000, n_variations=3, seed=10, settings=FAST)
    assert [r.audio.shape for r in renders] == [(2, 72_000)] * 3
    assert [r.seed for r in renders] == [10, 11, 12]
    assert not np.allclose(renders[0].audio, renders[1].audio)
    alone = pipeline.generate(1.5, channels=2, sample_rate=48_000, seed=11, settings=FAST)[0]
    assert np.array_equal(alone.audio, renders[1].audio)  # any variation can be re-rendered alone


def test_generate_accepts_one_full_model_context(pipeline):
    longest = pipeline.max_seconds
    assert longest == pytest.approx(190.2, abs=0.1)
    render = pipeline.generate(longest, channels=2, seed=0, settings=RenderSettings(steps=1, griffin_lim_iters=1))[0]
    assert render.audio.shape == (2, round(longest * 44_100))
    with pytest.raises(BadParameter, match="to 190.2 seconds"):
        pipeline.generate(longest + 1, settings=FAST)
    for tiny in (0.00001, 0.0):  # too short to make a single STFT frame: a bad parameter, not a crash
        with pytest.raises(BadParameter, match="from 0.01"):
            pipeline.generate(tiny, settings=FAST)


def test_strength_zero_returns_the_input_untouched(pipeline, chord):
    render = pipeline.style_transfer(chord, 44_100, 0.0, seed=1)
    assert np.array_equal(render.audio, chord)


def test_interpolate_takes_the_first_clips_length_and_channels(pipeline, chord):
    short_mono = sine_mix(1.0, 48_000, 1)
    render = pipeline.interpolate(chord, Clip(short_mono, 48_000), 44_100, 0.5, 0.5, seed=2, settings=FAST)
    assert render.audio.shape == chord.shape
    towards_a = pipeline.interpolate(chord, Clip(short_mono, 48_000), 44_100, 0.0, 0.5, seed=2, settings=FAST)
    assert not np.allclose(render.audio, towards_a.audio)
    with pytest.raises(BadAudio, match="channels"):
        pipeline.interpolate(chord, sine_mix(1.0, 44_100, 3), 44_100, 0.5, settings=FAST)


@pytest.mark.parametrize("mode, guide", [("replace", 1.0), ("repaint", 1.0), ("replace", 0.5), ("replace", 0.0)])
@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_inpaint_leaves_every_sample_outside_the_regions_bit_identical(pipeline, mode, guide, rate):
    audio = sine_mix(4.0, rate)
    regions = [(0.5, 1.0), (2.2, 2.6), (0.9, 1.1)]  # overlapping regions merge
    settings = RenderSettings(steps=4, griffin_lim_iters=4, jump_length=2, resample=2, context_seconds=1.0, guide=guide)
    out = pipeline.inpaint(audio, rate, regions, mode=mode, seed=3, settings=settings).audio
    assert out.shape == audio.shape
    inside = np.zeros(audio.shape[-1], dtype=bool)
    for start, end in [(0.5, 1.1), (2.2, 2.6)]:
        inside[round(start * rate):round(end * rate)] = True
    assert np.array_equal(out[:, ~inside], audio[:, ~inside])
    assert not np.allclose(out[:, inside], audio[:, inside])


def test_inpaint_seams_do_not_click(pipeline, chord):
    seams = [round(1.3 * 44_100), round(2.2 * 44_100)]
    worst = lambda fade: max(seam_discontinuity(pipeline.inpaint(
        chord, 44_100, [(1.3, 2.2)], seed=3, settings=RenderSettings(crossfade=fade)).audio, s) for s in seams)
    hard, smooth = worst(0.0), worst(0.05)
    assert smooth < hard
    assert smooth < 6.0  # a chord onset in this clip measures about 4


@pytest.mark.parametrize("direction", ["right", "left"])
@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_outpaint_extends_and_keeps_the_original(pipeline, direction, rate):
    audio = sine_mix(2.0, rate)
    fade = round(0.05 * rate)
    out = pipeline.outpaint(audio, rate, 1.5, direction=direction, seed=4, settings=FAST).audio
    grow = round(1.5 * rate)
    assert out.shape == (2, audio.shape[-1] + grow)
    if direction == "right":
        assert np.array_equal(out[:, :-grow - fade], audio[:, :-fade])
        new = out[:, -grow:]
    else:
        assert np.array_equal(out[:, grow + fade:], audio[:, fade:])
        new = out[:, :grow]
    assert np.abs(new).max() > 1e-4  # something was generated


def test_outpaint_longer_than_one_model_context_goes_window_by_window(pipeline):
    from engine.diffusion.schedule import DiffusionConfig
    from engine.model import MsaniiModel
    from engine.pipeline import Pipeline

    small = MsaniiModel(pipeline.model.config.__class__(
        unet=pipeline.model.config.unet, magnitude=pipeline.model.config.magnitude,
        diffusion=DiffusionConfig(window_frames=64)))
    small.load_state_dict(pipeline.model.state_dict())
    evaluations, fractions = [], []
    small.unet.register_forward_hook(lambda module, args, out: evaluations.append(args[0].shape[-1]))
    clip = sine_mix(1.0, 44_100)
    render = Pipeline(small).outpaint(clip, 44_100, 4.0, seed=1, settings=FAST,
                                      progress=lambda f, stage: fractions.append(f))
    assert render.audio.shape == (2, 44_100 * 5)
    assert np.array_equal(render.audio[:, :44_100 - 2205], clip[:, :-2205])
    assert max(evaluations) <= 64  # never more than one model context at a time
    assert len(evaluations) >= 4 * 5  # 4 steps per window, 4 s in windows of < 1 s
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # progress only moves forward


def test_progress_reaches_one_and_cancel_stops_between_steps(pipeline, chord):
    fractions = []
    pipeline.style_transfer(chord, 44_100, 1.0, seed=0, settings=FAST, progress=lambda f, s: fractions.append(f))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    fractions.clear()
    pipeline.generate(0.5, n_variations=3, seed=0, settings=FAST, progress=lambda f, s: fractions.append(f))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 3 * (4 + 2)
    steps = []
    with pytest.raises(JobCancelled):
        pipeline.style_transfer(chord, 44_100, 1.0, seed=0, settings=RenderSettings(steps=50),
                                progress=lambda f, s: steps.append(f), cancel=lambda: len(steps) >= 3)
    assert len(steps) == 3


BAD_AUDIO = {
    "empty": np.zeros((2, 0), np.float32),
    "silent": np.zeros((2, 44_100), np.float32),
    "nan": np.where(np.arange(44_100) == 5, np.nan, 0.1).astype(np.float32)[None],
    "inf": np.where(np.arange(44_100) == 5, np.inf, 0.1).astype(np.float32)[None],
    "too short": np.full((1, 100), 0.1, np.float32),
    "transposed": np.full((44_100, 2), 0.1, np.float32),
    "3-D": np.full((1, 2, 44_100), 0.1, np.float32),
}


@pytest.mark.parametrize("name", BAD_AUDIO)
def test_bad_audio_gets_a_clear_error(pipeline, name):
    with pytest.raises(BadAudio):
        pipeline.style_transfer(BAD_AUDIO[name], 44_100, 0.5)
    with pytest.raises(BadAudio):
        pipeline.inpaint(BAD_AUDIO[name], 44_100, [(0.0, 0.1)])


@pytest.mark.parametrize("call", [
    lambda p, a: p.generate(0),
    lambda p, a: p.generate(-3),
    lambda p, a: p.generate(float("nan")),
    lambda p, a: p.generate(10_000),
    lambda p, a: p.generate(1, channels=0),
    lambda p, a: p.generate(1, n_variations=100),
    lambda p, a: p.style_transfer(a, 44_100, 1.5),
    lambda p, a: p.style_transfer(a, 44_100, -0.1),
    lambda p, a: p.style_transfer(a, 0, 0.5),
    lambda p, a: p.interpolate(a, a, 44_100, ratio=2.0),
    lambda p, a: p.interpolate(a, a, 44_100, ratio=0.5, strength=0.0),
    lambda p, a: p.inpaint(a, 44_100, []),
    lambda p, a: p.inpaint(a, 44_100, [(1.0, 0.5)]),
    lambda p, a: p.inpaint(a, 44_100, [(1.0, 1.0)]),
    lambda p, a: p.inpaint(a, 44_100, [(-1.0, 0.5)]),
    lambda p, a: p.inpaint(a, 44_100, [(2.5, 9.0)]),
    lambda p, a: p.inpaint(a, 44_100, [("a", "b")]),
    lambda p, a: p.inpaint(a, 44_100, [(0.1, 0.2)], mode="magic"),
    lambda p, a: p.outpaint(a, 44_100, 0),
    lambda p, a: p.outpaint(a, 44_100, 1e6),
    lambda p, a: p.outpaint(a, 44_100, 1.0, direction="up"),
    lambda p, a: p.style_transfer(a, 44_100, 0.5, settings=RenderSettings(steps=0)),
])
def test_bad_parameters_get_a_clear_error(pipeline, chord, call):
    with pytest.raises(BadParameter):
        call(pipeline, chord)


@pytest.mark.parametrize("call, says", [
    (lambda p, a: p.generate(30.0, channels=16, sample_rate=768_000), "1406 MiB"),  # a 150-byte request
    (lambda p, a: p.generate(10.0, n_variations=16, channels=16), "16 x 10.0 s of 16-channel audio"),
    (lambda p, a: p.outpaint(np.zeros((16, 76_800), np.float32) + 0.1, 768_000, 60.0), "60.1 s of 16-channel"),
    (lambda p, a: p.inpaint(a, 44_100, [(k / 100, k / 100 + 0.005) for k in range(65)]), "65 regions"),
])
def test_results_and_regions_over_the_limits_are_refused_before_any_work(pipeline, chord, call, says, monkeypatch):
    monkeypatch.setattr(type(pipeline), "diffuser", lambda *a: pytest.fail("no sampling for a refused request"))
    with pytest.raises(TooLarge, match=says) as refused:
        call(pipeline, chord)
    assert refused.value.code == "too_large"


@pytest.mark.parametrize("call, says", [
    (lambda p, a: p.generate(120.0, settings=RenderSettings(steps=1000)), "1000 times over"),  # a 30-byte request
    (lambda p, a: p.generate(60.0, channels=16, settings=RenderSettings(steps=200)), "of 16 audio channel"),
    (lambda p, a: p.inpaint(a, 44_100, [(50.0, 51.0)], mode="repaint", settings=RenderSettings(
        guide=1.0, steps=200, jump_length=1, resample=20, context_seconds=120)), "times the most one job may ask"),
])
def test_work_over_the_limit_is_refused_before_the_model_runs(pipeline, call, says, monkeypatch):
    long = np.tile(chord_progression(3.0), 40)  # 120 s
    monkeypatch.setattr(type(pipeline.model.unet), "forward", lambda *a, **k: pytest.fail("the model ran"))
    with pytest.raises(TooLarge, match=says) as refused:
        call(pipeline, long)
    assert refused.value.code == "too_large"


@pytest.mark.parametrize("task", ["style", "vary", "interpolate"])
def test_whole_clip_edits_come_back_at_the_sources_level_and_never_hotter(pipeline, task):
    from engine.loudness import loudness, true_peak

    source = sine_mix(3.0, 48_000)
    source *= 0.8 / np.abs(source).max()  # peaks at 0.80, below -1 dBTP
    quiet = source * 0.1
    out = {"style": lambda: pipeline.style_transfer(source, 48_000, 0.8, settings=FAST),
           "vary": lambda: pipeline.vary(source, 48_000, 0.8, settings=FAST),
           "interpolate": lambda: pipeline.interpolate(source, source, 48_000, ratio=0.5, settings=FAST)}[task]().audio
    ceiling = 10 ** (-1 / 20)  # the source's 0.8, or -1 dBTP: the higher

    def at_level(audio, target):  # as loud as the target, unless that would pass the ceiling: then at it
        matched = abs(loudness(audio, 48_000) - target) <= 1.0
        limited = loudness(audio, 48_000) < target and true_peak(audio, 48_000) == pytest.approx(ceiling, abs=1e-3)
        return (matched or limited) and true_peak(audio, 48_000) <= ceiling + 1e-3

    assert at_level(out, loudness(source, 48_000))
    if task == "interpolate":  # between two levels, by the ratio in dB
        blend = pipeline.interpolate(source, quiet, 48_000, ratio=0.5, settings=FAST).audio
        assert at_level(blend, loudness(source, 48_000) - 10.0)


def test_whole_clip_tasks_refuse_more_than_one_model_context(pipeline):
    long = np.full((1, round((pipeline.max_seconds + 1) * 8_000)), 0.1, np.float32)
    with pytest.raises(BadAudio, match="shorter part"):
        pipeline.style_transfer(long, 8_000, 0.5)


def test_run_takes_settings_flat_as_the_service_will_send_them(pipeline, chord):
    (flat,) = pipeline.run("style_transfer", audio=chord, sample_rate=44_100, strength=0.5, seed=1,
                           steps=4, griffin_lim_iters=4)
    nested = pipeline.style_transfer(chord, 44_100, 0.5, seed=1, settings=FAST)
    assert np.array_equal(flat.audio, nested.audio)
    with pytest.raises(BadParameter, match="steps"):
        pipeline.run("style_transfer", audio=chord, sample_rate=44_100, steps=-1)


def test_unknown_task_sampler_and_parameter_are_named(pipeline, chord):
    with pytest.raises(UnknownTask, match="paint_it_black"):
        pipeline.run("paint_it_black")
    with pytest.raises(UnknownSampler, match="euler"):
        RenderSettings(sampler="euler")
    with pytest.raises(BadParameter, match="colour"):
        pipeline.run("style_transfer", audio=chord, sample_rate=44_100, colour="blue")
    with pytest.raises(BadParameter, match="^outpaint needs audio$"):
        pipeline.run("outpaint", sample_rate=44_100, seconds=1.0)
    with pytest.raises(BadParameter, match="in seconds or in bars"):
        pipeline.run("outpaint", audio=chord, sample_rate=44_100)


def test_a_bug_inside_a_task_is_not_reported_as_bad_input(pipeline, chord, monkeypatch):
    import engine.tasks.style_transfer

    def broken(pipeline, job, audio, strength):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(engine.tasks.style_transfer, "run", broken)
    with pytest.raises(TypeError):
        pipeline.run("style_transfer", audio=chord, sample_rate=44_100)
