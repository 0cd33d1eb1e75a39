"""The engine's ZeroMQ protocol, shared by both ends. Torch-free: the bridge imports it.

A message is multipart: `[header, pcm_0, pcm_1, ...]`. The header is UTF-8 JSON:
`{"v": VERSION, "type": ..., "id": request id, ...fields, "audio": [descriptor, ...]}`, one
descriptor `{"name", "sample_rate", "channels", "frames", "dtype": "float32"}` per PCM frame that
follows; each PCM frame is raw little-endian float32, channels-first `[channels, frames]`. Audio
is named, never bound by position: a submit's inputs by the task table's names (`"audio"`, or
`"a"` and `"b"`), a result's renders as `render_name(k)`. Both ends see it as `{name: Clip}`.
Replies echo the request's `id`. `TYPES` below is the whole vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from engine.clip import MAX_CHANNELS, MAX_RATE, MAX_SECONDS, MIN_RATE, Clip

VERSION = 2  # 2: audio named in its descriptor (1 bound it by position)
MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 256 * 2**20  # the engine drops larger messages unread: clients check first
MAX_AUDIO_INPUTS = 8  # PCM frames a submit may carry (the task table says which names)
MAX_NAME = 64  # characters in an audio name
DTYPE = "<f4"
SOCKET_BUFFER = 4 * 2**20  # kernel socket buffers that hold a 10 s stereo clip in one go

# broker <-> engine control frames (a one-frame message, never a header: clients never see them)
CONTROL = b"\x01"  # the first byte of every control frame
READY, HEARTBEAT = CONTROL + b"READY", CONTROL + b"HEARTBEAT"

# type -> (who sends it, required fields and their JSON types, whether PCM frames may follow)
TYPES: dict[str, tuple[str, dict[str, type | tuple[type, ...]], bool]] = {
    "submit": ("client", {"task": str, "params": dict}, True),
    "cancel": ("client", {"job": str, "token": str}, False),  # the token `accepted` gave the submitter
    "fetch": ("client", {"job": str, "token": str}, False),
    "status": ("both", {}, False),
    "ping": ("client", {}, False),
    "accepted": ("engine", {"job": str, "position": int, "token": str}, False),
    "progress": ("engine", {"job": str, "fraction": (int, float), "stage": str}, False),
    "result": ("engine", {"job": str, "renders": list}, True),
    "cancelled": ("engine", {"job": str}, False),
    "error": ("engine", {"code": str, "message": str}, False),
    "pong": ("engine", {}, False),
}
FINAL = frozenset({"result", "error", "cancelled"})  # a job's last event

# error codes, with what they mean to whoever reads the reply
ERRORS = {
    "bad_message": "the message could not be understood (framing, JSON, fields, descriptors)",
    "bad_version": "the protocol version is not one this engine speaks",
    "unknown_type": "no such message type",
    "too_large": "the message, header or audio is over the engine's limits",
    "bad_audio": "the audio is empty, silent, non-finite or of an impossible shape",
    "bad_parameter": "a task parameter is missing, unknown or out of range",
    "unknown_task": "no such task",
    "busy": "the job queue is full; try again later",
    "not_found": "no such job for this token (or its result has expired)",
    "cancelled": "the job was cancelled",
    "engine_lost": "the engine running the job went away (or restarted without it) and no other could take it",
    "shutting_down": "the engine is shutting down",
    "failed": "the engine failed on this job",
}


class ProtocolError(Exception):
    """A message that breaks the protocol; `code` is one of ERRORS."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Message:
    header: dict[str, Any]
    audio: dict[str, Clip] = field(default_factory=dict)  # name -> [C, S] float32 at its rate, in frame order

    @property
    def type(self) -> str:
        return self.header["type"]

    @property
    def id(self) -> str:
        return str(self.header.get("id", ""))


def make_header(type_: str, request_id: str = "", **fields: Any) -> dict[str, Any]:
    return {"v": VERSION, "type": type_, "id": request_id, **fields}


def render_name(k: int) -> str:
    """The name of a result's `k`-th render (0-based), the audio of `renders[k]`."""
    return f"render_{k}"


def encode(header: dict[str, Any], audio: Mapping[str, Clip] | None = None) -> list:
    """Header and named clips (`{name: Clip [C, S]}`) -> frames (bytes, then buffers)."""
    descriptors, frames = [], []
    for name, clip in (audio or {}).items():
        data = np.ascontiguousarray(np.atleast_2d(clip.samples), dtype=DTYPE)
        descriptors.append({"name": name, "sample_rate": int(clip.rate), "channels": data.shape[0],
                            "frames": data.shape[1], "dtype": "float32"})
        frames.append(memoryview(data).cast("B"))  # type: ignore[arg-type]  # no copy: zmq sends from the array
    body = dict(header, audio=descriptors) if descriptors else dict(header)
    return [json.dumps(body, separators=(",", ":")).encode(), *frames]


def check_audio_size(shapes: list[tuple[int, int, int]], limit: int = MAX_MESSAGE_BYTES) -> None:
    """Refuse audio a message could not carry (`(channels, frames, rate)` per input), in the
    words the engine uses for an over-long clip: before anything is sent (or decoded)."""
    total = sum(channels * frames * 4 for channels, frames, _ in shapes)
    if total > limit - MAX_HEADER_BYTES:
        channels, frames, rate = max(shapes, key=lambda s: s[0] * s[1])
        raise ProtocolError("too_large", f"{frames / rate:.0f} s of {channels}-channel audio at {rate} Hz is "
                                         f"{total / 2**20:.0f} MiB, more than the engine takes at once "
                                         f"({limit // 2**20} MiB): select a shorter part")


def error_frames(request_id: str, code: str, message: str, **fields: Any) -> list[bytes]:
    return encode(make_header("error", request_id, code=code, message=message, **fields))


def decode(frames: list, max_seconds: float = MAX_SECONDS) -> Message:
    """Frames (bytes, or zmq Frames received with copy=False) -> Message, or ProtocolError
    saying exactly what is wrong."""
    if not frames:
        raise ProtocolError("bad_message", "empty message")
    frames = [f.buffer if hasattr(f, "buffer") else f for f in frames]
    raw = frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"header of {len(raw)} bytes; at most {MAX_HEADER_BYTES}")
    try:
        header = json.loads(bytes(raw).decode("utf-8"), parse_constant=_no_constant)
    except ProtocolError:
        raise
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("bad_message", "the header is not UTF-8 JSON") from None
    except RecursionError:  # e.g. 2000 nested '[': json.loads recurses once per level
        raise ProtocolError("bad_message", "the header is nested too deeply") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_message", "the header must be a JSON object")
    check_text(header)
    if header.get("v") != VERSION:
        raise ProtocolError("bad_version", f"protocol version {header.get('v')!r} is not spoken here; this engine "
                                           f"speaks {VERSION} (audio named in its descriptors): update the older end")
    kind = header.get("type")
    if kind not in TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {kind!r}; known: {', '.join(TYPES)}")
    if not isinstance(header.get("id", ""), (str, int)):
        raise ProtocolError("bad_message", "id must be a string")
    _, required, carries_audio = TYPES[kind]
    for name, kinds in required.items():
        value = header.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ProtocolError("bad_message", f"{kind}: field {name!r} is missing or not a {_type_name(kinds)}")
    descriptors = header.get("audio", [])
    pcm = frames[1:]
    if not isinstance(descriptors, list) or len(descriptors) != len(pcm):
        raise ProtocolError("bad_message", f"{len(pcm)} PCM frames but {len(descriptors) if isinstance(descriptors, list) else 'no'} descriptors")
    if pcm and not carries_audio:
        raise ProtocolError("bad_message", f"{kind} carries no audio")
    if len(pcm) > MAX_AUDIO_INPUTS and kind == "submit":
        raise ProtocolError("bad_message", f"at most {MAX_AUDIO_INPUTS} audio inputs")
    audio: dict[str, Clip] = {}
    for descriptor, frame in zip(descriptors, pcm):
        name, clip = _decode_audio(descriptor, frame, max_seconds)
        if name in audio:
            raise ProtocolError("bad_message", f"audio {name!r} is given twice")
        audio[name] = clip
    return Message(header, audio)


def _no_constant(name: str) -> None:
    raise ProtocolError("bad_message", f"the header holds {name}, which is not a number JSON allows")


def check_text(value: Any) -> None:
    """Every string in a decoded header (keys included) must be valid Unicode: JSON's `\\ud800`
    escapes decode to lone surrogates, which fail later in `encode()`, paths or logging."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError("bad_message", "the header holds text that is not valid Unicode "
                                                   "(a lone surrogate escape such as \\ud800)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _decode_audio(descriptor: Any, frame: bytes, max_seconds: float) -> tuple[str, Clip]:
    if not isinstance(descriptor, dict):
        raise ProtocolError("bad_message", "an audio descriptor must be an object")
    name = descriptor.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise ProtocolError("bad_message", f"an audio descriptor needs a name (the task's input it is), "
                                           f"a string of 1 to {MAX_NAME} characters, not {name!r:.80}")
    if descriptor.get("dtype") != "float32":
        raise ProtocolError("bad_message", f"audio dtype must be float32, not {descriptor.get('dtype')!r}")
    values: list[Any] = [descriptor.get(k) for k in ("sample_rate", "channels", "frames")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ProtocolError("bad_message", "sample_rate, channels and frames must be positive integers")
    rate, channels, count = values
    if channels > MAX_CHANNELS:
        raise ProtocolError("too_large", f"{channels} channels; at most {MAX_CHANNELS}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError("bad_message", f"sample rate {rate} Hz is not plausible")
    if count > max_seconds * rate:
        raise ProtocolError("too_large", f"{count / rate:.0f} s of audio; at most {max_seconds:.0f} s")
    if len(frame) != channels * count * 4:
        raise ProtocolError("bad_message", f"PCM frame has {len(frame)} bytes; the descriptor says {channels * count * 4}")
    # a read-only view of the received buffer: no copy (callers copy when they need to write)
    return name, Clip(np.frombuffer(frame, dtype=DTYPE).reshape(channels, count), rate)


def _type_name(kinds: type | tuple[type, ...]) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join({str: "string", int: "integer", float: "number", dict: "object", list: "list"}[k] for k in kinds)

