"""The bridge's OSC address space: every request, its arguments and optional keys, and every
reply. `docs/osc.md` lists the same tables (a test keeps them equal). Pure: no sockets here.

A request is `address tag positional... [key value]...`. Numbers may come as OSC ints or floats
(Pure Data sends floats); a tag may be a string or a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Arg:
    name: str
    kind: type  # str, float or int
    doc: str
    may_be_empty: bool = False  # text that may be ""


@dataclass(frozen=True)
class Address:
    action: str            # what the bridge does: a task name, or cancel, status, ...
    args: tuple[Arg, ...]  # positional arguments after the tag
    doc: str


PATH, SECONDS = Arg("input_path", str, "audio file to edit"), Arg("seconds", float, "length in seconds")
REQUESTS: dict[str, Address] = {
    "/diffusion/generate": Address("generate", (SECONDS,), "new audio from noise (and a prompt)"),
    "/diffusion/style": Address("style_transfer", (PATH, Arg("strength", float, "0 keeps the source .. 1 replaces it")),
                                "style transfer (audio-to-audio)"),
    "/diffusion/vary": Address("vary", (PATH, Arg("strength", float, "how far the variation strays: 0 .. 1")),
                               "a variation of a loop: the same length to the sample, a seamless wrap"),
    "/diffusion/interpolate": Address("interpolate", (Arg("path_a", str, "first clip"), Arg("path_b", str, "second clip"),
                                                      Arg("ratio", float, "0 = first clip .. 1 = second")),
                                      "a blend of two clips"),
    "/diffusion/inpaint": Address("inpaint", (PATH, Arg("start_s", float, "region start"), Arg("end_s", float, "region end")),
                                  "redo a region, keeping everything around it"),
    "/diffusion/outpaint": Address("outpaint", (PATH, Arg("seconds", float, "how much to add")),
                                   "extend a clip (`direction left` to extend before it)"),
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
}

# optional `key value` pairs after the positional arguments
KEYS: dict[str, Arg] = {k.name: k for k in (
    Arg("steps", int, "sampler steps"),
    Arg("seed", int, "same seed, same audio"),
    Arg("prompt", str, "text condition (empty: none)", may_be_empty=True),
    Arg("guidance", float, "prompt strength (classifier-free guidance)"),
    Arg("crossfade", float, "seconds of crossfade at each seam"),
    Arg("context", float, "seconds of context around an edit"),
    Arg("guide", float, "inpaint/outpaint: 0 = best-matching copy, 1 = model alone"),
    Arg("sampler", str, "dpmpp_2m or ddim"),
    Arg("griffin_lim_iters", int, "phase-recovery iterations"),
    Arg("mode", str, "inpaint/outpaint method: replace or repaint"),
    Arg("direction", str, "outpaint: right or left"),
    Arg("strength", float, "interpolate: how far from the sources"),
    Arg("channels", int, "generate: channel count"),
    Arg("sample_rate", int, "generate: sample rate of the result"),
    Arg("variations", int, "generate: number of variations (one done reply each)"),
    Arg("offset", float, "seconds into the input file to start reading"),
    Arg("length", float, "seconds of the input file to read"),
    Arg("offset_b", float, "interpolate: seconds into path_b"),
    Arg("length_b", float, "interpolate: seconds of path_b to read"),
    Arg("bars", float, "a length in bars instead of seconds (at bpm, the MIDI clock's tempo, or the clip's)"),
    Arg("bpm", float, "tempo (default: the MIDI clock's, else the one heard in the clip)"),
    Arg("beats_per_bar", int, "meter: beats in a bar (default: the bridge's --beats-per-bar)"),
    Arg("beat_offset", float, "seconds from the clip's start to a downbeat (default: heard)"),
    Arg("snap", str, "inpaint: move the region to the nearest beat or bar lines"),
    Arg("out_dir", str, "folder for this result: inside the render folder (relative to it) or an --allow-dir"),
    Arg("reply_port", int, "UDP port for this request's replies"),
)}
# keys that are the engine's parameters under another name
ENGINE_NAMES = {"context": "context_seconds", "variations": "n_variations"}
BRIDGE_KEYS = {"offset", "length", "offset_b", "length_b", "bars", "bpm", "beats_per_bar", "beat_offset",
               "out_dir", "reply_port"}

REPLIES: dict[str, tuple[str, ...]] = {
    "/diffusion/accepted": ("tag", "queue_position"),
    "/diffusion/progress": ("tag", "fraction"),
    "/diffusion/done": ("tag", "output_path", "seconds"),
    "/diffusion/cancelled": ("tag",),
    "/diffusion/error": ("tag", "code", "message"),
    "/diffusion/pong": ("tag",),
    "/diffusion/status": ("tag", "engine", "device", "queued", "running", "bpm", "underruns"),
    "/diffusion/learned": ("tag", "target", "kind", "number"),
}


# error codes in `/diffusion/error` replies (the engine's own codes pass through as well)
ERRORS = {
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
    "no_midi": "MIDI learn on a bridge started without --midi",
    "bad_audio": "the audio is empty, silent or not finite (from the engine)",
    "bad_parameter": "a value out of range: strength, seconds, region, steps... (from the engine)",
    "failed": "the engine or the bridge failed on this job",
}


class OscError(Exception):
    def __init__(self, code: str, message: str, tag: str = "") -> None:
        super().__init__(message)
        self.code, self.tag = code, tag


@dataclass(frozen=True)
class Call:
    address: str
    action: str
    tag: str
    args: dict[str, Any]
    keys: dict[str, Any]


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
            raise OscError("bad_arguments", f"unknown key {name!r}; known keys: {', '.join(KEYS)}", tag)
        keys[name] = convert(KEYS[name], value, tag)
    return Call(address, request.action, tag, positional, keys)
