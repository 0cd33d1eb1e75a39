"""A job table: every request accepted, queued, running or finished, under one lock; the engine's,
the cluster's and the broker's (each with its own kind of job, all `Ticket`s).

Finished results are kept (bounded in bytes and in count, TTL) so that a client that disconnected can `fetch`
them. A job belongs to whoever holds the token its `accepted` carried.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Generic, TypeVar

from engine.protocol import ProtocolError, encode, make_header

ABANDON_AFTER = 300.0  # seconds a queued job waits for its owner to ask after it, once its turn comes


@dataclass
class Ticket:
    """What a table keeps of any job: its name, its owner's token, and once it ended its last event."""
    id: str
    _: KW_ONLY
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))  # what fetch and cancel must show
    state: str = "queued"  # queued, running, done
    final: list[bytes] | None = None
    expires: float = 0.0
    asked: float = field(default_factory=time.monotonic)  # when its owner last asked after it (submit, fetch)

    @property
    def size(self) -> int:
        return sum(len(f) for f in self.final or ())


@dataclass
class Job(Ticket):
    """An engine's job: a task it runs."""
    peer: bytes
    request_id: str
    task: str
    params: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)


T = TypeVar("T", bound=Ticket)


class JobTable(Generic[T]):
    """Jobs by id, the queue of those waiting and those running (at most `slots` at once: one per
    worker). `lock` guards all three (callers that read several of them at once hold it) and wakes
    a worker when a job arrives."""

    def __init__(self, queue_size: int, result_ttl: float, max_result_bytes: int, slots: int = 1,
                 max_results: int = 1000, abandon_after: float = ABANDON_AFTER) -> None:
        self.queue_size, self.result_ttl, self.max_result_bytes = queue_size, result_ttl, max_result_bytes
        self.slots, self.max_results, self.abandon_after = slots, max_results, abandon_after
        self.jobs: dict[str, T] = {}
        # finished jobs in the order they finished, which is the order they expire (one TTL for all)
        self.kept: collections.OrderedDict[str, T] = collections.OrderedDict()
        self.kept_bytes = 0
        self.pending: collections.deque[T] = collections.deque()
        self.lock = threading.Condition()
        self.running: dict[str, T] = {}
        self.served = 0

    def add(self, job: T) -> int:
        """Queue `job`; returns its place in line (1: it runs next, or at once in a free slot)."""
        with self.lock:
            if len(self.pending) >= self.queue_size:
                raise ProtocolError("busy", f"{len(self.pending)} jobs are waiting; try again later")
            if job.id in self.jobs:
                raise ProtocolError("bad_message", f"job {job.id} exists already")
            self.jobs[job.id] = job
            self.pending.append(job)
            self.lock.notify()
            return max(1, len(self.pending) + len(self.running) - self.slots + 1)

    def find(self, job_id: str, token: str) -> T:
        """The job, for the holder of its token; anyone else learns nothing, not even that it exists."""
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None or not secrets.compare_digest(job.token.encode(), token.encode()):
            raise ProtocolError("not_found", f"no job {job_id} for this token (unknown, or its result expired)")
        return job

    def counts(self) -> tuple[int, int]:
        """(jobs queued, results kept)."""
        with self.lock:
            return len(self.pending), len(self.kept)

    def next(self, wait: float) -> T | None:
        """The next queued job, now running; None when none came (or no slot was free) within
        `wait` seconds."""
        with self.lock:
            if len(self.running) >= self.slots or (job := self.next_pending()) is None:
                self.lock.wait(wait)
                return None
            job.state, self.running[job.id] = "running", job
            return job

    def next_pending(self) -> T | None:
        """The first queued job whose owner still asks after it, out of the queue; those nobody
        asked after for `abandon_after` seconds (a waiting client asks at least every time it
        hears nothing for its timeout) end `cancelled` on the way, kept for a late `fetch`."""
        with self.lock:
            now = time.monotonic()
            while self.pending:
                job = self.pending.popleft()
                if now - job.asked <= self.abandon_after:
                    return job
                self.finish(job, encode(make_header(
                    "cancelled", "", job=job.id, reason=f"nobody asked after it for {self.abandon_after:.0f} s")))
            return None

    def ended(self, job: T, final: list[bytes]) -> None:
        """A running job is over; `final` is its last event."""
        with self.lock:
            self.finish(job, final)
            del self.running[job.id]
            self.lock.notify()  # a slot is free

    def drain(self) -> list[T]:
        """Empty the queue; returns the jobs that were waiting."""
        with self.lock:
            queued, self.pending = list(self.pending), collections.deque()
        return queued

    def finish(self, job: T, final: list[bytes]) -> None:
        """`job` is over (queued, or running where nothing counts slots); `final` is its last event."""
        with self.lock:
            job.final, job.state = final, "done"
            job.expires = time.monotonic() + self.result_ttl
            self.served += 1
            self.kept[job.id] = job
            self.kept_bytes += job.size

    def expire(self, now: float) -> None:
        """Drop the oldest results while they are past their TTL or over the byte or count
        budget: each turn costs only what it drops."""
        with self.lock:
            while self.kept:
                oldest = next(iter(self.kept.values()))
                over = self.kept_bytes > self.max_result_bytes or len(self.kept) > self.max_results
                if oldest.expires > now and not over:
                    break
                self.kept.popitem(last=False)
                self.kept_bytes -= oldest.size
                del self.jobs[oldest.id]
