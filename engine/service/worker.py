"""The engine's worker: one thread per device runs queued jobs on the pipeline and hands every
event (`[job id, header, pcm...]`) back to the socket loop over an inproc PUSH socket, so the
socket loop never waits on the model. `run_pipeline` and `Outcome` are shared with the cluster
mode's replicas (`engine.service.replica`), so a job ends the same way wherever it ran."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import zmq

from engine.clip import Clip
from engine.errors import EngineError, JobCancelled
from engine.protocol import encode, error_frames, make_header, render_name
from engine.service.jobs import Job, JobTable

log = logging.getLogger("daw-diffusion.engine")


@dataclass
class Outcome:
    """How a job ended: `result` (renders: audio and what it used), `cancelled` or `error` (code,
    message). Torch-free, so it can travel from a replica to the cluster's front."""

    type: str
    renders: list[tuple[Clip, dict[str, Any]]] = field(default_factory=list)
    compute_seconds: float = 0.0
    code: str = ""
    message: str = ""


def work(table: JobTable, pipeline: Any, context: zmq.Context, endpoint: str, stopping: threading.Event,
         progress_interval: float) -> None:
    """Run jobs until `stopping` is set and nothing runs."""
    events = context.socket(zmq.PUSH)
    events.connect(endpoint)
    try:
        while not stopping.is_set() or table.running:
            job = table.next(0.2)
            if job is None:
                continue
            final = run_job(pipeline, job, events, progress_interval)
            table.ended(job, final)
            events.send_multipart([job.id.encode(), *final], copy=False)
    finally:
        events.close(linger=1000)


def run_job(pipeline: Any, job: Job, events: zmq.Socket, progress_interval: float) -> list[bytes]:
    """One job on the pipeline; sends its progress and returns its final event."""
    def progress(fraction: float, stage: str) -> None:
        events.send_multipart([job.id.encode(), *progress_frames(job, fraction, stage)])

    try:
        outcome = run_pipeline(pipeline, job.task, job.params, throttled(progress, progress_interval), job.cancel.is_set)
    finally:
        job.params.clear()  # free the input audio
    log.info("job %s: %s%s", job.id, outcome.type, f" in {outcome.compute_seconds:.2f} s" if outcome.renders else
             f" ({outcome.code}: {outcome.message})" if outcome.code else "")
    return final_frames(job, outcome)


def run_pipeline(pipeline: Any, task: str, params: dict[str, Any], progress: Callable[[float, str], None],
                 cancel: Callable[[], bool]) -> Outcome:
    """`task` on `params`; whatever happens, an Outcome (a refusal is the caller's typed error, a
    bug or an exhausted device is `failed`: the engine keeps serving)."""
    started = time.perf_counter()
    try:
        renders = pipeline.run(task, progress=progress, cancel=cancel, **params)
    except JobCancelled:
        return Outcome("cancelled")
    except EngineError as exc:
        return Outcome("error", code=exc.code, message=str(exc))
    except Exception as exc:
        log.exception("a job failed")
        return Outcome("error", code="failed", message=f"{type(exc).__name__}: {exc}")
    return Outcome("result", [(Clip(r.audio, r.sample_rate), {"seed": r.seed, **r.info}) for r in renders],
                   time.perf_counter() - started)


def throttled(progress: Callable[[float, str], None], interval: float) -> Callable[[float, str], None]:
    """`progress` at most once per `interval` seconds (and always at the end)."""
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or fraction >= 1:
            last[0] = now
            progress(fraction, stage)

    return report


def progress_frames(job: Job, fraction: float, stage: str) -> list[bytes]:
    return encode(make_header("progress", job.request_id, job=job.id, fraction=round(fraction, 4), stage=stage))


def final_frames(job: Job, outcome: Outcome) -> list[bytes]:
    """A job's last event: `result` (each render's audio, named `render_k`, and what it used),
    `cancelled` or `error`."""
    if outcome.type == "cancelled":
        return encode(make_header("cancelled", job.request_id, job=job.id))
    if outcome.type == "error":
        return error_frames(job.request_id, outcome.code, outcome.message, job=job.id)
    return encode(make_header("result", job.request_id, job=job.id, compute_seconds=round(outcome.compute_seconds, 6),
                              renders=[about for _, about in outcome.renders]),
                  {render_name(k): clip for k, (clip, _) in enumerate(outcome.renders)})
