"""music21's bundled corpus as a source of MIDI: which collections, and turning a piece into a
MIDI file plus the facts a caption needs. Everything here works offline."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collection:
    name: str  # music21 corpus composer/collection name
    form: str  # caption word for what it holds
    max_pieces: int  # at most this many pieces (files, or tunes of a multi-tune file)
    tunes_per_file: int = 1  # abc collections hold many tunes per file


COLLECTIONS = (
    Collection("bach", "chorale", 160),
    Collection("palestrina", "motet", 50),
    Collection("monteverdi", "madrigal", 30),
    Collection("trecento", "medieval song", 25),
    Collection("josquin", "motet", 8),
    Collection("essenFolksong", "folk song", 40, tunes_per_file=4),
    Collection("ryansMammoth", "folk tune", 30, tunes_per_file=2),
    Collection("haydn", "string quartet movement", 6),
    Collection("mozart", "string quartet movement", 6),
    Collection("beethoven", "string quartet movement", 6),
)


@dataclass(frozen=True)
class Piece:
    collection: Collection
    path: Path
    number: int | None  # tune index inside a multi-tune file

    @property
    def id(self) -> str:
        suffix = f"#{self.number}" if self.number is not None else ""
        return f"{self.collection.name}/{self.path.stem}{suffix}"


@dataclass(frozen=True)
class ScoreFacts:
    parts: int
    key: str  # "G major"


class ConversionError(Exception):
    """A piece that music21 cannot turn into usable MIDI."""


def list_pieces(collections: tuple[Collection, ...] = COLLECTIONS, scale: float = 1.0,
                seed: int = 0) -> list[Piece]:
    """A reproducible selection; `scale` multiplies every collection's piece budget."""
    from music21 import corpus

    rng = random.Random(seed)
    pieces = []
    for collection in collections:
        budget = max(1, round(collection.max_pieces * scale))
        paths = sorted(corpus.getComposer(collection.name))
        rng.shuffle(paths)
        chosen: list[Piece] = []
        for path in paths:
            numbers = [None] if collection.tunes_per_file == 1 else range(collection.tunes_per_file)
            chosen.extend(Piece(collection, Path(path), n) for n in numbers)
            if len(chosen) >= budget:
                break
        pieces.extend(chosen[:budget])
    return pieces


def write_midi(piece: Piece, midi_path: Path) -> ScoreFacts:
    """Parse with music21 and write MIDI; raises ConversionError with the reason."""
    from music21 import corpus, stream

    try:
        parsed = corpus.parse(str(piece.path))
        if isinstance(parsed, stream.Opus):
            scores = list(parsed.scores)
            number = piece.number or 0
            if number >= len(scores):
                raise ConversionError(f"{piece.id}: no tune number {number} in this collection file")
            parsed = scores[number]
        parts = len(parsed.parts) or 1
        if not parsed.flatten().notes:
            raise ConversionError(f"{piece.id}: no notes")
        try:
            key = parsed.analyze("key").name
        except Exception:  # atonal or too short to tell
            key = ""
        parsed.write("midi", fp=str(midi_path))
    except ConversionError:
        raise
    except Exception as exc:  # music21 raises many types for odd files
        raise ConversionError(f"{piece.id}: {type(exc).__name__}: {exc}") from None
    return ScoreFacts(parts=parts, key=key)
