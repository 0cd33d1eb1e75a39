"""The manifest of a prepared data folder (`manifest.jsonl`: one line per file, with its split,
piece, caption and licence) and its held-out split: whole pieces, chosen by a hash of their
name, so the same music is held out on every machine."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.jsonl"


def read_manifest(data_dir: Path, split: str | None = None) -> list[dict]:
    """Its entries (of `split`, "train" or "heldout", if given), each with its file's `path`."""
    path = data_dir / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; run `daw-diffusion prepare-data` first")
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for entry in entries:
        entry["path"] = str(data_dir / entry["file"])
    return [e for e in entries if split is None or e["split"] == split]


def write_manifest(out_dir: Path, entries: list[dict]) -> None:
    """Replace it at once (a temporary file, then a rename): a reader never sees half of one."""
    tmp = out_dir / f".{MANIFEST}.tmp"
    with open(tmp, "w") as f:
        for entry in entries:
            f.write(json.dumps(entry) + "\n")
    os.replace(tmp, out_dir / MANIFEST)


def held_out(piece_id: str, fraction: float) -> bool:
    """Deterministic per piece: the same pieces are held out on every machine."""
    digest = int(hashlib.sha1(piece_id.encode()).hexdigest()[:8], 16)
    return digest % 10_000 < fraction * 10_000


def kept_entries(out_dir: Path, written: set[str]) -> list[dict]:
    """What an earlier run prepared in `out_dir` and this one did not redo: it stays in the
    manifest (nothing already prepared is lost), as long as its file is still there."""
    if not (out_dir / MANIFEST).is_file():
        return []
    kept = []
    for entry in read_manifest(out_dir):
        if entry["file"] not in written and Path(entry.pop("path")).is_file():
            kept.append(entry)
    return kept


def ensure_held_out(entries: list[dict], fraction: float) -> None:
    """A small data set can hash every piece into training: then hold out the piece with the
    smallest digest, so evaluation always has music that training never saw."""
    pieces = sorted({e["piece"] for e in entries}, key=lambda p: hashlib.sha1(p.encode()).hexdigest())
    if fraction > 0 and len(pieces) > 1 and not any(e["split"] == "heldout" for e in entries):
        for entry in entries:
            if entry["piece"] == pieces[0]:
                entry["split"] = "heldout"
