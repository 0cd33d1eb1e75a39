"""Reading source audio and writing renders. Writes go to a temporary name in the same folder
and are renamed into place, so a DAW never sees a half-written file, and an existing file is
never overwritten."""

from __future__ import annotations

import functools
import math
import os
import shutil
import stat
import struct
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from bridge.errors import BridgeError


class AudioFileError(BridgeError):
    """A file cannot be read as audio, or cannot be written where asked."""

    code = "bad_file"

    def __init__(self, message: str) -> None:
        super().__init__("bad_file", message)


def check_regular_file(path: Path) -> None:
    """Refuse, without opening it, anything but a regular file: opening a FIFO blocks until
    someone writes to it, a device may never end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioFileError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # a path too long, a NUL byte, no permission
        raise AudioFileError(f"{path}: cannot be read ({exc})") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device")
        raise AudioFileError(f"{path}: is {kind}, not an audio file")


def check_slice(path: Path, offset: float, length: float | None) -> None:
    """A regular file, and a slice of it in finite seconds."""
    check_regular_file(path)
    if not math.isfinite(offset) or offset < 0 or (length is not None and not (math.isfinite(length) and length > 0)):
        raise AudioFileError(f"{path}: offset must be a number of seconds >= 0 and length one > 0, "
                             f"not {offset!r} and {length!r}")


def read_audio(path: str | os.PathLike, offset: float = 0.0,
               length: float | None = None) -> tuple[np.ndarray, int]:
    """Read `[channels, samples]` float32 and the sample rate; `offset`/`length` in seconds
    select a slice (as a DAW item plays a slice of its source)."""
    path = Path(path)
    check_slice(path, offset, length)
    try:
        with sf.SoundFile(str(path)) as f:
            rate, total = f.samplerate, f.frames
            start = round(offset * rate)
            if start >= total:
                raise AudioFileError(f"{path}: offset {offset:g} s is past the end ({total / rate:.3f} s)")
            if length is not None and round(length * rate) < 1:
                raise AudioFileError(f"{path}: length {length:g} s is shorter than one sample at {rate} Hz")
            f.seek(start)
            data = f.read(-1 if length is None else round(length * rate), dtype="float32", always_2d=True)
    except AudioFileError:
        raise
    except Exception as exc:  # libsndfile's errors for unknown, corrupt or truncated files
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    return planar(data), rate


def slice_shape(path: str | os.PathLike, offset: float = 0.0, length: float | None = None) -> tuple[int, int, int]:
    """(channels, frames, rate) of what `read_audio` would return, from the header alone."""
    check_slice(Path(path), offset, length)
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    left = max(0, info.frames - round(offset * info.samplerate))
    frames = left if length is None else min(left, round(length * info.samplerate))
    return info.channels, frames, info.samplerate


def planar(frames: np.ndarray) -> np.ndarray:
    """`[samples, channels]` -> `[channels, samples]`, one channel at a time (several times
    faster than a transposed copy)."""
    out = np.empty(frames.shape[::-1], np.float32)
    for c in range(frames.shape[1]):
        out[c] = frames[:, c]
    return out


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace a small text file (progress, result, mapping) so that a reader never sees half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def already_exists(path: str | os.PathLike) -> AudioFileError:
    return AudioFileError(f"{path}: already exists; daw-diffusion never overwrites files")


def refuse_existing(path: str | os.PathLike) -> None:
    """Raise before any work is done if `path` is taken."""
    if Path(path).exists():
        raise already_exists(path)


def write_float_wav(f: BinaryIO, audio: np.ndarray, sample_rate: int) -> None:
    """32-bit float WAV (format 3, with a `fact` chunk) straight from `[channels, samples]`:
    one interleaving copy, no per-block conversion, several times faster than a generic writer."""
    channels, frames = audio.shape
    data = np.empty((frames, channels), "<f4")
    for c in range(channels):  # interleave one channel at a time: several times faster than audio.T
        data[:, c] = audio[c]
    size = data.nbytes
    if 4 + 26 + 12 + 8 + size > 2**32 - 1:
        raise AudioFileError(f"{frames / sample_rate:.0f} s of {channels} channels is too large for a WAV file")
    f.write(b"RIFF" + struct.pack("<I", 4 + 26 + 12 + 8 + size) + b"WAVE")
    f.write(b"fmt " + struct.pack("<IHHIIHHH", 18, 3, channels, sample_rate, sample_rate * channels * 4,
                                  channels * 4, 32, 0))
    f.write(b"fact" + struct.pack("<II", 4, frames))
    f.write(b"data" + struct.pack("<I", size))
    f.write(data.data)


@functools.cache
def process_umask() -> int:
    """The umask this process was started with (read once: setting it is process-wide)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


MIN_FREE_BYTES = 16 * 2**20  # kept free on top of what a render will write


def check_writable(folder: str | os.PathLike, needed: int = 0) -> None:
    """Before any work: `folder` can be made, written, and holds `needed` bytes more (so a
    finished render is never thrown away for want of a folder or of space)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".daw-diffusion-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise AudioFileError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    if free < needed + MIN_FREE_BYTES:
        raise AudioFileError(f"{folder} has {free / 2**20:.0f} MiB free; this render needs about "
                             f"{(needed + MIN_FREE_BYTES) / 2**20:.0f} MiB: free some space or choose another folder")


# what a render's file name may end in: the format written, and the sample formats it can hold
FORMATS = {".wav": ("WAV", ("FLOAT", "PCM_24", "PCM_16")), ".aif": ("AIFF", ("FLOAT", "PCM_24", "PCM_16")),
           ".aiff": ("AIFF", ("FLOAT", "PCM_24", "PCM_16")), ".flac": ("FLAC", ("PCM_24", "PCM_16")),
           ".ogg": ("OGG", ("VORBIS",))}
SUBTYPES = ("FLOAT", "PCM_24", "PCM_16")  # what --subtype chooses (32-bit float, 24- or 16-bit PCM)


def output_format(path: str | os.PathLike, subtype: str | None = None, fallback: str | None = None) -> tuple[str, str]:
    """(format, subtype) that `path` is written in: the format its extension names, in the
    `subtype` asked for, else in `fallback` (the source's) when the format holds it, else in the
    format's best (float, then 24-bit). A name or a subtype it cannot honour is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise AudioFileError(f"{path}: daw-diffusion writes {', '.join(FORMATS)} files; "
                             f"not {suffix or 'a name without an extension'}")
    kind, holds = FORMATS[suffix]
    if subtype is None:
        return kind, fallback if fallback in holds else holds[0]
    if subtype not in SUBTYPES:
        raise AudioFileError(f"sample format {subtype!r} is not one daw-diffusion writes: {', '.join(SUBTYPES)}")
    if subtype not in holds:
        raise AudioFileError(f"{Path(path).name}: {kind} files hold {' or '.join(holds)} samples, not {subtype}")
    return kind, subtype


def source_subtype(path: str | os.PathLike) -> str | None:
    """The sample format a source file was in, as `--subtype` names it (None: no such choice)."""
    try:
        subtype = sf.info(str(path)).subtype
    except Exception:
        return None
    return {"PCM_16": "PCM_16", "PCM_24": "PCM_24", "FLOAT": "FLOAT", "DOUBLE": "FLOAT", "PCM_32": "FLOAT"}.get(subtype)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int,
                subtype: str | None = None, fallback: str | None = None) -> Path:
    """Write `[channels, samples]` to a new file at `path`, in the format its extension names
    (`output_format`); refuses to replace an existing one."""
    path = Path(path)
    kind, subtype = output_format(path, subtype, fallback)
    refuse_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~process_umask())  # mkstemp's 0600 would hide it from a DAW run by another user
        with os.fdopen(fd, "wb") as f:
            if (kind, subtype) == ("WAV", "FLOAT"):
                write_float_wav(f, audio, sample_rate)
            else:
                sf.write(f, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format=kind)
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
