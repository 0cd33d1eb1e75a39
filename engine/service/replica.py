"""One engine replica of the cluster mode: a Ray Serve deployment that loads the `Pipeline` once
and runs one job at a time as a stream of events: `started` (where: process, node, device), then
`progress` events, then the job's `Outcome`.

A cancelled stream (the client's `cancel`, or the front going away) stops the job at its next
sampler step, and the replica takes no other job until it has. Torch loads inside the replica
only: the front (`engine.service.cluster`) imports this module for the class, not the model.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator

import ray

from engine.service.worker import Outcome, run_pipeline, throttled


def load(checkpoint: str | None, device: str, threads: int) -> Any:
    import torch

    from engine.pipeline import Pipeline

    torch.set_num_threads(max(1, threads))  # the CPUs Ray reserved for this replica
    return Pipeline.from_checkpoint(checkpoint, device=device)


class EngineReplica:
    """Deployed by `engine.service.cluster.deploy` (`max_ongoing_requests=1`: one job each)."""

    def __init__(self, checkpoint: str | None, device: str, threads: int) -> None:
        # All torch work on one thread of its own: each thread that runs torch gets an OpenMP
        # team, and with more teams than cores libgomp stops its workers spinning between
        # parallel regions (2.3x slower jobs; see engine/service/commands.py).
        self.torch_thread = ThreadPoolExecutor(1, thread_name_prefix="replica-torch")
        self.pipeline = self.torch_thread.submit(load, checkpoint, device, threads).result()
        self.where = {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                      **self.pipeline.describe()}

    def describe(self) -> dict[str, Any]:
        """Where this replica runs and what it holds (process, node, device, model)."""
        return self.where

    async def run(self, task: str, params: dict[str, Any], progress_interval: float) -> AsyncIterator[Any]:
        """The job's events: `{"type": "started", ...where}`, `{"type": "progress", "fraction",
        "stage"}`..., then its Outcome. The pipeline runs in a thread so that a cancelled stream
        reaches this coroutine at once."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        cancel = threading.Event()

        def progress(fraction: float, stage: str) -> None:
            loop.call_soon_threadsafe(events.put_nowait, {"type": "progress", "fraction": fraction, "stage": stage})

        def compute() -> Outcome:
            try:
                return run_pipeline(self.pipeline, task, params, throttled(progress, progress_interval), cancel.is_set)
            finally:
                loop.call_soon_threadsafe(events.put_nowait, None)

        yield {"type": "started", **self.where}
        running = loop.run_in_executor(self.torch_thread, compute)
        try:
            while (event := await events.get()) is not None:
                yield event
            yield await running
        finally:  # also when the stream was cancelled: stop the job, and take no other before it stopped
            cancel.set()
            await asyncio.wait([running])
