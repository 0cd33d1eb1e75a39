"""The clip's own material as the draft of an edit: the search finds the repeat that fits, the
copy reads only what is known, and `guide` 0 / between / 1 behave as documented."""

import numpy as np
import pytest
import torch

from engine.errors import BadParameter
from engine.guide import best_offset, copy_fill
from engine.settings import RenderSettings

HOP = 1024  # the tiny model's
BAR = 43 * HOP  # a whole number of frames, so a copy one period back is sample-exact


def four_bar_loop(cycles: int) -> np.ndarray:
    """Stereo `[2, samples]`: four different one-bar chords, the four bars repeated `cycles` times."""
    t = np.arange(BAR) / 44_100
    bars = [sum(np.sin(2 * np.pi * f * t) for f in chord) * np.exp(-4 * t) * 0.1
            for chord in ((262, 330, 392), (220, 262, 330), (175, 220, 262), (196, 247, 294))]
    mono = np.tile(np.concatenate(bars), cycles)
    return np.stack([mono, 0.8 * mono]).astype(np.float32)


def test_the_search_finds_the_period_of_a_repeating_pattern():
    torch.manual_seed(0)
    pattern = torch.randn(8, 37)
    features = pattern.repeat(1, 12)[:, :400] + 0.01 * torch.randn(8, 400)
    known = torch.ones(400, dtype=torch.bool)
    known[200:260] = False
    offset = best_offset(features, known, 200, 260, frame_rate=10.0)
    assert offset % 37 == 0 and abs(offset) >= 60  # a whole copy from elsewhere, in phase
    known[300:] = False  # an extension: only what came before can be compared and copied
    offset = best_offset(features, known, 300, 400, frame_rate=10.0)
    assert offset > 0 and offset % 37 == 0


def test_beside_an_extension_the_nearest_second_decides_the_copy():
    """Where only one side is known, the join matters most: a passage that continues the last
    second exactly wins over one that matches two seconds roughly."""
    torch.manual_seed(0)
    features, known = torch.randn(8, 300), torch.ones(300, dtype=torch.bool)
    known[200:] = False  # extend from frame 200; frame rate 10: one second is 10 frames
    features[:, 150:170] = features[:, 180:200] + 0.5 * torch.randn(8, 20)  # two seconds, roughly
    features[:, 60:70] = features[:, 190:200]  # the last second, exactly
    assert best_offset(features, known, 200, 300, frame_rate=10.0) == 130
    assert best_offset(features, known, 200, 300, frame_rate=10.0, neighbourhood=2.0) == 30  # what a gap's 2 s pick


def test_nothing_known_means_no_draft():
    assert best_offset(torch.randn(4, 50), torch.zeros(50, dtype=torch.bool), 0, 50, 10.0) is None


def test_a_copy_longer_than_its_offset_loops_and_reads_nothing_inside_the_region():
    audio = np.arange(20, dtype=np.float32)[None].copy()
    audio[:, 10:20] = np.nan  # whatever the region held must not leak into the draft
    assert copy_fill(audio, 10, 20, 3).tolist() == [[7, 8, 9, 7, 8, 9, 7, 8, 9, 7]]
    audio = np.arange(20, dtype=np.float32)[None].copy()
    audio[:, 5:15] = np.nan
    assert copy_fill(audio, 5, 15, -4).tolist() == [[17, 18, 15, 16, 17, 18, 15, 16, 17, 18]]


@pytest.mark.parametrize("offset", [1000, -1000])
def test_a_looping_copy_crosses_its_loop_points_without_a_click(offset):
    """A 1000-sample period of a 330 Hz tone is not a whole number of cycles: looped as it is,
    each loop point jumps; with a fade it ends in what leads into its start (or, copying from
    after, starts from what follows its end), so the loop is as smooth as the tone itself."""
    tone = np.sin(2 * np.pi * 330 * np.arange(12_000) / 44_100).astype(np.float32)[None]
    start, end = (5000, 9000) if offset > 0 else (2000, 6000)
    steepest = np.abs(np.diff(tone[0])).max()
    hard = copy_fill(tone, start, end, offset)
    smooth = copy_fill(tone, start, end, offset, fade=64)
    assert np.abs(np.diff(hard[0])).max() > 5 * steepest  # a click at every loop point
    assert np.abs(np.diff(smooth[0])).max() < 1.5 * steepest
    first = slice(0, 900) if offset > 0 else slice(3100, 4000)  # away from the loop points: the copy itself
    assert np.array_equal(smooth[:, first], hard[:, first])
    small = copy_fill(tone, start, end, offset, fade=4000)  # a fade is at most half the period
    assert np.abs(np.diff(small[0])).max() < 1.5 * steepest


@pytest.mark.parametrize("guide", [0.0, 0.5])
def test_a_gap_in_a_loop_is_filled_from_the_loop(pipeline, guide):
    audio = four_bar_loop(3)
    start, end = 9 * BAR + BAR // 3, 10 * BAR + BAR // 2  # across a chord change in the third cycle
    damaged = audio.copy()
    damaged[:, start:end] = 0
    settings = RenderSettings(steps=4, griffin_lim_iters=4, guide=guide)
    out = pipeline.inpaint(damaged, 44_100, [(start / 44_100, end / 44_100)], seed=0, settings=settings).audio
    assert np.array_equal(out[:, :start], audio[:, :start]) and np.array_equal(out[:, end:], audio[:, end:])
    fade = round(settings.crossfade * 44_100)
    body = slice(start + fade, end - fade)
    if guide == 0:  # the copy alone: the truth, sample for sample, between the crossfades
        assert np.array_equal(out[:, body], audio[:, body])
    else:  # refined by an untrained model: not the copy, but still drawn from it
        error = np.abs(out[:, body] - audio[:, body]).mean()
        assert 0 < error < np.abs(audio[:, body]).mean()


def test_a_gap_is_filled_from_a_repeat_further_away_than_the_models_context(pipeline):
    t = np.arange(BAR) / 44_100
    other = np.stack([np.sin(2 * np.pi * 311 * t) * np.exp(-2 * t) * 0.1] * 2).astype(np.float32)
    verse = four_bar_loop(1)
    audio = np.concatenate([other] * 2 + [verse] + [other] * 6 + [verse] + [other] * 2, axis=1)  # the verse 10 bars apart
    start, end = 13 * BAR + BAR // 3, 14 * BAR + BAR // 2
    damaged = audio.copy()
    damaged[:, start:end] = 0
    settings = RenderSettings(guide=0.0, context_seconds=4.0)
    out = pipeline.inpaint(damaged, 44_100, [(start / 44_100, end / 44_100)], seed=0, settings=settings).audio
    fade = round(settings.crossfade * 44_100)
    assert np.array_equal(out[:, start + fade: end - fade], audio[:, start + fade: end - fade])  # the first verse's bars


def test_an_extension_of_a_loop_goes_on_with_the_loop(pipeline):
    audio = four_bar_loop(2)
    settings = RenderSettings(guide=0.0)
    out = pipeline.outpaint(audio, 44_100, 2 * BAR / 44_100, seed=0, settings=settings).audio
    fade = round(settings.crossfade * 44_100)
    assert out.shape == (2, audio.shape[-1] + 2 * BAR)
    assert np.array_equal(out[:, :audio.shape[-1] - fade], audio[:, :-fade])
    assert np.array_equal(out[:, audio.shape[-1]:], four_bar_loop(3)[:, audio.shape[-1]: audio.shape[-1] + 2 * BAR])


def test_same_seed_same_guided_fill(pipeline, chord):
    settings = RenderSettings(steps=4, griffin_lim_iters=4, guide=0.4)
    run = lambda seed: pipeline.inpaint(chord, 44_100, [(1.2, 1.9)], seed=seed, settings=settings).audio
    assert np.array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", True])
def test_a_guide_outside_zero_to_one_is_refused(bad):
    with pytest.raises(BadParameter, match="guide"):
        RenderSettings(guide=bad)


def test_a_refined_extension_beyond_one_model_context_is_refused_in_plain_words(pipeline, chord):
    with pytest.raises(BadParameter, match="guided extension"):
        pipeline.outpaint(chord, 44_100, pipeline.max_seconds, settings=RenderSettings(guide=0.5))
    copied = pipeline.outpaint(chord, 44_100, pipeline.max_seconds, settings=RenderSettings(guide=0.0)).audio
    assert copied.shape[-1] == chord.shape[-1] + round(pipeline.max_seconds * 44_100)  # the copy alone needs no model


def test_the_copy_alone_reports_progress_and_can_be_cancelled(pipeline):
    from engine.errors import JobCancelled

    audio, fractions = four_bar_loop(2), []
    settings = RenderSettings(guide=0.0)
    pipeline.inpaint(audio, 44_100, [(5.0, 6.0)], settings=settings, progress=lambda f, stage: fractions.append(f))
    assert fractions and fractions[-1] == 1.0
    with pytest.raises(JobCancelled):
        pipeline.inpaint(audio, 44_100, [(5.0, 6.0)], settings=settings, cancel=lambda: True)


def test_with_nothing_known_to_copy_the_model_works_alone(pipeline, chord):
    settings = RenderSettings(steps=2, griffin_lim_iters=2, guide=0.0)
    whole = pipeline.inpaint(chord, 44_100, [(0.0, chord.shape[-1] / 44_100)], seed=1, settings=settings).audio
    assert whole.shape == chord.shape and np.abs(whole).max() > 1e-4  # rendered, not left silent
    assert not np.allclose(whole, chord)


def test_a_region_shorter_than_a_sample_at_either_end_is_no_crash(pipeline, chord):
    settings = RenderSettings(guide=0.0, steps=2, griffin_lim_iters=2)
    duration = chord.shape[-1] / 44_100
    for region in ((0.0, 1e-6), (duration - 1e-6, duration)):
        out = pipeline.inpaint(chord, 44_100, [region], seed=0, settings=settings).audio
        assert out.shape == chord.shape
