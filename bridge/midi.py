"""MIDI: a named input port (virtual where the platform allows: JACK or ALSA on Linux, CoreMIDI
on macOS), a TOML mapping from notes to actions and from controllers to parameters, MIDI learn,
and MIDI clock for tempo. Incoming messages are queued and handled by one worker thread; a storm
fills the queue, the surplus is dropped and counted, and the bridge keeps running."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from bridge.addresses import Call, parse
from bridge.app import Bridge
from bridge.audiofile import write_text_atomic
from bridge.errors import BridgeError
from bridge.events import Failed, Report
from bridge.jobs import JobError
from engine.params import Param
from engine.settings import SETTINGS as RENDER_SETTINGS
from engine.tasks import parameters

log = logging.getLogger("daw-diffusion.midi")


def knob(p: Param) -> tuple[float, float, bool]:
    """The span a controller's 0..127 sweeps for `p`, as (low, high, whole numbers)."""
    low, high = p.knob or (p.low, p.high)
    return low, high, p.kind is int  # type: ignore[return-value]  # the knobs' rows set both bounds


# parameter -> its knob: the live tasks' own (strength, ratio), the settings that have a knob
TASK_KNOBS = ("strength", "ratio")
PARAMETERS = {**{name: knob(parameters()[name][0][1]) for name in TASK_KNOBS},
              **{p.name: knob(p) for p in RENDER_SETTINGS.values() if p.knob}}
APIS = {"auto": None, "jack": "UNIX_JACK", "alsa": "LINUX_ALSA", "coremidi": "MACOSX_CORE", "winmm": "WINDOWS_MM"}
REALTIME = {"clock", "start", "stop", "continue", "songpos"}
MIN_INTERVAL = 0.2  # seconds between two triggers of the same action


@dataclass
class Mapping:
    port: str = "daw-diffusion"
    virtual: bool = True
    api: str = "auto"
    channel: int = 0  # 1..16, 0 = any
    notes: dict[int, str] = field(default_factory=lambda: {36: "generate", 37: "transform", 38: "reroll",
                                                            39: "blend", 40: "cancel", 41: "vary"})
    controls: dict[int, str] = field(default_factory=lambda: {20: "strength", 21: "ratio", 22: "steps", 23: "guidance"})
    values: dict[str, float] = field(default_factory=lambda: {"strength": 0.5, "ratio": 0.5})
    generate_bars: float = 4.0       # lengths when MIDI clock gives a tempo ...
    transform_bars: float = 2.0
    generate_seconds: float = 8.0    # ... and without one
    transform_seconds: float = 4.0
    prompt: str = ""

    @classmethod
    def load(cls, path: str | Path) -> "Mapping":
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: not a readable TOML mapping ({exc})") from None
        mapping, port, lengths = cls(), data.get("port", {}), data.get("lengths", {})
        mapping.port = str(port.get("name", mapping.port))
        mapping.virtual = bool(port.get("virtual", mapping.virtual))
        mapping.api = str(port.get("api", mapping.api))
        mapping.channel = int(port.get("channel", mapping.channel))
        if "notes" in data:
            mapping.notes = {int(k): str(v) for k, v in data["notes"].items()}
        if "controls" in data:
            mapping.controls = {int(k): str(v) for k, v in data["controls"].items()}
        for name in ("generate_bars", "transform_bars", "generate_seconds", "transform_seconds"):
            setattr(mapping, name, float(lengths.get(name, getattr(mapping, name))))
        mapping.prompt = str(data.get("prompt", mapping.prompt))
        mapping.check(path)
        return mapping

    def check(self, where: Any = "mapping") -> None:
        for note, action in self.notes.items():
            if action not in MIDI_ACTIONS or not 0 <= note < 128:
                raise ValueError(f"{where}: note {note} = {action!r}; notes are 0..127, actions {', '.join(MIDI_ACTIONS)}")
        for cc, name in self.controls.items():
            if name not in PARAMETERS or not 0 <= cc < 128:
                raise ValueError(f"{where}: control {cc} = {name!r}; controls are 0..127, "
                                 f"parameters {', '.join(PARAMETERS)}")
        if self.api not in APIS or not 0 <= self.channel <= 16:
            raise ValueError(f"{where}: api is one of {', '.join(APIS)} and channel 0..16")

    def dumps(self) -> str:
        lines = ["# daw-diffusion MIDI mapping", "prompt = " + quote(self.prompt), "", "[port]",
                 f"name = {quote(self.port)}", f"virtual = {str(self.virtual).lower()}", f"api = {quote(self.api)}",
                 f"channel = {self.channel}", "", "[notes]  # note number = action"]
        lines += [f"{k} = {quote(v)}" for k, v in sorted(self.notes.items())]
        lines += ["", "[controls]  # controller number = parameter"]
        lines += [f"{k} = {quote(v)}" for k, v in sorted(self.controls.items())]
        lines += ["", "[lengths]"]
        lines += [f"{n} = {getattr(self, n)}" for n in ("generate_bars", "transform_bars", "generate_seconds",
                                                         "transform_seconds")]
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, self.dumps())


def candidates(api: str) -> list[str | None]:
    """rtmidi API names to try: the one asked for, or (auto) the default, then all others."""
    if api != "auto":
        return [APIS[api]]
    import rtmidi

    compiled = [rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()]
    names = {"jack": "UNIX_JACK", "alsa": "LINUX_ALSA", "core": "MACOSX_CORE", "winmm": "WINDOWS_MM"}
    return [None] + [names[c] for c in compiled if c in names]


def midi_backend(api: str | None) -> Any:
    import mido

    return mido.Backend("mido.backends.rtmidi" + (f"/{api}" if api else ""))


def input_names(api: str = "auto") -> dict[str, list[str]]:
    """Input ports per MIDI system that works here."""
    found = {}
    for name in candidates(api):
        try:
            found[name or "default"] = midi_backend(name).get_input_names()
        except Exception:  # that MIDI system is not running here
            continue
    return found


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scale(name: str, value: int) -> float:
    low, high, whole = PARAMETERS[name]
    x = low + (high - low) * max(0, min(127, value)) / 127
    return round(x) if whole else x


class MidiListener:
    def __init__(self, bridge: Bridge, mapping: Mapping, report: Report, mapping_file: Path | None = None,
                 queue_size: int = 256) -> None:
        self.bridge, self.mapping, self.report, self.mapping_file = bridge, mapping, report, mapping_file
        self.inbox: queue.Queue = queue.Queue(queue_size)
        self.dropped = 0
        self.last_trigger: dict[str, float] = {}
        self.learning: tuple[str, Callable[[str, int], None]] | None = None
        self.count = 0
        self.port = None
        self.worker = threading.Thread(target=self.work, daemon=True, name="midi")

    def open(self) -> "MidiListener":
        errors = []
        for api in candidates(self.mapping.api):
            backend = midi_backend(api)
            try:
                self.port = backend.open_input(self.mapping.port, virtual=self.mapping.virtual, callback=self.receive)
                break
            except Exception as exc:  # rtmidi's errors: no such port, no sequencer, no virtual ports here
                errors.append(f"{api or 'default'}: {exc}")
        else:
            raise ValueError(f"cannot open MIDI input {self.mapping.port!r} ({'; '.join(errors)})")
        self.worker.start()
        log.info("MIDI input %r (%s)", self.port.name,  # type: ignore[attr-defined]  # opened above
                 "virtual" if self.mapping.virtual else "existing port")
        return self

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
        self.inbox.put(None)

    def receive(self, message: Any) -> None:
        """rtmidi's thread: clock goes straight to the clock; the rest is queued."""
        if message.type in REALTIME:
            self.bridge.clock.on_message(message.type, position=getattr(message, "pos", 0))
            return
        try:
            self.inbox.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("MIDI storm: %d messages dropped", self.dropped)

    def work(self) -> None:
        while (message := self.inbox.get()) is not None:
            try:
                self.handle(message)
            except Exception:  # a bad message or a bug must not stop MIDI
                log.exception("MIDI message %s", message)

    def learn(self, target: str, done: Callable[[str, int], None]) -> None:
        if target not in MIDI_ACTIONS and target not in PARAMETERS:
            raise JobError("bad_arguments", f"learn what? {target!r} is neither an action ({', '.join(MIDI_ACTIONS)}) "
                                            f"nor a parameter ({', '.join(PARAMETERS)})")
        self.learning = (target, done)

    def handle(self, message: Any) -> None:
        if self.mapping.channel and getattr(message, "channel", -1) + 1 != self.mapping.channel:
            return
        is_note = message.type == "note_on" and message.velocity > 0
        if self.learning and (is_note or message.type == "control_change"):
            self.bind(message, is_note)
        elif is_note and message.note in self.mapping.notes:
            self.trigger(self.mapping.notes[message.note])
        elif message.type == "control_change" and message.control in self.mapping.controls:
            name = self.mapping.controls[message.control]
            self.mapping.values[name] = scale(name, message.value)

    def bind(self, message: Any, is_note: bool) -> None:
        target, done = self.learning  # type: ignore[misc]  # called only while learning
        if (target in MIDI_ACTIONS) != is_note:  # keep waiting for the right kind of message
            log.info("learn %s: waiting for a %s", target, "note" if target in MIDI_ACTIONS else "controller")
            return
        self.learning = None
        number = message.note if is_note else message.control
        table = self.mapping.notes if target in MIDI_ACTIONS else self.mapping.controls
        table[number] = target
        if self.mapping_file is not None:
            self.mapping.save(self.mapping_file)
        log.info("learned: %s %d -> %s", "note" if is_note else "control", number, target)
        done("note" if is_note else "control", number)

    def trigger(self, action: str) -> None:
        now = time.monotonic()
        if now - self.last_trigger.get(action, 0.0) < MIN_INTERVAL:
            return  # a repeated or bouncing pad: one job, not a hundred
        self.last_trigger[action] = now
        self.count += 1
        tag = f"midi-{action}-{self.count}"
        try:
            self.start(action, tag, now)
        except BridgeError as exc:
            self.report(Failed(tag, exc.code, str(exc)))

    def start(self, action: str, tag: str, now: float) -> None:
        call = MIDI_ACTIONS[action](self, tag)
        if call is not None:
            self.bridge.begin(call, self.report, triggered=now)

    def call(self, address: str, tag: str, *args: Any, bars: float | None = None) -> Call:
        """The OSC request a pad stands for, checked as OSC's are, with the mapping's settings;
        a length in `bars` while a MIDI clock runs."""
        keys: dict[str, Any] = {k: v for k, v in self.mapping.values.items() if k in RENDER_SETTINGS}
        if self.mapping.prompt:
            keys["prompt"] = self.mapping.prompt
        if bars is not None and self.bridge.clock.bpm():
            keys["bars"] = bars
        return parse(address, [tag, *args, *(x for pair in keys.items() for x in pair)])

    def value(self, name: str) -> float:
        return float(self.mapping.values.get(name, 0.5))

    def recent(self, count: int, why: str) -> list[str]:
        """The files of the last `count` finished jobs, oldest first."""
        recent = self.bridge.jobs.recent()
        if len(recent) < count:
            raise JobError("not_found", why)
        return [str(r.path) for r in recent[-count:]]

    # -- pads (MIDI_ACTIONS) -------------------------------------------------------------------------
    def generate(self, tag: str) -> Call:
        m = self.mapping
        return self.call("/diffusion/generate", tag, m.generate_seconds, bars=m.generate_bars)

    def transform(self, tag: str) -> Call:  # the live input, played back at the next bar
        m = self.mapping
        return self.call("/diffusion/live/transform", tag, m.transform_seconds, self.value("strength"),
                         bars=m.transform_bars)

    def vary(self, tag: str) -> Call:  # a variation of the last result, as a loop of the same length
        last = self.recent(1, "vary needs a finished job to vary: run one first")
        return self.call("/diffusion/vary", tag, *last, self.value("strength"))

    def blend(self, tag: str) -> Call:
        last_two = self.recent(2, "blend needs two finished jobs to morph between")
        return self.call("/diffusion/interpolate", tag, *last_two, self.value("ratio"))

    def reroll(self, tag: str) -> Call:
        return self.call("/diffusion/reroll", tag)

    def cancel(self, tag: str) -> None:
        self.bridge.jobs.cancel_all()


# what each pad does: the OSC request it stands for, or (cancel) its own work
MIDI_ACTIONS: dict[str, Callable[[MidiListener, str], Call | None]] = {
    "generate": MidiListener.generate, "transform": MidiListener.transform, "reroll": MidiListener.reroll,
    "vary": MidiListener.vary, "blend": MidiListener.blend, "cancel": MidiListener.cancel}
