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
    import tomli as tomllib

from bridge.app import Bridge, Report
from bridge.audiofile import write_text_atomic
from bridge.jobs import JobError, Request, Source

log = logging.getLogger("daw-diffusion.midi")
ACTIONS = ("generate", "transform", "reroll", "vary", "blend", "cancel")
# parameter -> (low, high, whole numbers) that a controller's 0..127 spans
PARAMETERS = {"strength": (0.0, 1.0, False), "ratio": (0.0, 1.0, False),
              "steps": (4, 100, True), "guidance": (0.0, 10.0, False)}
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
            if action not in ACTIONS or not 0 <= note < 128:
                raise ValueError(f"{where}: note {note} = {action!r}; notes are 0..127, actions {', '.join(ACTIONS)}")
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
        log.info("MIDI input %r (%s)", self.port.name, "virtual" if self.mapping.virtual else "existing port")
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
        if target not in ACTIONS and target not in PARAMETERS:
            raise JobError("bad_arguments", f"learn what? {target!r} is neither an action ({', '.join(ACTIONS)}) "
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
        target, done = self.learning
        if (target in ACTIONS) != is_note:  # keep waiting for the right kind of message
            log.info("learn %s: waiting for a %s", target, "note" if target in ACTIONS else "controller")
            return
        self.learning = None
        number = message.note if is_note else message.control
        table = self.mapping.notes if target in ACTIONS else self.mapping.controls
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
        except JobError as exc:
            self.report("/diffusion/error", tag, exc.code, str(exc))

    def lengths(self, bars: float, seconds: float) -> tuple[dict[str, float], float]:
        """In bars while a MIDI clock runs, else in seconds."""
        return ({"bars": bars} if self.bridge.clock.bpm() else {}), seconds

    def settings(self) -> dict[str, Any]:
        values = {k: v for k, v in self.mapping.values.items() if k in ("steps", "guidance")}
        return {**values, "prompt": self.mapping.prompt} if self.mapping.prompt else values

    def start(self, action: str, tag: str, now: float) -> None:
        m, bridge = self.mapping, self.bridge
        if action == "cancel":
            bridge.jobs.cancel_all()
        elif action == "generate":
            keys, seconds = self.lengths(m.generate_bars, m.generate_seconds)
            request = Request("generate", {**self.settings(), **bridge.musical_time("generate", seconds, keys)}, tag=tag)
            bridge.start(request, self.report)
        elif action == "transform":
            keys, seconds = self.lengths(m.transform_bars, m.transform_seconds)
            request = bridge.live_request(tag, seconds, float(m.values.get("strength", 0.5)), {**keys, **self.settings()})
            bridge.start(request, self.report, play=True, triggered=now)
        elif action == "reroll":
            bridge.start(bridge.jobs.reroll(tag), self.report)
        elif action == "vary":  # a variation of the last result, as a loop of the same length
            recent = bridge.jobs.recent()
            if not recent:
                raise JobError("not_found", "vary needs a finished job to vary: run one first")
            request = Request("vary", {**self.settings(), "strength": float(m.values.get("strength", 0.5))},
                              (Source(recent[-1].path),), tag=tag)
            bridge.start(request, self.report)
        elif action == "blend":
            recent = bridge.jobs.recent()
            if len(recent) < 2:
                raise JobError("not_found", "blend needs two finished jobs to morph between")
            sources = (Source(recent[0].path), Source(recent[1].path))
            request = Request("interpolate", {**self.settings(), "ratio": float(m.values.get("ratio", 0.5))},
                              sources, tag=tag)
            bridge.start(request, self.report)
