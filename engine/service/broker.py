"""`daw-diffusion broker`: several engines behind one endpoint (the ZeroMQ guide's load
balancing broker with Paranoid Pirate heartbeats). Clients talk to it exactly as to one engine;
engines connect to its backend with `daw-diffusion engine --connect`.

The broker names every job, keeps each submit until the job has ended (in the engine's kind of
job table, `engine.service.jobs`), hands jobs to the least busy live engine, and when an engine
stops heartbeating gives its jobs to another one (or, when none is left for `orphan_timeout`
seconds, answers `engine_lost`). Torch-free.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from engine import __version__
from engine.protocol import (
    CONTROL,
    FINAL,
    HEARTBEAT,
    MAX_HEADER_BYTES,
    MAX_MESSAGE_BYTES,
    READY,
    VERSION,
    ProtocolError,
    decode,
    encode,
    error_frames,
    make_header,
)
from engine.service.jobs import ABANDON_AFTER, JobTable, Ticket
from engine.service.ledger import CUT, Ledger
from engine.service.security import check_binding, curve_server

log = logging.getLogger("daw-diffusion.broker")


@dataclass(frozen=True)
class BrokerConfig:
    frontend: str = "tcp://127.0.0.1:5557"  # clients
    backend: str = "tcp://127.0.0.1:5558"  # engines
    heartbeat: float = 1.0
    liveness: int = 3  # heartbeats missed before an engine counts as dead
    per_engine: int = 2  # jobs in flight per engine (the rest wait here)
    queue_size: int = 64
    orphan_timeout: float = 10.0  # seconds a job waits when no engine is alive
    result_ttl: float = 600.0  # seconds a finished job's last event waits for a fetch
    max_result_bytes: int = 512 * 2**20  # at most this much of them kept, oldest dropped first
    max_results: int = 1000
    abandon_after: float = ABANDON_AFTER  # seconds a queued job's owner may stay silent (jobs.py)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    curve_secret: Path | None = None
    curve_clients: Path | None = None
    insecure: bool = False


@dataclass
class Engine:
    id: bytes
    expires: float
    jobs: set[str] = field(default_factory=set)


@dataclass
class BrokeredJob(Ticket):
    client: bytes
    request: list[bytes]  # the submit, with the job id and token written into its header
    engine: bytes | None = None
    waiting_since: float = field(default_factory=time.monotonic)


class Broker:
    def __init__(self, config: BrokerConfig = BrokerConfig(), context: zmq.Context | None = None) -> None:
        self.config = config
        self.context = context or zmq.Context.instance()
        self.engines: dict[bytes, Engine] = {}
        # jobs by id, and those waiting for an engine (`pending`): no slots, engines take them
        self.table: JobTable[BrokeredJob] = JobTable(config.queue_size, config.result_ttl, config.max_result_bytes,
                                                     max_results=config.max_results, abandon_after=config.abandon_after)
        self.running = True

    def stop(self) -> None:
        self.running = False

    def serve(self) -> None:
        c = self.config
        front = self.context.socket(zmq.ROUTER)
        back = self.context.socket(zmq.ROUTER)
        auth = None
        for sock in (front, back):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, c.max_message_bytes)
        if c.curve_secret is not None:
            auth = curve_server(self.context, front, c.curve_secret, c.curve_clients)
        else:
            check_binding(c.frontend, c.insecure)
        check_binding(c.backend, c.insecure)
        self.ledger = Ledger(front, c.max_message_bytes, c.max_result_bytes)
        front.bind(c.frontend)
        back.bind(c.backend)
        log.info("broker: clients on %s, engines on %s", c.frontend, c.backend)
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(back, zmq.POLLIN)
        next_beat = time.monotonic()
        try:
            while self.running:
                ready = dict(poller.poll(100))
                if back in ready:
                    self.from_engine(front, back.recv_multipart())
                self.ledger.on_monitor()
                if front in ready:
                    frames = front.recv_multipart(copy=False)
                    self.ledger.on_message(frames)
                    self.from_client(front, back, [f.bytes for f in frames])
                now = time.monotonic()
                for client in self.ledger.look(now):  # an unfinished message over the limit
                    self.to_client(front, client, error_frames("", "too_large", CUT))
                if now >= next_beat:
                    for engine in self.engines:
                        back.send_multipart([engine, HEARTBEAT])
                    next_beat = now + c.heartbeat
                self.purge(front, now)
                self.dispatch(back)
        finally:
            self.ledger.close()
            front.close(linger=0)
            back.close(linger=0)
            if auth is not None:
                auth.stop()

    # -- clients --------------------------------------------------------------------------------
    def from_client(self, front: zmq.Socket, back: zmq.Socket, frames: list[bytes]) -> None:
        if len(frames) < 2:
            return
        client, body = frames[0], frames[1:]
        request_id = ""
        try:
            message = decode(body)
            request_id = message.id
            kind = message.type
            if kind == "ping":
                reply = encode(make_header("pong", request_id))
            elif kind == "status":
                reply = encode(make_header("status", request_id, version=__version__, protocol=VERSION,
                                           engines=len(self.engines), queue=len(self.table.pending),
                                           running=sum(len(e.jobs) for e in self.engines.values())))
            elif kind == "submit":
                reply = self.submit(client, message.header, body)
            elif kind in ("cancel", "fetch"):
                reply = self.job_request(front, back, client, kind, message.header, body)
            else:
                raise ProtocolError("unknown_type", f"{kind} is not a request")
        except ProtocolError as exc:
            reply = error_frames(request_id, exc.code, str(exc))
        except Exception:  # a bug met by one message must not end the broker for everyone
            log.exception("unexpected error handling a client's message; the broker keeps serving")
            reply = error_frames(request_id, "failed", "the broker failed on this message (logged); it keeps serving")
        if reply:
            self.to_client(front, client, reply)

    def to_client(self, front: zmq.Socket, client: bytes, frames: list[bytes]) -> None:
        """A reply to a client that has not read what it was sent is dropped (its job's last
        event stays kept for a `fetch`)."""
        if self.ledger.may_send(client, frames):
            front.send_multipart([client, *frames])
        else:
            log.warning("dropped a reply: its client has not read what it was sent")

    def submit(self, client: bytes, header: dict, body: list[bytes]) -> list[bytes]:
        job = BrokeredJob(uuid.uuid4().hex[:16], client, [])
        job.request = [json.dumps(dict(header, job=job.id, token=job.token), separators=(",", ":")).encode(), *body[1:]]
        if len(job.request[0]) > MAX_HEADER_BYTES:  # named, it is longer: no engine would read it
            raise ProtocolError("too_large", f"header of {len(job.request[0])} bytes with the job's name and token; "
                                             f"at most {MAX_HEADER_BYTES}")
        position = self.table.add(job)
        return encode(make_header("accepted", header.get("id", ""), job=job.id, position=position, token=job.token))

    def job_request(self, front: zmq.Socket, back: zmq.Socket, client: bytes, kind: str,
                    header: dict, body: list[bytes]) -> list[bytes]:
        job = self.table.find(header["job"], header["token"])
        job.asked = time.monotonic()
        if job.final is not None:
            return job.final
        if kind == "fetch":
            job.client = client  # the rest of its events go here
            return encode(make_header("accepted", header.get("id", ""), job=job.id, position=0, token=job.token))
        if job in self.table.pending:  # cancel before any engine saw it
            self.table.pending.remove(job)
            final = encode(make_header("cancelled", "", job=job.id))
            self.finish(job, final)
            if job.client != client:
                self.to_client(front, job.client, final)
            return final
        back.send_multipart([job.engine, job.client, *body])  # type: ignore[list-item]  # a dispatched job
        return encode(make_header("cancelled", header.get("id", ""), job=job.id, pending=True))

    # -- engines --------------------------------------------------------------------------------
    def from_engine(self, front: zmq.Socket, frames: list[bytes]) -> None:
        engine_id = frames[0]
        c = self.config
        engine = self.engines.get(engine_id)
        if len(frames) == 2 and frames[1] == READY:
            log.info("engine %s ready", engine_id.hex())
            self.engines[engine_id] = Engine(engine_id, time.monotonic() + c.liveness * c.heartbeat)
            return
        if engine is None:
            return  # an engine we declared dead, or a stray peer
        engine.expires = time.monotonic() + c.liveness * c.heartbeat
        if len(frames) < 3 or frames[1].startswith(CONTROL):
            return
        try:
            header = json.loads(frames[2])
            job = self.table.jobs.get(str(header.get("job")))
        except (ValueError, RecursionError, AttributeError):  # not a JSON object: not a reply
            return
        if job is None or job.engine != engine_id or header.get("pending"):
            return  # stale, or the engine's acknowledgement of a cancel we already answered
        self.to_client(front, job.client, frames[2:])
        if header.get("type") in FINAL:
            engine.jobs.discard(job.id)
            self.finish(job, frames[2:])

    def dispatch(self, back: zmq.Socket) -> None:
        while self.table.pending:
            live = [e for e in self.engines.values() if len(e.jobs) < self.config.per_engine]
            if not live or (job := self.table.next_pending()) is None:
                return
            engine = min(live, key=lambda e: len(e.jobs))
            job.engine, job.state = engine.id, "running"
            engine.jobs.add(job.id)
            back.send_multipart([engine.id, job.client, *job.request])

    def purge(self, front: zmq.Socket, now: float) -> None:
        for engine in [e for e in self.engines.values() if e.expires < now]:
            log.warning("engine %s stopped heartbeating; %d job(s) go to another engine",
                        engine.id.hex(), len(engine.jobs))
            del self.engines[engine.id]
            for job_id in engine.jobs:
                job = self.table.jobs[job_id]
                job.engine, job.state, job.waiting_since = None, "queued", now
                self.table.pending.appendleft(job)
        if not self.engines:
            for job in [j for j in self.table.pending if now - j.waiting_since > self.config.orphan_timeout]:
                self.table.pending.remove(job)
                final = error_frames("", "engine_lost", "no engine is left to run this job", job=job.id)
                self.finish(job, final)
                self.to_client(front, job.client, final)
        self.table.expire(now)

    def finish(self, job: BrokeredJob, final: list[bytes]) -> None:
        job.request = []
        self.table.finish(job, final)
