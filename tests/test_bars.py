"""Chords change on bar lines: a gap's part that no repetition covers continues the chord of its
own bar (before the gap, or after it), found from lines heard where the chroma changes."""

import numpy as np
import pytest
import torch
from signals import rendered_groove

from engine.bars import Grid, chord_lines, chord_parts, chord_shift, clear_of, heard_grid
from engine.meter import Meter, estimate_meter, onset_envelopes
from engine.metrics import heard_chord

RATE = 44_100
GRID = Grid(line=1000.0, bar=4000.0, beat=1000.0)  # lines at 1000, 5000, 9000, ...


def test_a_gap_across_a_bar_line_is_cut_there_and_each_side_reads_its_own_bar():
    parts = chord_parts(3000, 7000, GRID, 20_000)
    assert parts == [(3000, 5000, (1000, 3000)), (5000, 7000, (7000, 9000))]


def test_whole_bars_have_no_chord_to_read_and_edges_near_a_line_are_on_it():
    assert chord_parts(5000, 9000, GRID, 20_000) == [(5000, 9000, None)]
    parts = chord_parts(4900, 13_100, GRID, 20_000)  # within an eighth of a bar of the lines
    assert [p[:2] for p in parts] == [(4900, 9000), (9000, 13_100)] and all(p[2] is None for p in parts)


def test_a_gap_inside_one_bar_reads_the_bar_before_it_and_a_bar_cut_by_the_clip_is_not_read():
    assert chord_parts(6000, 7000, GRID, 20_000) == [(6000, 7000, (5000, 6000))]
    assert chord_parts(5000, 7000, GRID, 7500) == [(5000, 7000, None)]  # 500 samples left: under a quarter bar


def test_a_copy_moves_a_little_to_clear_a_gap_but_never_reads_one():
    holes = [(2000, 3000)]
    assert clear_of(holes, 2950, 3950, 100, 10_000, -1000) == -1050  # 50 into the gap: moved after it
    assert clear_of(holes, 1100, 2040, 100, 10_000, 900) == 940  # 40 into it at the end: moved before it
    assert clear_of(holes, 2500, 3500, 100, 10_000, 0) is None
    assert clear_of(holes, 9500, 10_500, 100, 10_000, 0) is None  # past the audio


def test_a_part_is_copied_from_its_chord_whole_beats_away():
    hop, beat = 100.0, 1000.0
    pitch = torch.zeros(12, 100)
    pitch[0, :30] = 1  # C until sample 3000
    pitch[5, 30:] = 1  # F after
    known = torch.ones(100, dtype=torch.bool)
    known[38:53] = False  # the frames around the gap 4000-5000
    holes = [(4000, 5000)]

    def shift(heard, keep=None):
        return chord_shift(pitch, known, hop, 10_000, holes, (4000, 5000), heard, beat, keep)

    assert shift((5000, 6000)) == 1000  # F: the nearest, earlier first
    assert shift((1000, 2000)) == 2000  # C: all of it before 3000
    assert shift((5000, 6000), keep=-1500) == -1500  # the gap's best match has F too: it stays
    assert shift((1000, 2000), keep=-1500) == 2000  # ... but not C
    nothing_heard = torch.zeros(100, dtype=torch.bool)
    assert chord_shift(pitch, nothing_heard, hop, 10_000, holes, (4000, 5000), (1000, 2000), beat, -1500) == -1500


def test_a_given_downbeat_sets_the_lines_and_audio_without_a_beat_has_none():
    silence = np.zeros((2, 10 * RATE), np.float32)
    grid = heard_grid(Meter(120.0, 4, 0.5), silence, RATE, None, [])()
    assert grid == Grid(0.5 * RATE, 2.0 * RATE, 0.5 * RATE)
    assert heard_grid(None, silence, RATE, None, [])() is None
    assert heard_grid(Meter(120.0), silence, RATE, None, [])() is None  # a tempo, but no downbeat to hear


@pytest.fixture(scope="module", params=[(120.0, True, 4), (100.0, False, 0)], ids=["drums-120", "piano-100"])
def groove(request, tmp_path_factory) -> tuple[np.ndarray, float]:
    """Six bars of C-Am-F-G-C-Am rendered by FluidSynth, and its bar length in seconds: with
    drums, and on a piano alone (whose beat is heard at half the tempo: bass on beats 1 and 3)."""
    bpm, drums, program = request.param
    return rendered_groove(tmp_path_factory.mktemp("groove"), bpm, 6, RATE, drums=drums, program=program), 240 / bpm


def test_chord_lines_are_the_bar_lines_whatever_the_beat_heard(groove):
    audio, bar = groove
    a, b = round(2.5 * bar * RATE), round(3.5 * bar * RATE)
    audio = audio.copy()
    audio[:, a:b] = 0  # a silent gap's edges are not chord changes
    envelopes = onset_envelopes(audio, RATE)
    grid = chord_lines(envelopes, RATE, estimate_meter(audio, RATE, envelopes=envelopes), [(a, b)])
    assert grid.bar == pytest.approx(bar * RATE, rel=0.01)
    assert abs((grid.line / RATE + bar / 2) % bar - bar / 2) < 0.05  # within 50 ms of a bar line


def test_a_mid_bar_gap_in_bars_played_once_keeps_both_chords(pipeline, groove):
    """The F bar's second half and the G bar's first: neither is played anywhere else, so no
    repetition can fill them; each continues the chord of its own bar."""
    audio, bar = groove
    a, b = round(2.5 * bar * RATE), round(3.5 * bar * RATE)
    known = audio.copy()
    known[:, a:b] = 0
    out = pipeline.inpaint(known, RATE, [(a / RATE, b / RATE)], seed=0).audio
    margin = round(0.05 * bar * RATE)
    for lo, hi, chord in ((a, round(3 * bar * RATE), "F"), (round(3 * bar * RATE), b, "G")):
        assert heard_chord(audio[:, lo + margin:hi - margin], RATE) == chord
        assert heard_chord(out[:, lo + margin:hi - margin], RATE) == chord


def test_parts_from_different_places_crossfade_into_each_other_not_into_what_the_gap_held(pipeline, groove):
    """A take the user wants replaced (here a 15 kHz whistle over the gap) is heard only in the
    crossfades at the gap's own edges, not where two parts of the fill meet inside it."""
    audio, bar = groove
    a, b = round(2.5 * bar * RATE), round(3.5 * bar * RATE)
    take = audio.copy()
    whistle = np.sin(2 * np.pi * 15_000 * np.arange(b - a) / RATE).astype(np.float32)
    take[:, a:b] += whistle
    out = pipeline.inpaint(take, RATE, [(a / RATE, b / RATE)], seed=0).audio
    fade = round(0.05 * RATE)  # the default crossfade
    inside = slice(a + fade, b - fade)
    heard = abs(float(out[0, inside] @ whistle[fade:-fade])) / float(whistle[fade:-fade] @ whistle[fade:-fade])
    assert heard < 0.002


def test_a_clip_that_plays_its_phrase_barely_more_than_once_keeps_the_best_match(pipeline, tmp_path, monkeypatch):
    """Five bars of a four-bar progression: its 'phrase played only once' is most of the clip, as
    in a long track loop whose repeats the clip does not reach; there the surroundings' best
    match wins (on held-out music the chord rule made such fills worse: docs/engine.md)."""
    audio = rendered_groove(tmp_path, 120.0, 5, RATE)
    asked = []
    monkeypatch.setattr("engine.tasks.inpaint.chord_parts", lambda *a: asked.append(a) or chord_parts(*a))
    known = audio.copy()
    known[:, 5 * RATE:7 * RATE] = 0
    pipeline.inpaint(known, RATE, [(5.0, 7.0)], seed=0)
    assert not asked
    six = np.concatenate((audio, audio[:, 2 * RATE:4 * RATE]), axis=1)  # the same with a sixth bar: 1.5 times
    known = six.copy()
    known[:, 5 * RATE:7 * RATE] = 0
    pipeline.inpaint(known, RATE, [(5.0, 7.0)], seed=0)
    assert asked
