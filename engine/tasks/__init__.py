"""The task table: every editing task's name, aliases, named audio inputs and parameters
(kind, range, unit, default, help), in one torch-free place. The engine checks requests against
it; the service binds audio inputs by it; the bridge builds its names and files from it.

Each task's work lives in the module of the same name here (`engine.tasks.inpaint`, ...), with
a `run(pipeline, job, <inputs as Clips>, <parameters>)` function; adding a task is one entry
below and one module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from engine.clip import MAX_RATE, MIN_RATE
from engine.errors import BadParameter, UnknownTask
from engine.meter import MAX_BPM, MIN_BPM, SNAPS
from engine.params import REQUIRED, Param

__all__ = ["NAMES", "REQUIRED", "TASKS", "Param", "Task", "parameters", "task_named"]

@dataclass(frozen=True)
class Task:
    name: str
    help: str
    inputs: tuple[str, ...]  # named audio inputs, in the order positional calls give them
    params: tuple[Param, ...]
    aliases: tuple[str, ...] = ()  # other names users type
    tag: str = ""  # its word in file names (default: the name)
    example: tuple[tuple[str, Any], ...] = ()  # parameters for an 8 s clip (the demo, the docs)

    @property
    def file_tag(self) -> str:
        return self.tag or self.name

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every parameter checked and defaulted; unknown or missing ones named."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        missing = [p.name for p in self.params if p.default is REQUIRED and params.get(p.name) is None]
        if unknown or missing:
            problems = ([f"needs {', '.join(missing)}"] if missing else []) + \
                       ([f"takes no {', '.join(unknown)}"] if unknown else [])
            raise BadParameter(f"{self.name} {' and '.join(problems)}")
        return {name: p.check(self.name, params.get(name)) for name, p in known.items()}

    def implementation(self) -> Callable[..., Any]:
        """The module's `run` (imported on first use: it needs torch)."""
        return importlib.import_module(f"engine.tasks.{self.name}").run


def unit(name: str, help: str, default: float, low_open: bool = False) -> Param:
    return Param(name, float, help, default, 0.0, 1.0, low_open)


# the musical-time parameters shared by the tasks that take a length or a grid
BPM = Param("bpm", float, "tempo; heard in the audio if not given", None, MIN_BPM, MAX_BPM, unit="BPM")
BEATS_PER_BAR = Param("beats_per_bar", int, "beats in a bar, 4 if not given", None, 1, 32)
BEAT_OFFSET = Param("beat_offset", float, "where the first downbeat falls in the clip", None, 0, unit="s")
BARS = Param("bars", float, "length in bars at bpm, instead of seconds", None, 0, low_open=True)
SECONDS = Param("seconds", float, "length", None, unit="s")
MODE = Param("mode", str, "how the model keeps the known audio", "replace", choices=("replace", "repaint"))

TASKS: dict[str, Task] = {t.name: t for t in (
    Task("generate", "new music from noise (and a prompt)", (), (
        SECONDS, BARS, BPM, BEATS_PER_BAR,
        Param("channels", int, "channel count", 2, 1, 16),
        Param("sample_rate", int, "sample rate of the result; the model's if not given", None, MIN_RATE, MAX_RATE, unit="Hz"),
        Param("n_variations", int, "how many; variation k has seed + k", 1, 1, 16, flag="variations")),
         example=(("seconds", 8.0),)),
    Task("style_transfer", "re-imagine a clip (audio-to-audio)", ("audio",), (
        unit("strength", "0 returns the source .. 1 keeps almost nothing", 0.5),), aliases=("style",), tag="style",
         example=(("strength", 0.5),)),
    Task("vary", "a variation of a loop: the same length to the sample, a seamless wrap", ("audio",), (
        unit("strength", "how far the variation strays", 0.3),), example=(("strength", 0.3),)),
    Task("interpolate", "a blend of two clips, at the first one's length", ("a", "b"), (
        unit("ratio", "0 = the first clip .. 1 = the second", 0.5),
        unit("strength", "how far from the sources", 0.6, low_open=True)), example=(("ratio", 0.5),)),
    Task("inpaint", "redo regions, keeping everything around them", ("audio",), (
        Param("regions", list, "regions to redo, as (start, end) in seconds", REQUIRED, flag="region"), MODE,
        Param("snap", str, "move the regions to the nearest beat or bar lines", None, choices=SNAPS),
        BPM, BEATS_PER_BAR, BEAT_OFFSET), example=(("regions", [[2.0, 3.0], [5.5, 6.0]]),)),
    Task("outpaint", "extend a clip to the right or left", ("audio",), (
        SECONDS, Param("direction", str, "which end grows", "right", choices=("right", "left")), MODE,
        BARS, BPM, BEATS_PER_BAR, BEAT_OFFSET), aliases=("extend",), example=(("seconds", 4.0),)),
)}
NAMES: dict[str, str] = {alias: t.name for t in TASKS.values() for alias in (t.name, *t.aliases)}  # typed -> task


def parameters() -> dict[str, list[tuple[Task, Param]]]:
    """Every parameter name, with the tasks that take it (and their entries for it)."""
    out: dict[str, list[tuple[Task, Param]]] = {}
    for task in TASKS.values():
        for p in task.params:
            out.setdefault(p.name, []).append((task, p))
    return out


def task_named(name: Any) -> Task:
    """The task `name` (or an alias) stands for, or UnknownTask listing them."""
    if not isinstance(name, str) or name not in NAMES:
        raise UnknownTask(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[NAMES[name]]
