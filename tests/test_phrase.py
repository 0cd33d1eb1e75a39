"""Fills that keep the harmony: the clip's phrase (where its chords repeat) is found, a gap is
copied from the same place in another repetition (each side of a phrase's end from its own),
and a FluidSynth progression's inpainted bars carry the chord they had."""

import numpy as np
import pytest
import torch
from signals import rendered_groove

from engine.metrics import heard_chord
from engine.phrase import phrase_period, phrase_pieces
from engine.train.fluidsynth import CHORDS

RATE = 44_100


def progression_chroma(bars: int, frames_per_bar: int, noise: float = 0.05) -> torch.Tensor:
    """`[12, bars * frames_per_bar]` chroma of a four-chord progression, one chord a bar."""
    rng = np.random.default_rng(0)
    rows = []
    for bar in range(bars):
        frame = np.zeros(12)
        frame[[n % 12 for n in CHORDS[bar % 4]]] = 1
        rows += [frame + noise * rng.random(12) for _ in range(frames_per_bar)]
    return torch.tensor(np.array(rows).T, dtype=torch.float32)


def test_the_phrase_of_a_chord_progression_is_its_four_bars_to_a_fraction_of_a_frame():
    pitch = progression_chroma(10, 50)
    known = torch.ones(500, dtype=torch.bool)
    known[230:290] = False  # a gap is never looked at
    assert phrase_period(pitch, known, frame_rate=25.0) == pytest.approx(200, abs=0.5)


def test_no_phrase_where_the_harmony_does_not_repeat():
    rng = np.random.default_rng(1)
    known = torch.ones(500, dtype=torch.bool)
    assert phrase_period(torch.tensor(rng.random((12, 500)), dtype=torch.float32), known, 25.0) is None  # noise
    one_chord = progression_chroma(10, 50)[:, :50].repeat(1, 10)
    assert phrase_period(one_chord, known, 25.0) is None  # the same chord throughout: nothing to tell bars by


def test_a_repeat_the_clip_plays_barely_more_than_once_is_no_phrase():
    """The clip (first to last known frame) must play the phrase 1.45 times: an 8 s lag in the
    10 s before an extension, or a long track loop heard 1.2 times, matched by chance on held-out
    music (docs/benchmarks.md, bench_fills)."""
    pitch = progression_chroma(10, 50)  # a phrase of 200 frames
    known = torch.ones(500, dtype=torch.bool)
    assert phrase_period(pitch[:, :280], known[:280], 25.0) is None  # 1.4 times
    assert phrase_period(pitch[:, :300], known[:300], 25.0) == pytest.approx(200, abs=2)  # 1.5 times
    known[280:] = False  # what an extension will make after the clip is not played
    assert phrase_period(pitch, known, 25.0) is None
    known[280:] = True
    known[100:150] = False  # a gap inside the clip is
    assert phrase_period(pitch[:, :300], known[:300], 25.0) == pytest.approx(200, abs=2)


def test_a_gap_across_the_phrases_end_takes_each_side_from_its_own_repetition():
    hop, period, samples = 100.0, 4000.0, 10_000  # 2.5 phrases
    known = torch.ones(101, dtype=torch.bool)
    known[35:46] = False  # samples 3600-4400: the end of the first phrase and the start of the second
    pieces = phrase_pieces(3600, 4400, period, known, hop, samples)
    assert pieces is not None and pieces[0][0] == 3600 and pieces[-1][1] == 4400
    # the first part from the next phrase, the rest from the one before (nudged by at most a frame)
    assert pieces[0][2] == -4000 and all(abs(abs(shift) - 4000) <= hop for _, _, shift in pieces)
    assert pieces[-1][2] > 0
    for start, end, shift in pieces:  # every piece reads known audio inside the clip
        assert 0 <= start - shift and end - shift <= samples
        assert known[int((start - shift) / hop): int((end - shift) / hop)].all()
    assert phrase_pieces(1000, 2000, period, known, hop, 3000) is None  # under a phrase long: no piece
    # a clip that ends 500 samples into the second phrase: only that phrase's start is played before
    (_, cut, nothing), (_, _, shift) = phrase_pieces(3600, 4400, period, known[:46], hop, 4500)
    assert nothing is None and abs(cut - 4000) <= hop and abs(shift - 4000) <= hop


def test_a_part_of_a_gap_played_nowhere_else_is_left_to_the_caller_and_the_rest_copied():
    hop, period, samples = 100.0, 4000.0, 6000  # 1.5 phrases: 2000-4000 is played only once
    known = torch.ones(61, dtype=torch.bool)
    known[15:26] = False  # samples 1500-2500
    pieces = phrase_pieces(1500, 2500, period, known, hop, samples)
    assert pieces[0][0] == 1500 and pieces[-1][1] == 2500
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))  # contiguous
    assert abs(pieces[0][2] + 4000) <= hop and pieces[-1][2] is None  # from the second phrase, then nothing
    assert 1900 <= pieces[-1][0] <= 2100  # where the second phrase ends


@pytest.fixture(scope="module")
def progression(tmp_path_factory) -> np.ndarray:
    """Six bars of C-Am-F-G-C-Am with bass and drums at 120 BPM, rendered by FluidSynth."""
    return rendered_groove(tmp_path_factory.mktemp("progression"), 120.0, 6, RATE, program=4)


@pytest.mark.parametrize("region", [(8.0, 10.0), (8.0, 9.0), (9.0, 11.0), (10.0, 11.5)])
def test_an_inpainted_bar_of_a_progression_keeps_its_chord(pipeline, progression, region):
    """Each of these bars is played once before (C at 0-2 s, Am at 2-4 s); the surroundings'
    likeness alone copied the G or F bar into the C bar (the search's choice before phrases)."""
    a, b = (round(t * RATE) for t in region)
    known = progression.copy()
    known[:, a:b] = 0  # nothing sees what was there
    out = pipeline.inpaint(known, RATE, [region], seed=0).audio
    bar = 2 * RATE
    for start in range(a, b, bar // 2):  # each half bar: a region across a bar line has two chords
        inner = slice(start + 2205, min(b, start + bar // 2) - 2205)
        assert heard_chord(out[:, inner], RATE) == heard_chord(progression[:, inner], RATE), (region, start / RATE)


def test_the_part_of_a_gap_that_recurs_keeps_its_chord_beside_a_part_played_only_there(pipeline, progression):
    """3-5 s: the Am bar's second half (played again at 11-12 s) and the F bar's first half (played
    nowhere else): the Am half is copied from its repetition, not from the F half's best match, and
    the F half from the F bar's own second half (`engine.bars`)."""
    known = progression.copy()
    known[:, 3 * RATE:5 * RATE] = 0
    out = pipeline.inpaint(known, RATE, [(3.0, 5.0)], seed=0).audio
    for second, chord in ((3, "Am"), (4, "F")):
        inner = slice(second * RATE + 2205, (second + 1) * RATE - 2205)
        assert heard_chord(out[:, inner], RATE) == heard_chord(progression[:, inner], RATE) == chord
