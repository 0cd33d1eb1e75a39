"""The bridge's core: turns parsed requests (OSC, MIDI) into jobs, runs them in the background
and reports each step to whoever asked (`report(address, *args)`, OSC replies)."""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bridge.addresses import BRIDGE_KEYS, ENGINE_NAMES, Call
from bridge.audiofile import AudioFileError, read_audio
from bridge.clock import Clock
from bridge.jobs import JobError, Jobs, Request, Running, Source

log = logging.getLogger("daw-diffusion.bridge")
Report = Callable[..., None]  # report("/diffusion/done", tag, path, seconds)


class Bridge:
    def __init__(self, jobs: Jobs, clock: Clock | None = None, live: Any = None,
                 allowed_dirs: tuple[Path, ...] = (), confine_inputs: bool = False) -> None:
        self.jobs, self.clock, self.live = jobs, clock or Clock(), live
        self.confine_inputs = confine_inputs  # on the network: read audio only from the allowed folders too
        # where an `out_dir` key may point: the render folder and each --allow-dir (and below)
        self.allowed_dirs = tuple(Path(d).expanduser().resolve() for d in (jobs.store.folder, *allowed_dirs))
        self.pool = ThreadPoolExecutor(jobs.max_active + 2, thread_name_prefix="job")
        self.latencies: deque[tuple[float, float]] = deque(maxlen=100)  # live: (trigger -> first sample, engine)
        self.computed: deque[tuple[str, float]] = deque(maxlen=100)  # (tag, engine compute seconds)

    def close(self) -> None:
        self.jobs.cancel_all()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.live is not None:
            self.live.close()

    # -- requests -------------------------------------------------------------------------------
    def seconds(self, seconds: float, keys: dict[str, Any]) -> float:
        """`seconds`, or `bars` at the MIDI clock's tempo (or the `bpm` key)."""
        if "bars" not in keys:
            return seconds
        bar = self.clock.bar_seconds(keys.get("bpm"))
        if bar is None:
            raise no_tempo()
        return keys["bars"] * bar

    def musical_time(self, task: str, seconds: float, keys: dict[str, Any]) -> dict[str, Any]:
        """The engine's length and tempo parameters: `seconds`, or `bars` at the `bpm` key or
        the MIDI clock's tempo (the engine hears the clip's own when there is neither), in the
        request's meter or the bridge's; for a snapped inpaint, the grid. Tempo keys that a
        task has no use for are dropped (a patch may send them with every job)."""
        params: dict[str, Any] = {}
        if task in ("generate", "outpaint"):
            if "bars" not in keys:
                return {"seconds": seconds}
            params["bars"] = keys["bars"]
        elif task != "inpaint" or "snap" not in keys:
            return params
        bpm = keys.get("bpm") or self.clock.bpm()
        if bpm:
            params["bpm"] = bpm
        elif task == "generate":
            raise no_tempo()
        params["beats_per_bar"] = keys.get("beats_per_bar", self.clock.beats_per_bar)
        if "beat_offset" in keys and task != "generate":
            params["beat_offset"] = keys["beat_offset"]
        return params

    def request_for(self, call: Call) -> Request:
        """A job request from a parsed OSC call."""
        a, keys, task = call.args, call.keys, call.action
        params = engine_params(keys)
        sources: list[Source] = []
        if task in ("style_transfer", "vary", "inpaint", "outpaint"):
            sources.append(Source(Path(a["input_path"]).expanduser(), keys.get("offset", 0.0), keys.get("length")))
        if task == "interpolate":
            sources += [Source(Path(a["path_a"]).expanduser(), keys.get("offset", 0.0), keys.get("length")),
                        Source(Path(a["path_b"]).expanduser(), keys.get("offset_b", 0.0), keys.get("length_b"))]
            params["ratio"] = a["ratio"]
        if self.confine_inputs:
            for source in sources:
                self.inside_allowed(source.path, "input")
        params.update(self.musical_time(task, a.get("seconds", 0.0), keys))
        if task in ("style_transfer", "vary"):
            params["strength"] = a["strength"]
        if task == "inpaint":
            params["regions"] = [[a["start_s"], a["end_s"]]]
        return Request(task, params, tuple(sources), tag=call.tag, out_dir=self.out_dir(keys))

    def out_dir(self, keys: dict[str, Any]) -> Path | None:
        """The request's `out_dir`, relative to the render folder, confined to the allowed
        folders (what lies elsewhere is neither created nor told)."""
        if "out_dir" not in keys:
            return None
        return self.inside_allowed(self.allowed_dirs[0] / Path(keys["out_dir"]).expanduser(), "out_dir")

    def inside_allowed(self, path: Path, what: str) -> Path:
        """`path` resolved, if it lies in an allowed folder; else an error that tells nothing
        about the disk (not whether the path exists)."""
        resolved = path.resolve()
        if not any(resolved == root or root in resolved.parents for root in self.allowed_dirs):
            raise JobError("bad_file", f"{what} {str(path)!r} is outside the folders this bridge works in "
                                       "(its render folder, and any given with --allow-dir)")
        return resolved

    def live_request(self, tag: str, seconds: float, strength: float, keys: dict[str, Any] | None = None) -> Request:
        """Style transfer of the last `seconds` of the live input."""
        if self.live is None:
            raise JobError("no_live_audio", "live audio is off; start the bridge with --live")
        keys = keys or {}
        seconds = self.seconds(seconds, keys)
        audio = self.live.capture(seconds)
        if audio.shape[1] < round(0.5 * self.live.sample_rate):
            raise JobError("bad_audio", "less than half a second of live input recorded so far")
        return Request("style_transfer", {**engine_params(keys), "strength": strength},
                       audio=((audio, self.live.sample_rate),), tag=tag, out_dir=self.out_dir(keys))

    def play_file(self, path: str) -> float:
        """Audition a file on the live output, at the next bar when a clock runs."""
        if self.live is None:
            raise JobError("no_live_audio", "live audio is off; start the bridge with --live")
        if self.confine_inputs:
            self.inside_allowed(Path(path).expanduser(), "input")
        try:
            audio, rate = read_audio(Path(path).expanduser())
        except AudioFileError as exc:
            raise JobError(exc.code, str(exc)) from None
        self.live.play(stretch(audio, rate, self.live.sample_rate), at=self.clock.next_bar())
        return audio.shape[1] / rate

    # -- running --------------------------------------------------------------------------------
    def start(self, request: Request, report: Report, play: bool = False, triggered: float | None = None) -> None:
        """Claim the tag now (a taken tag or a full bridge is refused at once), run in the background."""
        running = self.jobs.register(request)
        self.pool.submit(self.run, running, report, play, triggered)

    def run(self, running: Running, report: Report, play: bool, triggered: float | None) -> None:
        tag = running.request.tag

        def on_event(kind: str, **fields: Any) -> None:
            if kind == "accepted":
                report("/diffusion/accepted", tag, int(fields["position"]))
            elif kind == "progress":
                report("/diffusion/progress", tag, float(fields["fraction"]))

        try:
            outcome = self.jobs.wait(running, on_event)
            self.computed.append((tag, outcome.compute_seconds))
            clip = None
            if play and self.live is not None:
                clip = self.live.play(outcome.renders[0].audio, at=self.clock.next_bar(), tag=tag)
            for render in outcome.renders:
                report("/diffusion/done", tag, str(render.path), float(render.seconds))
            if clip is not None and triggered is not None and clip.started.wait(10):
                self.latencies.append((clip.started_at - triggered, outcome.compute_seconds))
        except JobError as exc:
            if exc.code == "cancelled":
                report("/diffusion/cancelled", tag)
            else:
                report("/diffusion/error", tag, exc.code, str(exc))
        except Exception as exc:  # a bug: still an answer, and the bridge keeps running
            log.exception("job %s failed", tag)
            report("/diffusion/error", tag, "failed", f"{type(exc).__name__}: {exc}")

    def status(self) -> tuple[str, str, int, int]:
        """(engine state, device, engine queue, jobs running here)."""
        try:
            status = self.jobs.client.status()
        except Exception:
            return "unreachable", "", 0, len(self.jobs.active)
        return "ok", str(status.get("device", "")), int(status.get("queue", {}).get("queued", 0)), len(self.jobs.active)


def no_tempo() -> JobError:
    return JobError("no_tempo", "a length in bars needs a tempo: send MIDI clock to the bridge or add `bpm 120`")


def engine_params(keys: dict[str, Any]) -> dict[str, Any]:
    """The optional keys that go to the engine, under the engine's names."""
    return {ENGINE_NAMES.get(k, k): v for k, v in keys.items() if k not in BRIDGE_KEYS}


def stretch(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation rate change, good enough to audition a file (renders of live input
    already come back at the stream's rate and are played untouched)."""
    if rate == target:
        return audio
    n = round(audio.shape[1] * target / rate)
    x = np.arange(n) * (rate / target)
    return np.stack([np.interp(x, np.arange(audio.shape[1]), ch) for ch in audio]).astype(np.float32)
