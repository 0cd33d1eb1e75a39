"""The bridge's core: turns parsed requests (OSC, MIDI) into jobs, runs them in the background
and reports each step to whoever asked, as typed events (`bridge.events`)."""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from bridge.addresses import BRIDGE_KEYS, ENGINE_NAMES, LIVE_TASK, Call, inputs, task_params
from bridge.audiofile import AudioFileError, read_audio
from bridge.clock import Clock
from bridge.events import Done, Event, Report
from bridge.jobs import JobError, Jobs, Request, Running, Source, check_engine
from bridge.live import DEVICE_LOST
from engine.clip import Clip
from engine.errors import EngineError
from engine.meter import Meter
from engine.tasks import TASKS, Task

log = logging.getLogger("daw-diffusion.bridge")


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
    def begin(self, call: Call, report: Report, triggered: float | None = None) -> None:
        """Start the job a call asks for (a task, live/transform, reroll); refusals raise."""
        JOB_ACTIONS[call.action](self, call, report, time.monotonic() if triggered is None else triggered)

    def task_job(self, call: Call, report: Report, triggered: float) -> None:
        self.start(self.request_for(call), report)

    def live_job(self, call: Call, report: Report, triggered: float) -> None:
        request = replace(self.live_request(call.tag, call.args["seconds"], call.args["strength"], call.keys),
                          owner=call.owner)
        self.start(request, report, play=True, triggered=triggered)

    def reroll_job(self, call: Call, report: Report, triggered: float) -> None:
        self.start(self.jobs.reroll(call.tag, call.owner), report)

    def frames(self, seconds: float, keys: dict[str, Any], rate: int) -> int:
        """`seconds`, or `bars` at the `bpm` key or the MIDI clock's tempo in the request's meter
        or the bridge's, as frames at `rate`: rounded once, as the engine rounds bars."""
        if "bars" not in keys:
            return round(seconds * rate)
        bpm = keys.get("bpm") or self.clock.bpm()
        if not bpm:
            raise no_tempo()
        try:
            meter = Meter(bpm, keys.get("beats_per_bar", self.clock.beats_per_bar))
        except EngineError as exc:
            raise JobError(exc.code, str(exc)) from None
        return meter.samples(keys["bars"], rate)

    def musical_time(self, task: Task, params: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
        """`params` with the engine's length and tempo parameters: `bars` instead of `seconds`
        where the task takes a length, at the `bpm` key or the MIDI clock's tempo (the engine
        hears the clip's own when there is neither), in the request's meter or the bridge's; for
        a snapped edit, the grid. Tempo keys a task has no use for are dropped (a patch may send
        them with every job)."""
        takes = {p.name for p in task.params}
        if "bars" in keys and "bars" in takes:
            params.pop("seconds", None)
            params["bars"] = keys["bars"]
        elif "snap" not in keys or "snap" not in takes:
            return params
        bpm = keys.get("bpm") or self.clock.bpm()
        if bpm:
            params["bpm"] = bpm
        elif not task.inputs:  # no clip to hear a tempo in
            raise no_tempo()
        params["beats_per_bar"] = keys.get("beats_per_bar", self.clock.beats_per_bar)
        if "beat_offset" in keys and "beat_offset" in takes:
            params["beat_offset"] = keys["beat_offset"]
        return params

    def request_for(self, call: Call) -> Request:
        """A job request from a parsed call to a task's address."""
        task, keys = TASKS[call.action], call.keys
        params = {**engine_params(keys), **task_params(task, call.args)}
        sources = tuple(Source(absolute(call.args[i.path]), keys.get(i.offset, 0.0), keys.get(i.length))
                        for i in inputs(task))
        if self.confine_inputs:
            for source in sources:
                self.inside_allowed(source.path, "input")
        self.musical_time(task, params, keys)
        return Request(task.name, params, sources, tag=call.tag, out_dir=self.out_dir(keys), owner=call.owner,
                       subtype=keys["subtype"].upper() if "subtype" in keys else None)

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

    def check_live(self) -> None:
        """Live requests need a live stream whose device is still there."""
        if self.live is None:
            raise JobError("no_live_audio", "live audio is off; start the bridge with --live")
        if self.live.lost():
            raise JobError("audio_device_lost", DEVICE_LOST)

    def live_request(self, tag: str, seconds: float, strength: float, keys: dict[str, Any] | None = None) -> Request:
        """Style transfer of the last `seconds` of the live input."""
        self.check_live()
        keys = keys or {}
        clip = self.live.capture(self.frames(seconds, keys, self.live.sample_rate))
        if clip.frames < round(0.5 * clip.rate):
            raise JobError("bad_audio", "less than half a second of live input recorded so far")
        task = TASKS[LIVE_TASK]
        return Request(task.name, {**engine_params(keys), **task_params(task, {"strength": strength})},
                       audio=(clip,), tag=tag, out_dir=self.out_dir(keys))

    def play_file(self, path: str) -> float:
        """Audition a file on the live output, at the next bar when a clock runs."""
        self.check_live()
        if self.confine_inputs:
            self.inside_allowed(absolute(path), "input")
        try:
            clip = Clip(*read_audio(absolute(path)))
        except (AudioFileError, EngineError) as exc:  # EngineError: a rate no clip can have
            raise JobError(exc.code, str(exc)) from None
        self.live.play(clip, at=self.clock.next_bar())
        return clip.seconds

    # -- running --------------------------------------------------------------------------------
    def start(self, request: Request, report: Report, play: bool = False, triggered: float | None = None) -> None:
        """Claim the tag now (a taken tag or a full bridge is refused at once), run in the background."""
        running = self.jobs.register(request)
        self.pool.submit(self.run, running, report, play, triggered)

    def run(self, running: Running, report: Report, play: bool, triggered: float | None) -> None:
        tag, clip = running.request.tag, None

        def forward(event: Event) -> None:  # a live job's first render plays (at the next bar) as it is told
            nonlocal clip
            if play and clip is None and isinstance(event, Done) and event.clip is not None and self.live is not None:
                try:
                    clip = self.live.play(event.clip, at=self.clock.next_bar(), tag=tag)
                except Exception:
                    log.exception("job %s: cannot play the result", tag)
            report(event)

        try:
            outcome = self.jobs.wait(running, forward)  # reports how it ended, too
        except JobError:
            return
        except Exception:  # a bug: answered as failed; the bridge keeps running
            log.exception("job %s failed", tag)
            return
        self.computed.append((tag, outcome.compute_seconds))
        if clip is not None and triggered is not None and clip.wait_started(10):
            self.latencies.append((clip.started_at - triggered, outcome.compute_seconds))

    def status(self) -> tuple[str, str, int, int, str]:
        """(engine state, device, engine queue, jobs running here, the engine's model's name)."""
        running = len(self.jobs.active)
        try:
            state = check_engine(self.jobs.client, self.jobs.client.endpoint)  # an engine's, a broker's or a cluster's
        except JobError as exc:  # unreachable, or another protocol version
            return exc.code, "", 0, running, ""
        except Exception:
            return "unreachable", "", 0, running, ""
        return "ok", str(state["device"] or ""), int(state["queued"] or 0), running, str(state["model"] or "")


# what each job-starting action does (tasks by name; the OSC server and MIDI add their own)
JOB_ACTIONS: dict[str, Callable[[Bridge, Call, Report, float], None]] = {
    **{name: Bridge.task_job for name in TASKS}, "live": Bridge.live_job, "reroll": Bridge.reroll_job}


def absolute(path: str) -> Path:
    """An input path from a patch: absolute (or from `~`). A relative one would be read from the
    bridge's working folder, which a patch cannot know: it is refused, saying so."""
    full = Path(path).expanduser()
    if not full.is_absolute():
        raise JobError("bad_file", f"input paths must be absolute (from / or ~), not {path!r}: the bridge would "
                                   "read it from its own working folder")
    return full


def no_tempo() -> JobError:
    return JobError("no_tempo", "a length in bars needs a tempo: send MIDI clock to the bridge or add `bpm 120`")


def engine_params(keys: dict[str, Any]) -> dict[str, Any]:
    """The optional keys that go to the engine, under the engine's names."""
    return {ENGINE_NAMES.get(k, k): v for k, v in keys.items() if k not in BRIDGE_KEYS}

