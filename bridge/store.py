"""The render store: where results land as new WAV files (in the sample format asked for, else
the source's), one unique name each
(`20261121-083000_style_mytag.wav`), written to a temporary name and renamed into place."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from bridge.audiofile import AudioFileError, write_audio

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, limit: int = 48) -> str:
    """A piece of a file name that is valid on every file system a DAW runs on."""
    return UNSAFE.sub("-", text).strip("-.")[:limit] or "clip"


class RenderStore:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()

    def save(self, audio: np.ndarray, sample_rate: int, task: str, tag: str = "",
             folder: str | Path | None = None, subtype: str | None = None, fallback: str | None = None) -> Path:
        """Write `[channels, samples]` as a new file; never replaces one (a name taken, even by
        a file that appears while writing, moves on to `-2`, `-3`, ...)."""
        folder = Path(folder).expanduser() if folder else self.folder
        stem = "_".join(filter(None, [time.strftime("%Y%m%d-%H%M%S"), safe_name(task), safe_name(tag) if tag else ""]))
        for attempt in range(1, 1000):
            path = folder / (f"{stem}.wav" if attempt == 1 else f"{stem}-{attempt}.wav")
            if path.exists():
                continue
            try:
                return write_audio(path, audio, sample_rate, subtype, fallback)
            except AudioFileError:
                if not path.exists():  # a real write failure, not a name race
                    raise
            except OSError as exc:  # a folder that cannot be made or written
                raise AudioFileError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        raise AudioFileError(f"{folder}: no free name for {stem}.wav")
