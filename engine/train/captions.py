"""Captions from what is known about a render: form, ensemble, tempo, key. Deterministic:
the same facts always give the same words, so a caption is a reproducible label."""

from __future__ import annotations

from dataclasses import dataclass

# General MIDI programs used for renders, by family (the words go into captions).
INSTRUMENTS = {
    "piano": 0, "electric piano": 4, "harpsichord": 6, "organ": 19, "nylon guitar": 24,
    "steel guitar": 25, "violin": 40, "viola": 41, "cello": 42, "contrabass": 43,
    "strings": 48, "choir": 52, "trumpet": 56, "trombone": 57, "french horn": 60,
    "oboe": 68, "bassoon": 70, "clarinet": 71, "flute": 73, "recorder": 74,
}
FAMILIES = {
    "piano": "piano", "electric piano": "electric piano", "harpsichord": "harpsichord",
    "organ": "organ", "nylon guitar": "guitar", "steel guitar": "guitar",
    "violin": "strings", "viola": "strings", "cello": "strings", "contrabass": "strings",
    "strings": "strings", "choir": "choir", "trumpet": "brass", "trombone": "brass",
    "french horn": "brass", "oboe": "woodwinds", "bassoon": "woodwinds", "clarinet": "woodwinds",
    "flute": "woodwinds", "recorder": "woodwinds",
}
ENSEMBLE_WORDS = {"strings": "string ensemble", "brass": "brass ensemble", "woodwinds": "woodwinds"}
COUNT_WORDS = {1: "solo", 2: "two-part", 3: "three-part", 4: "four-part", 5: "five-part", 6: "six-part"}


@dataclass(frozen=True)
class RenderFacts:
    form: str  # e.g. "chorale", "madrigal", "folk tune"
    parts: int
    instruments: tuple[str, ...]  # one per part, keys of INSTRUMENTS
    bpm: float
    key: str  # e.g. "G major"; "" when unknown


def tempo_word(bpm: float) -> str:
    if bpm < 72:
        return "slow"
    if bpm < 108:
        return "moderate tempo"
    return "fast"


def ensemble(instruments: tuple[str, ...]) -> str:
    families = sorted({FAMILIES[name] for name in instruments})
    if len(families) == 1:
        family = families[0]
        return ENSEMBLE_WORDS.get(family, family) if len(instruments) > 1 else instruments[0]
    return ", ".join(families[:-1]) + " and " + families[-1]


def caption(facts: RenderFacts) -> str:
    """e.g. "four-part chorale on string ensemble, slow, G major"."""
    count = COUNT_WORDS.get(facts.parts, f"{facts.parts}-part")
    form = facts.form if facts.parts == 1 else f"{count} {facts.form}"
    words = [f"{form} on {ensemble(facts.instruments)}", tempo_word(facts.bpm)]
    if facts.key:
        words.append(key_name(facts.key))
    return ", ".join(words)


def key_name(music21_key: str) -> str:
    """music21 spells flats with '-' ("E- major"); musicians write "Eb major"."""
    tonic, _, mode = music21_key.partition(" ")
    return f"{tonic.replace('-', 'b')} {mode}".strip()
