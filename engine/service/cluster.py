"""`daw-diffusion cluster`: the engine's ZeroMQ endpoint, with its jobs run by Ray Serve replicas.

The front is the engine service itself (`EngineService`: the socket, CURVE, the job table, kept
results, `fetch`, `cancel`, limits, typed errors), so clients cannot tell it from one engine.
Only what runs a job differs: instead of a worker thread on a local pipeline, one dispatcher
thread per replica slot streams each job from a replica (`engine.service.replica`), forwarding
its progress. A cancel cancels the stream (the replica stops at its next sampler step); a
replica that dies mid-job has the job run again on another, up to `retries` times, then the
client gets `engine_lost`. Serve places replicas on nodes with the CPUs or GPUs asked for and
scales their number between a minimum and a maximum by the jobs in flight.

Ray is imported here and in the replica only: a single-machine install never needs it.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import ray
import zmq
from ray import serve
from ray.exceptions import NodeDiedError, RayActorError, TaskCancelledError, WorkerCrashedError
from ray.serve.exceptions import ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle

from engine.clip import Clip
from engine.protocol import error_frames
from engine.service.engine import EngineService, ServiceConfig
from engine.service.jobs import Job, JobTable
from engine.service.replica import EngineReplica
from engine.service.worker import Outcome, final_frames, progress_frames

log = logging.getLogger("daw-diffusion.cluster")

DEPLOYMENT = "engine"
REPLICA_LOST = (RayActorError, ReplicaUnavailableError, WorkerCrashedError, NodeDiedError)  # the job may run again


@dataclass(frozen=True)
class ClusterConfig:
    address: str = "auto"  # the Ray cluster (`ray start --head` prints it)
    app: str = "daw-diffusion"  # the Serve application's name
    checkpoint: Path | None = None  # on every node at this path (default: each node's bundled model)
    device: str = "auto"  # inside a replica: its GPU when it has one, else the CPU
    min_replicas: int = 1
    max_replicas: int = 2
    num_cpus: float = 1.0  # per replica
    num_gpus: float = 0.0  # per replica (1: one GPU each; 0.5: two replicas share one)
    upscale_delay: float = 5.0  # seconds of demand before another replica starts
    downscale_delay: float = 120.0  # seconds of idleness before one stops
    retries: int = 2  # runs of a job after its replica died, on another one
    shutdown_timeout: float = 300.0  # seconds a stopping replica may finish its job

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(f"replicas: need 0 <= min ({self.min_replicas}) <= max ({self.max_replicas}), max >= 1")
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise ValueError("--num-cpus and --num-gpus cannot be negative")


def deploy(config: ClusterConfig) -> DeploymentHandle:
    """Connect to the Ray cluster and (re)deploy the replicas; returns a streaming handle once
    the first replicas run."""
    if not ray.is_initialized():
        check_reachable(config.address)
        try:
            ray.init(address=config.address, namespace="daw-diffusion", log_to_driver=False)
        except ConnectionError as exc:  # e.g. `auto` on a machine where no Ray runs
            raise ValueError(f"no Ray cluster at {config.address} ({exc}); start one with `ray start --head`") from None
    serve.start(proxy_location="Disabled")  # no HTTP: the ZeroMQ endpoint is the way in
    scale: dict[str, Any] = {"num_replicas": config.max_replicas} if config.min_replicas == config.max_replicas else {
        "autoscaling_config": {"min_replicas": config.min_replicas, "max_replicas": config.max_replicas,
                               "target_ongoing_requests": 1, "upscale_delay_s": config.upscale_delay,
                               "downscale_delay_s": config.downscale_delay}}
    deployment: Any = serve.deployment(EngineReplica)
    deployment = deployment.options(
        name=DEPLOYMENT, max_ongoing_requests=1, graceful_shutdown_timeout_s=config.shutdown_timeout,
        ray_actor_options={"num_cpus": config.num_cpus, "num_gpus": config.num_gpus}, **scale)
    checkpoint = str(config.checkpoint) if config.checkpoint else None
    handle = serve.run(deployment.bind(checkpoint, config.device, max(1, round(config.num_cpus))),
                       name=config.app, route_prefix=None)
    return handle.options(stream=True)


def check_reachable(address: str) -> None:
    """Refuse a HOST:PORT nobody listens on (Ray itself would wait for it for minutes)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ValueError(f"no Ray cluster answers at {address} ({exc}); start its head with "
                         "`ray start --head --port 6379`, or pass --address auto on the head") from None


class ClusterService(EngineService):
    """The engine service whose jobs run on the `replicas` (the streaming handle `deploy` returns)."""

    def __init__(self, replicas: DeploymentHandle, config: ServiceConfig = ServiceConfig(),
                 cluster: ClusterConfig = ClusterConfig(), context: zmq.Context | None = None) -> None:
        super().__init__(None, config, context)
        self.replicas, self.cluster = replicas, cluster
        self.table: JobTable[Job] = JobTable(config.queue_size, config.result_ttl, config.max_result_bytes,
                                             slots=cluster.max_replicas, max_results=config.max_results,
                                             abandon_after=config.abandon_after)
        self.streams: dict[str, Any] = {}  # job id -> the stream running it
        self.runs: dict[str, list[dict[str, Any]]] = {}  # job id -> where each of its runs started (pid, node)
        self.about = replicas.options(stream=False).describe.remote().result(timeout_s=120)
        self.view = self.look()

    def start_workers(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.dispatch, name=f"cluster-dispatch-{k}", daemon=True)
                   for k in range(self.table.slots)]
        threads.append(threading.Thread(target=self.watch, name="cluster-watch", daemon=True))
        for thread in threads:
            thread.start()
        return threads

    def describe(self) -> dict[str, Any]:
        return {"device": self.about["device"], "model": self.about["model"], "cluster": self.view}

    # -- jobs -----------------------------------------------------------------------------------
    def dispatch(self) -> None:
        """One job at a time, on whichever replica Serve picks."""
        events = self.context.socket(zmq.PUSH)
        events.connect(self.events_endpoint)
        try:
            while not self.stopping.is_set():
                job = self.table.next(0.2)
                if job is None:
                    continue
                try:
                    final = self.run(job, events)
                finally:
                    job.params.clear()  # free the input audio
                self.table.ended(job, final)
                events.send_multipart([job.id.encode(), *final], copy=False)
        finally:
            events.close(linger=1000)

    def run(self, job: Job, events: zmq.Socket) -> list[bytes]:
        """The job's stream until it ends; its final event. A retry renders the same audio: the
        seed is fixed before the first run, and progress never goes back."""
        params = dict(job.params)
        if params.get("seed") is None:
            params["seed"] = secrets.randbelow(2**31)
        shown = 0.0
        self.runs[job.id] = []
        for attempt in range(self.cluster.retries + 1):
            if job.cancel.is_set():
                return final_frames(job, Outcome("cancelled"))
            stream: Any = self.replicas.run.remote(job.task, params, self.config.progress_interval)
            self.streams[job.id] = stream
            outcome = None
            try:
                for event in stream:  # to its end: until then Serve counts the replica as busy
                    if isinstance(event, Outcome):
                        outcome = copied(event)
                    elif event["type"] == "started":
                        self.runs[job.id].append(event)
                        log.info("job %s: %s on replica pid %d, node %s (%s)", job.id, job.task, event["pid"],
                                 event["node"][:12], event["device"])
                    elif event["fraction"] > shown or event["fraction"] >= 1:
                        shown = event["fraction"]
                        events.send_multipart([job.id.encode(), *progress_frames(job, shown, event["stage"])])
                if outcome is None:
                    return error_frames(job.request_id, "failed", "the replica ended the job without a result", job=job.id)
                return final_frames(job, outcome)
            except TaskCancelledError:  # (Serve's RequestCancelledError among them)
                return final_frames(job, Outcome("cancelled"))
            except REPLICA_LOST as exc:
                log.warning("job %s: its replica is lost (%s); %s", job.id, type(exc).__name__,
                            "running it again" if attempt < self.cluster.retries else "giving up")
                time.sleep(min(2.0, 0.5 * (attempt + 1)))  # Serve notices the death and routes elsewhere
            except Exception as exc:  # the cluster itself failed: say so, keep serving
                log.exception("job %s failed in the cluster", job.id)
                return error_frames(job.request_id, "failed", f"{type(exc).__name__}: {exc}", job=job.id)
            finally:
                self.streams.pop(job.id, None)
        return error_frames(job.request_id, "engine_lost", f"{self.cluster.retries + 1} replicas were lost running "
                                                           "this job", job=job.id)

    def watch(self) -> None:
        """Cancels the streams of cancelled jobs (within 50 ms) and keeps `status`'s view of the
        cluster fresh (every 2 s), off the socket loop."""
        next_look = time.monotonic() + 2.0
        while not self.stopping.is_set() or self.table.running:
            for job_id, stream in list(self.streams.items()):
                job = self.table.jobs.get(job_id)
                if job is not None and job.cancel.is_set() and not stream.cancelled():
                    # (in a thread of its own: a request Serve is still placing blocks `cancel` until placed)
                    threading.Thread(target=cancel_stream, args=(stream,), daemon=True).start()
            if time.monotonic() >= next_look:
                for job_id in [j for j in self.runs if j not in self.table.jobs]:  # its result expired
                    del self.runs[job_id]
                try:
                    self.view = self.look()
                except Exception as exc:  # the status is stale, not wrong: say why once in a while
                    log.warning("cannot read the cluster's state: %s", exc)
                next_look = time.monotonic() + 2.0
            time.sleep(0.05)

    def look(self) -> dict[str, Any]:
        """Replicas running (and their bounds), alive nodes, and GPUs: in the cluster and used."""
        app = serve.status().applications.get(self.cluster.app)
        deployment = app.deployments.get(DEPLOYMENT) if app else None
        states = deployment.replica_states if deployment else {}
        replicas = sum(n for state, n in states.items() if str(getattr(state, "value", state)) == "RUNNING")
        return {"replicas": replicas, "min_replicas": self.cluster.min_replicas,
                "max_replicas": self.cluster.max_replicas, "nodes": sum(1 for n in ray.nodes() if n.get("Alive")),
                "gpus": ray.cluster_resources().get("GPU", 0.0), "gpus_used": replicas * self.cluster.num_gpus}

    def where(self, job_id: str) -> list[dict[str, Any]]:
        """Where each run of a job started (`pid`, `node`, `device`): for logs and tests."""
        return list(self.runs.get(job_id, []))


def copied(outcome: Outcome) -> Outcome:
    """The outcome with its audio in this process's memory. Arrays from Ray are views of its
    object store, pinned there while referenced: a result kept for `fetch` would otherwise hold
    store memory for its whole TTL, and a full store stalls every job (by about 2 s each)."""
    renders = [(Clip(np.array(clip.samples), clip.rate), about) for clip, about in outcome.renders]
    return replace(outcome, renders=renders)


def cancel_stream(stream: Any) -> None:
    """Cancel a job's stream: its replica stops the job at the next sampler step."""
    try:
        stream.cancel()
    except TaskCancelledError:  # it was cancelled before it reached a replica
        pass
