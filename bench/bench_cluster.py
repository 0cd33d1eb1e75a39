"""The cluster mode against a direct engine, measured in one run on this machine.

    .venv/bin/python bench/bench_cluster.py --out docs/benchmarks.md

A local Ray head and a second local node (the test suite's stand-in for two machines), each
with one CPU for one replica; `daw-diffusion cluster` and `daw-diffusion engine` run as their
own processes, as they do for users, every model at one torch thread (a replica's `--num-cpus 1`).

1. Overhead per job: a 10 s stereo style transfer through the cluster endpoint against the same
   job through a direct engine, interleaved, at strength 0 (the audio comes back as it went: all
   transport, no model) and with the tiny model, 1 step, 1 Griffin-Lim iteration.
2. Throughput: the same batch of jobs (5 s stereo, 8 steps, CPU model) on a direct engine, and
   through the cluster with 1 and with 2 replicas (one per node).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from processes import CLI, free_port  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402
from signals import sine_mix  # noqa: E402

from engine.client import EngineClient  # noqa: E402
from engine.clip import Clip  # noqa: E402

from report import publish  # noqa: E402

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # torch's threads in the direct engine, as in a replica


def start(*args: str) -> tuple[subprocess.Popen, EngineClient]:
    """A `daw-diffusion` server process, once it answers."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([CLI, *args, "--bind", endpoint], env=ONE_THREAD,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = EngineClient(endpoint, timeout=120)
    deadline = time.monotonic() + 180
    while not client.pinged(1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{args[0]} did not start")
    return proc, client


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)  # the cluster front deletes its replicas on the way out
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()


def cluster_front(address: str, checkpoint: Path, replicas: int) -> tuple[subprocess.Popen, EngineClient]:
    return start("cluster", "--address", address, "--checkpoint", str(checkpoint), "--app", f"bench-{replicas}",
                 "--min-replicas", str(replicas), "--max-replicas", str(replicas), "--num-cpus", "1")


def overhead(direct: EngineClient, cluster: EngineClient, params: dict, repeats: int) -> dict:
    audio = Clip(sine_mix(10.0, 44_100), 44_100)
    times: dict[str, list[float]] = {"direct": [], "cluster": []}
    for _ in range(repeats + 2):  # interleaved; the first two are warm-up
        for name, client in (("direct", direct), ("cluster", cluster)):
            start_time = time.perf_counter()
            final = client.run("style_transfer", params, {"audio": audio})
            times[name].append(time.perf_counter() - start_time)
            assert final.type == "result", final.header
    direct_ms, cluster_ms = (1000 * statistics.median(t[2:]) for t in times.values())
    return {"direct_ms": direct_ms, "cluster_ms": cluster_ms, "added_ms": cluster_ms - direct_ms}


def throughput(client: EngineClient, jobs: int) -> float:
    results = []
    threads = [threading.Thread(target=lambda k=k: results.append(
        client.run("generate", {"seconds": 5.0, "steps": 8, "seed": k}))) for k in range(jobs)]
    client.run("generate", {"seconds": 5.0, "steps": 8, "seed": 0})  # warm-up
    start_time = time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.perf_counter() - start_time
    assert len(results) == jobs and all(r.type == "result" for r in results)
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    store = 150 * 2**20
    with tempfile.TemporaryDirectory() as tmp:
        tiny, cpu = Path(tmp) / "tiny.safetensors", Path(tmp) / "cpu.safetensors"
        for path, preset in ((tiny, "tiny"), (cpu, "cpu")):
            subprocess.run([CLI, "init", str(path), "--preset", preset], check=True, capture_output=True)
        ray = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": store})
        ray.add_node(num_cpus=1, object_store_memory=store)
        try:
            engine, direct = start("engine", "--checkpoint", str(tiny), "--device", "cpu")
            front, cluster = cluster_front(ray.address, tiny, 1)
            try:
                identity = overhead(direct, cluster, {"strength": 0.0, "seed": 0}, args.repeats)
                model = overhead(direct, cluster, {"strength": 0.5, "seed": 0, "steps": 1, "griffin_lim_iters": 1},
                                 args.repeats)
            finally:
                stop(front)
                stop(engine)
            engine, direct = start("engine", "--checkpoint", str(cpu), "--device", "cpu")
            try:
                rate = {"engine": throughput(direct, args.jobs)}
            finally:
                stop(engine)
            for replicas in (1, 2):
                front, cluster = cluster_front(ray.address, cpu, replicas)
                try:
                    rate[f"cluster-{replicas}"] = throughput(cluster, args.jobs)
                finally:
                    stop(front)
        finally:
            ray.shutdown()
    one, two = rate["cluster-1"], rate["cluster-2"]
    lines = [
        f"Cluster mode, {args.repeats} interleaved repeats, medians; a local Ray head and a second local node, "
        "one CPU and one torch thread per model, on this 2-core machine:", "",
        "| measurement | value |", "|---|---:|",
        f"| 10 s stereo, strength 0 (no model): direct engine | {identity['direct_ms']:.1f} ms |",
        f"| the same through the cluster endpoint (1 replica) | {identity['cluster_ms']:.1f} ms |",
        f"| **added per job by the cluster** | **{identity['added_ms']:.1f} ms** |",
        f"| 10 s stereo, tiny model, 1 step: direct engine | {model['direct_ms']:.1f} ms |",
        f"| the same through the cluster endpoint | {model['cluster_ms']:.1f} ms (+{model['added_ms']:.1f} ms) |",
        f"| direct engine: {args.jobs} jobs (5 s stereo, 8 steps, CPU model) | {rate['engine']:.2f} jobs/s |",
        f"| cluster, 1 replica | {one:.2f} jobs/s ({one / rate['engine']:.2f}x the direct engine) |",
        f"| cluster, 2 replicas (one per node) | {two:.2f} jobs/s ({two / one:.2f}x 1 replica) |",
    ]
    publish("\n".join(lines), args.out, "bench_cluster")


if __name__ == "__main__":
    main()
