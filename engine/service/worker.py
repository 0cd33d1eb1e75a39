"""The engine's worker: one thread per device runs queued jobs on the pipeline and hands every
event (`[job id, header, pcm...]`) back to the socket loop over an inproc PUSH socket, so the
socket loop never waits on the model."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import zmq

from engine.clip import Clip
from engine.errors import Cancelled, EngineError
from engine.protocol import encode, error_frames, make_header, render_name
from engine.service.jobs import Job, JobTable

log = logging.getLogger("daw-diffusion.engine")


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
    """One job on the pipeline; sends its progress (at most one event per `progress_interval`
    seconds) and returns its final event: result, cancelled or error."""
    last = [0.0]

    def progress(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] >= progress_interval or fraction >= 1:
            last[0] = now
            events.send_multipart([job.id.encode(), *progress_frames(job, fraction, stage)])

    started = time.perf_counter()
    try:
        renders = pipeline.run(job.task, progress=progress, cancel=job.cancel.is_set, **job.params)
    except Cancelled:
        log.info("job %s cancelled", job.id)
        return encode(make_header("cancelled", job.request_id, job=job.id))
    except EngineError as exc:
        log.info("job %s refused: %s", job.id, exc)
        return error_frames(job.request_id, exc.code, str(exc), job=job.id)
    except Exception as exc:  # a bug or an exhausted device: report it, keep serving
        log.exception("job %s failed", job.id)
        return error_frames(job.request_id, "failed", f"{type(exc).__name__}: {exc}", job=job.id)
    finally:
        job.params.clear()  # free the input audio
    compute = time.perf_counter() - started
    log.info("job %s done in %.2f s", job.id, compute)
    return result_frames(job, [(Clip(r.audio, r.sample_rate), {"seed": r.seed, **r.info}) for r in renders], compute)


def progress_frames(job: Job, fraction: float, stage: str) -> list[bytes]:
    return encode(make_header("progress", job.request_id, job=job.id, fraction=round(fraction, 4), stage=stage))


def result_frames(job: Job, renders: list[tuple[Clip, dict[str, Any]]], compute: float) -> list[bytes]:
    """A job's `result`: each render's audio and what it used (its seed, tempo, bars)."""
    return encode(make_header("result", job.request_id, job=job.id, compute_seconds=round(compute, 6),
                              renders=[about for _, about in renders]),
                  {render_name(k): clip for k, (clip, _) in enumerate(renders)})
