"""`daw-diffusion engine`: the model as a long-running ZeroMQ service.

One thread owns the socket (ROUTER, or a DEALER to a broker in worker mode) and never waits on
the model; one worker thread per device (`engine.service.worker`) runs jobs from a bounded queue
(`engine.service.jobs`) and hands events back over an inproc socket. Finished results are kept
(bounded bytes, TTL) so a client that disconnected can `fetch` them; a fetch of a running job
re-routes its remaining events to the fetching client. A job belongs to whoever holds the token
its `accepted` carried: `fetch` and `cancel` need it, and `status` names no job.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import zmq

from engine import __version__
from engine.clip import Clip
from engine.protocol import (
    CONTROL,
    HEARTBEAT,
    MAX_MESSAGE_BYTES,
    MAX_SECONDS,
    READY,
    SOCKET_BUFFER,
    VERSION,
    Message,
    ProtocolError,
    decode,
    encode,
    error_frames,
    make_header,
)
from engine.service.jobs import ABANDON_AFTER, Job, JobTable
from engine.service.ledger import CUT, Ledger
from engine.service.security import check_binding, curve_server
from engine.service.worker import work
from engine.tasks import TASKS

log = logging.getLogger("daw-diffusion.engine")


@dataclass(frozen=True)
class ServiceConfig:
    bind: str = "tcp://127.0.0.1:5557"
    connect: str | None = None  # worker mode: a broker's backend endpoint instead of binding
    queue_size: int = 8
    result_ttl: float = 600.0  # seconds a finished result waits for a fetch
    max_result_bytes: int = 512 * 2**20
    max_results: int = 1000  # finished jobs kept for a fetch (errors too), oldest dropped first
    abandon_after: float = ABANDON_AFTER  # seconds a queued job's owner may stay silent (jobs.py)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_seconds: float = MAX_SECONDS
    progress_interval: float = 0.1  # at most ten progress events a second per job
    curve_secret: Path | None = None  # server secret key file (zmq.auth format)
    curve_clients: Path | None = None  # folder of allowed client public keys
    insecure: bool = False
    heartbeat: float = 1.0  # worker mode
    shutdown_grace: float = 30.0  # seconds a running job may finish after SIGTERM


class EngineService:
    def __init__(self, pipeline: Any, config: ServiceConfig = ServiceConfig(),
                 context: zmq.Context | None = None) -> None:
        self.pipeline, self.config = pipeline, config
        self.context = context or zmq.Context.instance()
        self.table: JobTable[Job] = JobTable(config.queue_size, config.result_ttl, config.max_result_bytes,
                                             max_results=config.max_results, abandon_after=config.abandon_after)
        self.stopping = threading.Event()
        self.events_endpoint = f"inproc://engine-events-{uuid.uuid4().hex}"
        self.ready = threading.Event()
        self.ledger: Ledger | None = None  # what TCP peers hold in zmq's buffers (not behind a broker)

    @property
    def served(self) -> int:
        """Jobs that have ended (result, error or cancelled)."""
        return self.table.served

    # -- lifecycle ------------------------------------------------------------------------------
    def serve(self) -> None:
        """Run until `stop()`; returns after a clean shutdown."""
        c = self.config
        sock, auth = self.open_socket()  # fails early (address in use, insecure bind)
        self.sock = sock
        events = self.context.socket(zmq.PULL)
        events.bind(self.events_endpoint)
        self.workers = self.start_workers()
        self.ready.set()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(events, zmq.POLLIN)
        last_seen = last_beat = time.monotonic()
        try:
            while not self.stopping.is_set():
                ready = dict(poller.poll(100))
                if self.ledger:
                    self.ledger.on_monitor()
                if sock in ready:
                    frames = sock.recv_multipart(copy=False)  # audio stays in zmq's buffers
                    last_seen = time.monotonic()
                    if self.ledger:
                        self.ledger.on_message(frames)
                    self.handle(sock, frames)
                while events in ready and events.poll(0):
                    self.forward(sock, events.recv_multipart(copy=False))
                now = time.monotonic()
                if c.connect:
                    if now - last_beat >= c.heartbeat:
                        self.send(sock, HEARTBEAT, [])
                        last_beat = now
                    if now - last_seen > 3 * c.heartbeat:  # broker gone: reconnect (Paranoid Pirate)
                        log.warning("broker silent for %.1f s; reconnecting", now - last_seen)
                        poller.unregister(sock)
                        sock.close()
                        sock, _ = self.open_socket()
                        self.sock = sock
                        poller.register(sock, zmq.POLLIN)
                        last_seen = now
                if self.ledger:
                    for peer in self.ledger.look(now):  # an unfinished message over the limit
                        self.send(sock, peer, error_frames("", "too_large", CUT))
                self.table.expire(now)
            self.shut_down(sock, events)
        finally:
            self.stopping.set()
            for worker in self.workers:
                worker.join(timeout=c.shutdown_grace + 5)
            if self.ledger:
                self.ledger.close()
            sock.close(linger=0)
            events.close(linger=0)
            if auth is not None:
                auth.stop()

    def stop(self) -> None:
        self.stopping.set()

    def start_workers(self) -> list[threading.Thread]:
        """What runs the jobs: here one thread on the pipeline (the cluster mode hands them to
        Ray Serve replicas instead); each sends its events to `events_endpoint`."""
        worker = threading.Thread(target=work, name="engine-worker", daemon=True, args=(
            self.table, self.pipeline, self.context, self.events_endpoint, self.stopping,
            self.config.progress_interval))
        worker.start()
        return [worker]

    def open_socket(self) -> tuple[zmq.Socket, Any]:
        c = self.config
        sock = self.context.socket(zmq.DEALER if c.connect else zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, c.max_message_bytes)
        sock.setsockopt(zmq.SNDBUF, SOCKET_BUFFER)
        sock.setsockopt(zmq.RCVBUF, SOCKET_BUFFER)
        endpoint = c.connect or c.bind
        auth = None
        if c.curve_secret is not None:
            auth = curve_server(self.context, sock, c.curve_secret, c.curve_clients)
        elif not c.connect:
            check_binding(endpoint, c.insecure)
        if c.connect:
            sock.connect(endpoint)
            sock.send(READY)
        else:
            self.ledger = Ledger(sock, c.max_message_bytes, c.max_result_bytes)
            sock.bind(endpoint)
        log.info("engine %s on %s (%s)", "connected to broker" if c.connect else "listening", endpoint,
                 "CURVE" if auth else "no encryption")
        return sock, auth

    def shut_down(self, sock: zmq.Socket, events: zmq.Socket) -> None:
        """Cancel what is queued, give the running job a grace period, deliver final events."""
        for job in self.table.drain():
            self.table.finish(job, encode(make_header("cancelled", job.request_id, job=job.id,
                                                      reason="shutting down")))
            self.send(sock, job.peer, job.final or [])
        deadline = time.monotonic() + self.config.shutdown_grace
        while any(w.is_alive() for w in self.workers):  # they exit once nothing runs
            if time.monotonic() > deadline:
                with self.table.lock:
                    for running in self.table.running.values():
                        running.cancel.set()
            if events.poll(100):
                self.forward(sock, events.recv_multipart(copy=False))
        while events.poll(100):  # the worker's last words
            self.forward(sock, events.recv_multipart(copy=False))

    # -- requests -------------------------------------------------------------------------------
    def send(self, sock: zmq.Socket, peer: bytes, frames: Sequence[bytes | zmq.Frame]) -> None:
        """Never blocks the socket loop: a reply to a peer that is not reading is dropped (a
        job's result stays kept for a `fetch`)."""
        if self.ledger and not self.ledger.may_send(peer, frames):
            log.warning("dropped a reply: its peer has not read what it was sent")
            return
        try:
            sock.send_multipart([peer, *frames], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.warning("dropped a reply: the peer's queue is full")

    def handle(self, sock: zmq.Socket, frames: list[zmq.Frame]) -> None:
        if self.config.connect and len(frames) == 1 and frames[0].bytes.startswith(CONTROL):
            return  # broker heartbeat
        if len(frames) < 2:
            log.warning("dropped a message without a peer and a header")
            return
        peer, body = frames[0].bytes, frames[1:]
        request_id, job = "", {}
        try:
            if sum(len(f) for f in body) > self.config.max_message_bytes:
                raise ProtocolError("too_large", "message over the engine's size limit")
            message = decode(body, self.config.max_seconds)
            request_id, job = message.id, self.brokered_job(message)
            reply = getattr(self, f"on_{message.type}", None)
            if reply is None:
                raise ProtocolError("unknown_type", f"{message.type} is not a request")
            out = reply(peer, message)
        except ProtocolError as exc:
            out = error_frames(request_id, exc.code, str(exc), **job)
        except Exception:  # a bug met by one message must not end the service for everyone
            log.exception("unexpected error handling a %d-frame message; the engine keeps serving", len(body))
            out = error_frames(request_id, "failed", "the engine failed on this message (logged); it keeps serving",
                               **job)
        if out:
            self.send(sock, peer, out)

    def brokered_job(self, message: Message) -> dict[str, str]:
        """The job a broker's submit names: a refusal names it too, as the broker routes by job."""
        job = message.header.get("job")
        return {"job": job} if self.config.connect and message.type == "submit" and isinstance(job, str) else {}

    def on_ping(self, peer: bytes, message: Message) -> list[bytes]:
        return encode(make_header("pong", message.id))

    def on_status(self, peer: bytes, message: Message) -> list[bytes]:
        queued, done = self.table.counts()
        return encode(make_header(
            "status", message.id, version=__version__, protocol=VERSION, **self.describe(),
            queue={"queued": queued, "capacity": self.config.queue_size,
                   "running": len(self.table.running)},
            jobs={"served": self.served, "results_kept": done}))

    def describe(self) -> dict[str, Any]:
        """What runs the jobs, for `status`: the device and the model."""
        return self.pipeline.describe()

    def on_submit(self, peer: bytes, message: Message) -> list[bytes] | None:
        if self.stopping.is_set():
            raise ProtocolError("shutting_down", "the engine is shutting down")
        again = self.brokered_job(message).get("job")
        if again in self.table.jobs:  # a broker sent it again (this engine reconnected): resume it
            return self.resume(peer, message.id, self.table.find(again, str(message.header.get("token", ""))))
        task, params = message.header["task"], dict(message.header["params"])
        if task not in TASKS:
            raise ProtocolError("unknown_task", f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        names = TASKS[task].inputs
        check_inputs(task, names, message.audio)
        reserved = set(names) | {"progress", "cancel", "settings"} | ({"sample_rate"} if names else set())
        if reserved & set(params):
            raise ProtocolError("bad_parameter", f"parameters {sorted(reserved & set(params))} are set by the engine")
        params.update(message.audio)  # bound by name: the tasks take their inputs as keyword arguments
        job = Job(uuid.uuid4().hex[:16], peer, message.id, task, params)
        if self.config.connect and isinstance(message.header.get("job"), str):  # brokers name jobs
            job.id, job.token = message.header["job"], str(message.header.get("token", ""))
        position = self.table.add(job)
        log.info("job %s: %s accepted (position %d)", job.id, task, position)
        return encode(make_header("accepted", message.id, job=job.id, position=position, token=job.token))

    def on_cancel(self, peer: bytes, message: Message) -> list[bytes] | None:
        """A queued job ends now (its submitter hears `cancelled`); a running one stops within
        one sampler step (`pending: true`); a finished one answers with how it ended."""
        table = self.table
        job = table.find(message.header["job"], message.header["token"])
        with table.lock:
            if job in table.pending:
                table.pending.remove(job)
                table.finish(job, encode(make_header("cancelled", job.request_id, job=job.id)))
                if job.peer != peer:
                    self.send(self.sock, job.peer, job.final or [])
            elif job.state == "running":
                job.cancel.set()
                return encode(make_header("cancelled", message.id, job=job.id, pending=True))
        return job.final

    def on_fetch(self, peer: bytes, message: Message) -> list[bytes] | None:
        return self.resume(peer, message.id, self.table.find(message.header["job"], message.header["token"]))

    def resume(self, peer: bytes, request_id: str, job: Job) -> list[bytes] | None:
        """How `job` ended, or `accepted` with the rest of its events routed to `peer`."""
        table = self.table
        with table.lock:
            job.asked = time.monotonic()
            if job.state == "done":
                return job.final
            job.peer = peer
            position = 0 if job.state == "running" else list(table.pending).index(job) + 1
        return encode(make_header("accepted", request_id, job=job.id, position=position, token=job.token))

    # -- results --------------------------------------------------------------------------------
    def forward(self, sock: zmq.Socket, frames: list[zmq.Frame]) -> None:
        """An event from the worker: [job id, header, pcm...] -> to the job's current peer."""
        job = self.table.jobs.get(frames[0].bytes.decode())
        if job is not None:
            self.send(sock, job.peer, frames[1:])


def check_inputs(task: str, names: tuple[str, ...], audio: dict[str, Clip]) -> None:
    """Refuse audio that is not exactly the task's named inputs (duplicates never reach here:
    `decode` refuses them)."""
    unknown = [name for name in audio if name not in names]
    missing = [name for name in names if name not in audio]
    if unknown or missing:
        takes = f"audio {', '.join(repr(n) for n in names)}" if names else "no audio"
        problems = ([f"{', '.join(repr(n) for n in missing)} missing"] if missing else []) + \
                   ([f"no input named {', '.join(repr(n[:40]) for n in unknown)}"] if unknown else [])
        raise ProtocolError("bad_message", f"{task} takes {takes}: {'; '.join(problems)}")
