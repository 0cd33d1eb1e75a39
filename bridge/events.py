"""What the bridge tells a front end about a job, as typed events: accepted by the engine,
progress, one `Done` per render, cancelled or failed. `Jobs` emits them; each front end (the OSC
server, MIDI, the render CLI's progress file) adapts them through its own table, so the core
knows no OSC address.

Field names are the `/diffusion/...` replies' argument names (`addresses.REPLIES`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

from bridge.errors import BridgeError
from engine.clip import Clip


@dataclass(frozen=True)
class Accepted:
    tag: str
    queue_position: int


@dataclass(frozen=True)
class Progress:
    tag: str
    fraction: float  # 0 .. 1
    stage: str = ""


@dataclass(frozen=True)
class Done:
    tag: str
    output_path: str
    seconds: float
    clip: Clip | None = field(default=None, repr=False, compare=False)  # the render, for live playback


@dataclass(frozen=True)
class Cancelled:
    tag: str


@dataclass(frozen=True)
class Failed:
    tag: str
    code: str
    message: str


Event = Union[Accepted, Progress, Done, Cancelled, Failed]
Report = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A report that goes nowhere."""


def ending(tag: str, exc: BaseException) -> Event:
    """How a job that raised `exc` ended: cancelled, failed with the error's code, or (a bug,
    or an interrupt) failed with the exception named."""
    if isinstance(exc, BridgeError):
        return Cancelled(tag) if exc.code == "cancelled" else Failed(tag, exc.code, str(exc))
    return Failed(tag, "failed", f"{type(exc).__name__}: {exc}")
