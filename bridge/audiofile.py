"""Reading source audio and writing renders. Writes go to a temporary name in the same folder
and are renamed into place, so a DAW never sees a half-written file, and an existing file is
never overwritten."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


class AudioFileError(Exception):
    """A file cannot be read as audio, or cannot be written where asked."""

    code = "bad_file"


def read_audio(path: str | os.PathLike, offset: float = 0.0,
               length: float | None = None) -> tuple[np.ndarray, int]:
    """Read `[channels, samples]` float32 and the sample rate; `offset`/`length` in seconds
    select a slice (as a DAW item plays a slice of its source)."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's error for unknown/corrupt formats
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    rate = info.samplerate
    if offset < 0 or (length is not None and length <= 0):
        raise AudioFileError(f"{path}: offset must be >= 0 and length > 0 seconds")
    start = round(offset * rate)
    if start >= info.frames:
        raise AudioFileError(f"{path}: offset {offset:g} s is past the end ({info.frames / rate:.3f} s)")
    frames = -1 if length is None else round(length * rate)
    try:
        data, rate = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioFileError(f"{path}: cannot decode audio ({exc})") from None
    return np.ascontiguousarray(data.T), rate


def already_exists(path: str | os.PathLike) -> AudioFileError:
    return AudioFileError(f"{path}: already exists; daw-diffusion never overwrites files")


def refuse_existing(path: str | os.PathLike) -> None:
    """Raise before any work is done if `path` is taken."""
    if Path(path).exists():
        raise already_exists(path)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int,
                subtype: str = "FLOAT") -> Path:
    """Write `[channels, samples]` to a new file at `path`; refuses to replace an existing one."""
    path = Path(path)
    refuse_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format="WAV")
        try:
            os.link(tmp, path)  # atomic, and fails rather than replace a file that appeared meanwhile
        except FileExistsError:
            raise already_exists(path) from None
        except OSError:  # file systems without hard links (FAT, some network shares)
            if path.exists():
                raise already_exists(path) from None
            os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
