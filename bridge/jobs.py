"""One job, from a request to files on disk: read the source slices, run the task on the engine,
save every render. Shared by the `render` command, the OSC server, MIDI and live audio.

Every way a job can end badly is a `JobError` with a short code and a sentence for a musician;
each step reaches the caller as a typed event (`bridge.events`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bridge.audiofile import (
    AudioFileError,
    check_writable,
    output_format,
    read_audio,
    slice_shape,
    source_subtype,
    write_audio,
)
from bridge.errors import BridgeError
from bridge.events import Accepted, Done, Progress, Report, ending, ignore
from bridge.store import RenderStore
from engine.client import EngineClient, EngineUnreachable, renders
from engine.clip import Clip
from engine.errors import EngineError
from engine.protocol import MAX_SECONDS, VERSION, ProtocolError, check_audio_size
from engine.tasks import TASKS

SERVE_HINT = "start it with `daw-diffusion serve`"  # what to do when no engine answers


class JobError(BridgeError):
    """A job that cannot start or did not end well (`code`: bad_file, busy, cancelled, ...)."""


@dataclass(frozen=True)
class Source:
    """A slice of a file, as a DAW item plays it: `offset` and `length` in seconds."""

    path: Path
    offset: float = 0.0
    length: float | None = None

    def read(self) -> Clip:
        return Clip(*read_audio(self.path, self.offset, self.length))


@dataclass(frozen=True)
class Request:
    task: str                                   # an engine task name
    params: dict[str, Any] = field(default_factory=dict)  # engine parameters, flat
    sources: tuple[Source, ...] = ()
    audio: tuple[Clip, ...] = ()                 # audio already in memory (live input), instead of sources
    tag: str = ""
    out_dir: Path | None = None                 # the store's folder unless given
    output: Path | None = None                  # an exact file name instead of a store name
    subtype: str | None = None                  # the results' sample format (FLOAT, PCM_24, PCM_16); None: the source's
    owner: str = ""                             # whose tag it is (an OSC client's reply address); tags are per owner

    def inputs(self) -> dict[str, Clip]:
        """The task's audio inputs by name (the task table's), in the order given."""
        names = TASKS[self.task].inputs
        if self.audio:
            if len(self.audio) != len(names):
                raise JobError("bad_arguments", f"{self.task} needs {len(names)} clip(s), got {len(self.audio)}")
            return dict(zip(names, self.audio))
        if len(self.sources) != len(names):
            raise JobError("bad_arguments", f"{self.task} needs {len(names)} audio file(s), got {len(self.sources)}")
        try:
            # too big to send: say so before decoding (slice_shape checks each is a file, first)
            check_audio_size([slice_shape(s.path, s.offset, s.length) for s in self.sources])
            return {name: source.read() for name, source in zip(names, self.sources)}
        except (AudioFileError, ProtocolError, EngineError) as exc:  # EngineError: a rate no clip can have
            raise JobError(exc.code, str(exc)) from None

    def output_bytes(self) -> int:
        """About what the results will take on disk (float32), for the free-space check."""
        shapes = []
        for source in self.sources:
            try:
                shapes.append(slice_shape(source.path, source.offset, source.length))
            except AudioFileError:
                pass  # reading it will say what is wrong
        frames = max([c * f for c, f, _ in shapes] or [0])
        rate = max([r for *_, r in shapes] or [int(self.params.get("sample_rate", 48_000))])
        seconds = min(float(self.params.get("seconds", 0.0)), MAX_SECONDS)  # longer: the engine refuses it
        extra = seconds * rate * max(2, int(self.params.get("channels", 2)))
        return int(4 * (frames + extra) * int(self.params.get("n_variations", 1)))

    def outputs(self, count: int) -> list[Path] | None:
        if self.output is None:
            return None
        if count == 1:
            return [self.output]
        return [self.output.with_name(f"{self.output.stem}-v{k + 1}{self.output.suffix}") for k in range(count)]


@dataclass(frozen=True)
class Rendered:
    path: Path
    clip: Clip = field(repr=False, compare=False)  # what was written, [channels, samples] at its rate
    seed: int | None
    info: dict[str, Any] = field(default_factory=dict)  # the engine's report: tempo, bars, snapped regions


@dataclass
class Finished:
    job: str
    renders: list[Rendered]
    compute_seconds: float


CANCEL_GRACE = 5.0  # seconds the engine has to confirm a cancel before the job is given up here


@dataclass
class Running:
    request: Request
    job: str | None = None
    token: str = ""  # the engine's proof that this job is ours (for cancel and fetch)
    cancelled_at: float | None = None  # when the user cancelled (monotonic)

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def give_up(self) -> bool:
        """A cancel the engine has not confirmed in time (it died, or is stuck in one step)."""
        return self.cancelled_at is not None and time.monotonic() - self.cancelled_at > CANCEL_GRACE


class Jobs:
    """Runs requests on the engine, several at once (each in its caller's thread), at most
    `max_active`; a tag names a running job so that it can be cancelled."""

    def __init__(self, client: EngineClient, store: RenderStore, max_active: int = 16,
                 engine_hint: str = SERVE_HINT) -> None:
        self.client, self.store, self.max_active = client, store, max_active
        self.engine_hint = engine_hint  # what to do when the engine does not answer
        self.lock = threading.Lock()
        self.active: dict[tuple[str, str], Running] = {}  # by (owner, tag)
        self.finished: deque[tuple[Request, list[Rendered]]] = deque(maxlen=2)  # for `reroll` and `blend`
        self.heard = -1e9  # when the engine last answered

    def run(self, request: Request, on_event: Report = ignore) -> Finished:
        """Claim and run; every step, and how it ended (refused too), goes to `on_event`."""
        try:
            running = self.register(request)
        except BaseException as exc:
            on_event(ending(request.tag, exc))
            raise
        return self.wait(running, on_event)

    def register(self, request: Request) -> Running:
        """Claim the request's tag (and a slot) now; `wait` then runs it."""
        if request.task not in TASKS:
            raise JobError("unknown_task", f"unknown task {request.task!r}; choose one of {', '.join(TASKS)}")
        exact = request.outputs(int(request.params.get("n_variations", 1)))
        try:  # a name or sample format that cannot be written is refused before any work
            output_format(exact[0] if exact else "render.wav", request.subtype)
        except AudioFileError as exc:
            raise JobError("bad_arguments", str(exc)) from None
        for path in exact or ():
            try:
                taken = path.exists()
            except OSError as exc:  # e.g. a name longer than the file system allows
                raise JobError("bad_file", f"cannot write {path.name[:60]}{'…' if len(path.name) > 60 else ''}: "
                                           f"{(exc.strerror or str(exc)).lower()}") from None
            if taken:
                raise JobError("bad_file", f"{path}: already exists; daw-diffusion never overwrites files")
        try:
            check_writable(exact[0].parent if exact else (request.out_dir or self.store.folder), request.output_bytes())
        except AudioFileError as exc:
            raise JobError(exc.code, str(exc)) from None
        with self.lock:
            if (request.owner, request.tag) in self.active:
                raise JobError("duplicate_tag", f"a job tagged {request.tag!r} is still running; use another tag")
            if len(self.active) >= self.max_active:
                raise JobError("busy", f"{len(self.active)} jobs are running already; wait for one to finish")
            running = self.active[request.owner, request.tag] = Running(request)
        return running

    def wait(self, running: Running, on_event: Report = ignore) -> Finished:
        """Run a registered job: `Accepted`, `Progress`..., then a `Done` per render, or one
        `Cancelled` or `Failed` (and the error raised)."""
        tag, key = running.request.tag, (running.request.owner, running.request.tag)
        try:
            outcome = self.execute(running.request, running, on_event)
        except BaseException as exc:  # a bug or an interrupt, too, is still an answer
            self.release(key)
            on_event(ending(tag, exc))
            raise
        self.release(key)  # before the news: a client may reuse the tag the moment it hears
        for render in outcome.renders:
            on_event(Done(tag, str(render.path), render.clip.seconds, render.clip))
        return outcome

    def release(self, key: tuple[str, str]) -> None:
        with self.lock:
            self.active.pop(key, None)

    def execute(self, request: Request, running: Running, on_event: Report) -> Finished:
        audio = request.inputs()
        # fail fast rather than after the client's retries (no need when the engine spoke just now)
        if time.monotonic() - self.heard > 2.0 and not self.client.pinged(min(2.0, self.client.timeout)):
            raise JobError("unreachable", self.unreachable())
        try:
            for message in self.client.submit(request.task, request.params, audio, give_up=running.give_up):
                self.heard = time.monotonic()
                if message.type == "accepted":
                    running.job, running.token = message.header["job"], message.header.get("token", "")
                    on_event(Accepted(request.tag, int(message.header["position"])))
                    if running.cancelled:  # cancelled before the engine named the job
                        self.client.cancel(running.job, running.token)
                elif message.type == "progress":
                    on_event(Progress(request.tag, float(message.header["fraction"]), str(message.header["stage"])))
                elif message.type == "error":
                    if running.cancelled and message.header["code"] == "engine_lost":
                        raise JobError("cancelled", "the job was cancelled (its engine had gone)")
                    raise JobError(message.header["code"], message.header["message"])
                elif message.type == "cancelled":
                    raise JobError("cancelled", "the job was cancelled")
                elif message.type == "result":
                    renders = self.save(request, message)
                    with self.lock:
                        self.finished.append((request, renders))
                    return Finished(message.header["job"], renders, float(message.header.get("compute_seconds", 0.0)))
        except EngineUnreachable:
            if running.cancelled:
                raise JobError("cancelled", "the job was cancelled (the engine had stopped answering)") from None
            raise JobError("unreachable", self.unreachable()) from None
        except ProtocolError as exc:
            raise JobError(exc.code, str(exc)) from None
        raise JobError("failed", "the engine ended the job without a result")

    def unreachable(self) -> str:
        return f"the engine at {self.client.endpoint} is not answering; {self.engine_hint}"

    def save(self, request: Request, message: Any) -> list[Rendered]:
        results = renders(message)
        exact = request.outputs(len(results))
        fallback = source_subtype(request.sources[0].path) if request.sources else None
        saved = []
        try:
            for k, (clip, about) in enumerate(results):
                if exact:
                    path = write_audio(exact[k], clip.samples, clip.rate, request.subtype, fallback)
                else:
                    tag = request.tag if len(results) == 1 else f"{request.tag}_v{k + 1}"
                    path = self.store.save(clip.samples, clip.rate, TASKS[request.task].file_tag, tag, request.out_dir,
                                           request.subtype, fallback)
                info = {key: value for key, value in about.items() if key != "seed"}
                saved.append(Rendered(path.resolve(), clip, about.get("seed"), info))
        except AudioFileError as exc:
            raise JobError(exc.code, str(exc)) from None
        return saved

    def cancel(self, tag: str, owner: str = "") -> bool:
        """Ask the engine to stop `owner`'s job tagged `tag`; False if no such job runs here."""
        with self.lock:
            running = self.active.get((owner, tag))
            if running is None:
                return False
            if running.cancelled_at is None:
                running.cancelled_at = time.monotonic()
            job, token = running.job, running.token
        if job is not None:
            try:
                self.client.cancel(job, token)
            except (EngineUnreachable, ProtocolError):
                pass  # its own wait ends it: confirmed, lost, or given up after CANCEL_GRACE
        return True

    def cancel_all(self) -> int:
        with self.lock:
            keys = list(self.active)
        return sum(self.cancel(tag, owner) for owner, tag in keys)

    def recent(self) -> list[Rendered]:
        """The first render of each of the last two finished jobs, oldest first."""
        with self.lock:
            return [renders[0] for _, renders in self.finished]

    def reroll(self, tag: str, owner: str = "") -> Request:
        """The last finished request again with a new seed (its seed + 1, or a random one)."""
        with self.lock:
            if not self.finished:
                raise JobError("not_found", "nothing to re-roll yet: run a job first")
            request, renders = self.finished[-1]
        seed = renders[0].seed
        seed = seed + len(renders) if seed is not None else random.randrange(2**31)
        return replace(request, tag=tag, owner=owner, params={**request.params, "seed": seed}, output=None)


START_HINT = f"{SERVE_HINT} (or check the engine endpoint)"


def check_engine(client: EngineClient, endpoint: str) -> dict[str, Any]:
    """The engine's state, or a JobError when it does not answer or speaks another protocol."""
    try:
        header = client.status()
    except EngineUnreachable as exc:
        raise JobError("unreachable", f"the engine at {endpoint} is not answering ({exc}); {START_HINT}") from None
    if header.get("protocol") != VERSION:
        raise JobError("bad_version", f"the engine at {endpoint} speaks protocol {header.get('protocol')!r}, this "
                                      f"daw-diffusion {VERSION!r}: install the same version of both")
    queue, model = header.get("queue"), header.get("model") or {}
    if not isinstance(queue, dict):  # a broker: its own queue, and no one model
        queue = {"queued": queue, "running": header.get("running")}
    return {"engine": endpoint, "version": header.get("version"), "protocol": VERSION,
            "model": model.get("name"), "device": header.get("device"), "queued": queue.get("queued"),
            "running": queue.get("running"), "capacity": queue.get("capacity")}


def summary(state: dict[str, Any]) -> str:
    """One line for a job window: what runs the job and what is ahead of it."""
    runs = " on ".join(str(state[k]) for k in ("model", "device") if state.get(k) is not None)
    of = f" (of {state['capacity']})" if state.get("capacity") is not None else ""
    return (f"engine {state['version']}{', model ' + runs if runs else ''}; "
            f"{state['queued']} queued{of}, {state['running']} running")
