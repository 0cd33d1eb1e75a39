"""The bridge's OSC address space: every request, its arguments and optional keys, and every
reply. The tasks' addresses, arguments and keys derive from the task table (`engine.tasks`);
`docs/osc.md` lists the same tables (a test keeps them equal). Pure: no sockets here.

A request is `address tag positional... [key value]...`. Numbers may come as OSC ints or floats
(Pure Data sends floats); a tag may be a string or a number.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from bridge.errors import BridgeError
from engine.settings import SETTINGS as RENDER_SETTINGS
from engine.tasks import TASKS, Task, parameters


@dataclass(frozen=True)
class Arg:
    name: str
    kind: type  # str, float or int
    doc: str
    may_be_empty: bool = False  # text that may be ""


@dataclass(frozen=True)
class Address:
    action: str            # what the bridge does: a task's name, or cancel, status, ...
    args: tuple[Arg, ...]  # positional arguments after the tag
    doc: str


# -- the tasks' addresses, from the task table ----------------------------------------------
# `/diffusion/<file tag>`: a path per audio input, then the task's first parameter (a list of
# regions as one region's start and end); the other parameters are keys.
REGION = (Arg("start_s", float, "region start (s)"), Arg("end_s", float, "region end (s)"))
MUSICAL_TIME = ("bars", "bpm", "beats_per_bar", "beat_offset")  # the bridge resolves them (MIDI clock, meter)
BRIDGE_NOTES = {  # what the bridge adds to the table's help
    "bars": "at bpm, the MIDI clock's tempo, or the clip's", "bpm": "default: the MIDI clock's",
    "beats_per_bar": "default: the bridge's --beats-per-bar", "beat_offset": "default: heard in the clip"}


@dataclass(frozen=True)
class Input:
    """How one audio input of a task travels: its path argument and its slice keys."""
    name: str    # the task table's name for it
    path: str    # positional argument
    offset: str  # key: seconds into the file
    length: str  # key: seconds of the file


def inputs(task: Task) -> tuple[Input, ...]:
    """One input: `input_path`, `offset`, `length`; several: `path_<name>`, the first one's
    slice keys plain and the others' suffixed (`offset_b`)."""
    return tuple(Input(name, "input_path" if len(task.inputs) == 1 else f"path_{name}",
                       "offset" + (f"_{name}" if k else ""), "length" + (f"_{name}" if k else ""))
                 for k, name in enumerate(task.inputs))


def positional(task: Task) -> tuple[Arg, ...]:
    first = task.params[0]
    value = REGION if first.kind is list else (Arg(first.key, first.kind, first.describe()),)
    return tuple(Arg(i.path, str, f"audio file ({i.name})") for i in inputs(task)) + value


def task_params(task: Task, args: dict[str, Any]) -> dict[str, Any]:
    """The engine parameter that a call's positional arguments give."""
    first = task.params[0]
    return {first.name: [[args["start_s"], args["end_s"]]] if first.kind is list else args[first.key]}


def task_keys() -> dict[str, Arg]:
    """Every task parameter that is not positional for all the tasks that take it."""
    keys = {}
    for name, entries in parameters().items():
        helps: dict[str, list[str]] = {}  # help -> the tasks it is for
        for task, p in entries:
            if task.params[0] is not p:
                helps.setdefault(p.describe(), []).append(task.name)
        if helps:
            p = entries[0][1]
            doc = "; ".join(f"{'/'.join(tasks)}: {h}" for h, tasks in helps.items())
            keys[p.key] = Arg(p.key, p.kind, f"{doc} ({BRIDGE_NOTES[name]})" if name in BRIDGE_NOTES else doc)
    return keys


def slice_keys() -> dict[str, Arg]:
    paths: dict[tuple[str, str], list[str]] = {}  # (offset key, length key) -> the path arguments they slice
    for task in TASKS.values():
        for i in inputs(task):
            paths.setdefault((i.offset, i.length), []).append(i.path)
    keys = {}
    for (offset, length), names in paths.items():
        files = " / ".join(dict.fromkeys(names))
        keys[offset] = Arg(offset, float, f"seconds into {files} to start reading")
        keys[length] = Arg(length, float, f"seconds of {files} to read")
    return keys


REQUESTS: dict[str, Address] = {f"/diffusion/{t.file_tag}": Address(t.name, positional(t), t.help) for t in TASKS.values()}
REQUESTS.update({
    "/diffusion/live/transform": Address("live", (Arg("seconds", float, "how much of the live input"),
                                                  Arg("strength", float, "style strength 0..1")),
                                         "style-transfer the last seconds of the live input and play the result"),
    "/diffusion/live/play": Address("play", (Arg("input_path", str, "audio file to play"),),
                                    "play a file on the live output (at the next bar when a clock runs)"),
    "/diffusion/reroll": Address("reroll", (), "the last finished job again with a new seed"),
    "/diffusion/cancel": Address("cancel", (), "cancel the job with this tag"),
    "/diffusion/status": Address("status", (), "engine, jobs, tempo and audio health"),
    "/diffusion/ping": Address("ping", (), "is the bridge there?"),
    "/diffusion/reply_port": Address("reply_port", (Arg("port", int, "UDP port for replies to this client"),),
                                     "where replies to this client (its host and source port) go from now on "
                                     "(the tag may be left out)"),
    "/diffusion/midi/learn": Address("learn", (Arg("target", str, "an action (generate, transform, reroll, cancel) "
                                                              "or a parameter (strength, ratio, steps, guidance)"),),
                                     "bind the next MIDI note or controller to `target`"),
})
LIVE_TASK = REQUESTS["/diffusion/style"].action  # what live/transform runs on the live input

# optional `key value` pairs after the positional arguments: the render settings, the tasks'
# other parameters, the input slices and the bridge's own
SETTING_ARGS: dict[str, Arg] = {  # the settings table's rows (`engine.settings`), and the job's seed
    "seed": Arg("seed", int, "same seed, same audio"),
    **{p.key: Arg(p.key, p.kind, p.describe(), may_be_empty=p.kind is str and not p.choices)
       for p in RENDER_SETTINGS.values()}}
OWN: dict[str, Arg] = {k.name: k for k in (
    Arg("out_dir", str, "folder for this result: inside the render folder (relative to it) or an --allow-dir"),
    Arg("subtype", str, "sample format of the result: FLOAT, PCM_24 or PCM_16 (default: the source's)"),
    Arg("reply_port", int, "UDP port for this request's replies"),
)}
KEYS: dict[str, Arg] = {**SETTING_ARGS, **task_keys(), **slice_keys(), **OWN}
# keys that are the engine's parameters under another name
ENGINE_NAMES = {**{p.key: p.name for p in RENDER_SETTINGS.values() if p.flag},
                **{p.key: p.name for entries in parameters().values() for _, p in entries if p.key in KEYS and p.flag}}
BRIDGE_KEYS = {*slice_keys(), *MUSICAL_TIME, *OWN}  # keys the bridge uses itself, never sent as they are

REPLIES: dict[str, tuple[str, ...]] = {
    "/diffusion/accepted": ("tag", "queue_position"),
    "/diffusion/progress": ("tag", "fraction"),
    "/diffusion/done": ("tag", "output_path", "seconds"),
    "/diffusion/cancelled": ("tag",),
    "/diffusion/error": ("tag", "code", "message"),
    "/diffusion/pong": ("tag",),
    "/diffusion/status": ("tag", "engine", "device", "queued", "running", "bpm", "underruns", "model"),
    "/diffusion/learned": ("tag", "target", "kind", "number"),
}


# error codes in `/diffusion/error` replies (the engine's own codes pass through as well)
OSC_ERRORS = {
    "unknown_address": "no such address",
    "bad_arguments": "wrong number or type of arguments, or an unknown key",
    "malformed": "the packet was not OSC",
    "bad_file": "a path that does not exist, is not audio, or a slice outside the file; or an unwritable out_dir",
    "duplicate_tag": "a job with this tag is still running",
    "busy": "too many jobs in flight (bridge or engine queue full)",
    "not_found": "no running job with that tag (cancel), nothing to re-roll or blend yet",
    "unreachable": "the engine does not answer",
    "no_tempo": "a length in bars without MIDI clock or `bpm`",
    "no_live_audio": "live requests on a bridge started without --live",
    "audio_device_lost": "live requests after the live audio device went away (also announced when it goes)",
    "no_midi": "MIDI learn on a bridge started without --midi",
    "bad_audio": "the audio is empty, silent or not finite (from the engine)",
    "bad_parameter": "a value out of range: strength, seconds, region, steps... (from the engine)",
    "failed": "the engine or the bridge failed on this job",
}


class OscError(BridgeError):
    """A request that does not fit the address table (`code`, `tag`: see `BridgeError`)."""


@dataclass(frozen=True)
class Call:
    address: str
    action: str
    tag: str
    args: dict[str, Any]
    keys: dict[str, Any]
    owner: str = ""  # who sent it (an OSC client's reply address): a tag is that sender's own


def tag_of(values: list[Any]) -> str:
    """The request's tag (its first argument) as text, "" if there is none."""
    value = values[0] if values else ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


def convert(arg: Arg, value: Any, tag: str) -> Any:
    """An OSC value as `arg.kind`; ints and floats are both numbers, strings are not."""
    if arg.kind is str:
        if isinstance(value, str) and (value or arg.may_be_empty):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        if arg.kind is float:
            return float(value)
        if float(value).is_integer():
            return int(value)
    wanted = {str: "text", float: "a number", int: "a whole number"}[arg.kind]
    raise OscError("bad_arguments", f"{arg.name} must be {wanted}, not {value!r}", tag)


def parse(address: str, values: list[Any]) -> Call:
    """Check a request against the table; raises `OscError` with a message for a musician."""
    request = REQUESTS.get(address)
    tag = tag_of(values)
    if request is None:
        raise OscError("unknown_address", f"{address} is not a daw-diffusion address; see docs/osc.md", tag)
    if not values and request.action in ("status", "ping"):
        return Call(address, request.action, "", {}, {})
    if request.action == "reply_port" and len(values) == 1:  # `/diffusion/reply_port 9011`, no tag
        values, tag = ["", *values], ""
    usage = " ".join([address, "tag", *(a.name for a in request.args)])
    if len(values) < 1 + len(request.args):
        raise OscError("bad_arguments", f"too few arguments; usage: {usage} [key value]...", tag)
    positional = {a.name: convert(a, v, tag) for a, v in zip(request.args, values[1:])}
    rest = values[1 + len(request.args):]
    if len(rest) % 2:
        raise OscError("bad_arguments", f"optional arguments come in key value pairs; usage: {usage} [key value]...", tag)
    keys = {}
    for name, value in zip(rest[::2], rest[1::2]):
        if not isinstance(name, str) or name not in KEYS:
            close = difflib.get_close_matches(name, KEYS, n=1) if isinstance(name, str) else []
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise OscError("bad_arguments", f"unknown key {name!r:.40}; {hint}the keys are in docs/osc.md", tag)
        keys[name] = convert(KEYS[name], value, tag)
    return Call(address, request.action, tag, positional, keys)
