"""One named value a caller may give — a task's parameter or a render setting — with its kind,
range, unit, default and help, and the check every front end's value goes through. Torch-free:
the bridge, the CLI, the MIDI map and the docs read the same rows the engine checks with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.errors import BadParameter

REQUIRED = object()  # the default of a parameter the caller must give


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # float, int, str or list
    help: str
    default: Any = None  # None: optional and absent; REQUIRED: must be given
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # `low` itself is not allowed
    unit: str = ""
    choices: tuple[str, ...] = ()
    flag: str = ""  # its name on the command line and in OSC keys, where that differs
    high_open: bool = False  # `high` itself is not allowed
    longest: int = 0  # text: at most this many characters (0: any)
    knob: tuple[float, float] | None = None  # the span a MIDI controller's 0-127 sweeps

    @property
    def key(self) -> str:
        return self.flag or self.name

    def check(self, task: str, value: Any) -> Any:
        """`value` as this parameter's kind, or BadParameter saying what is wrong (`task`, if
        given, names whose parameter it is)."""
        if value is None:  # absent: the default (a missing required one is named by `Task.check`)
            return self.default
        whose = f"{task}: " if task else ""
        if self.kind in (float, int):
            whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            wrong = f"{self.name} must be {'a whole number' if self.kind is int else 'a number'} {self.range()}".rstrip()
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or (self.kind is int and not whole):
                raise BadParameter(f"{wrong}, not {value!r}")
            if (self.low is not None and (value < self.low or (self.low_open and value == self.low))) \
                    or (self.high is not None and (value > self.high or (self.high_open and value == self.high))):
                raise BadParameter(f"{wrong}, not {value!r}")
            return self.kind(value)
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                options = f"one of {', '.join(self.choices)}" if self.choices else "text"
                raise BadParameter(f"{whose}{self.name} must be {options}, not {value!r}")
            if self.longest and len(value) > self.longest:
                raise BadParameter(f"{whose}{self.name} must be text of at most {self.longest} characters")
            return value
        if not isinstance(value, (list, tuple)):
            raise BadParameter(f"{whose}{self.name} must be a list, not {value!r}")
        return value

    def range(self) -> str:
        """Its range in words ("from 0 to 1", "above 0"), or ""."""
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            low = f"above {self.low:g} and up" if self.low_open else f"from {self.low:g}"
            return f"{low} to {'below ' if self.high_open else ''}{self.high:g}{unit}"
        if self.low is not None:
            return f"{'above' if self.low_open else 'at least'} {self.low:g}{unit}"
        return ""

    def describe(self) -> str:
        """Its help, with its range (or unit), choices and default: what `--help` and the docs show."""
        notes = [note for note in (self.range() or self.unit, ", ".join(self.choices)) if note]
        if self.default not in (None, REQUIRED, ""):
            notes.append(f"default {self.default:g}" if isinstance(self.default, float) else f"default {self.default}")
        return f"{self.help} ({'; '.join(notes)})" if notes else self.help
