"""Service overhead and broker throughput, measured in one run on this machine.

    .venv/bin/python bench/bench_service.py --out docs/benchmarks.md

1. Transport overhead per job: a 10 s stereo style transfer through the engine service over TCP
   loopback against the same call in-process, at strength 0 (the audio comes back as it went:
   all transport, no model, so scheduling noise from the model does not hide the overhead) and
   at strength 0.5 with the tiny model, 1 step, 1 Griffin-Lim iteration. Target: <= 5 ms added.
2. Broker throughput: the same batch of jobs through a broker with 1 and with 2 engine
   processes on this host.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from processes import CLI, free_port  # noqa: E402
from signals import sine_mix  # noqa: E402

from engine.client import EngineClient  # noqa: E402
from engine.clip import Clip  # noqa: E402
from engine.pipeline import Pipeline  # noqa: E402

from report import publish  # noqa: E402


def transport_overhead(repeats: int, params: dict, checkpoint: Path) -> dict:
    """The engine runs as its own process, as it does for users; the in-process call loads the
    same checkpoint here."""
    pipeline = Pipeline.from_checkpoint(checkpoint, "cpu")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    engine = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--checkpoint", str(checkpoint), "--device", "cpu"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = EngineClient(endpoint, timeout=60)
        client.ping()
        audio = sine_mix(10.0, 44_100)
        local, remote = [], []
        for _ in range(repeats + 2):  # interleaved; the first two are warm-up
            start = time.perf_counter()
            pipeline.run("style_transfer", audio=audio, sample_rate=44_100, **params)
            local.append(time.perf_counter() - start)
            start = time.perf_counter()
            final = client.run("style_transfer", params, {"audio": Clip(audio, 44_100)})
            remote.append(time.perf_counter() - start)
            assert final.type == "result"
    finally:
        engine.kill()
    local, remote = local[2:], remote[2:]
    return {"in_process_ms": 1000 * statistics.median(local), "service_ms": 1000 * statistics.median(remote),
            "added_ms": 1000 * (statistics.median(remote) - statistics.median(local))}


def broker_throughput(engines: int, jobs: int, checkpoint: Path) -> float:
    front, back = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    procs = [subprocess.Popen([CLI, "broker", "--frontend", front, "--backend", back, "--per-engine", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([CLI, "engine", "--connect", back, "--checkpoint", str(checkpoint)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(engines)]
    try:
        client = EngineClient(front, timeout=60)
        while client.status().get("engines", 0) < engines:
            time.sleep(0.2)
        results = []
        threads = [threading.Thread(target=lambda k=k: results.append(
            client.run("generate", {"seconds": 5.0, "steps": 8, "seed": k}))) for k in range(jobs)]
        start = time.perf_counter()
        [t.start() for t in threads]
        [t.join() for t in threads]
        elapsed = time.perf_counter() - start
        assert all(r.type == "result" for r in results)
        return jobs / elapsed
    finally:
        for p in procs:
            p.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tiny, cpu = Path(tmp) / "tiny.safetensors", Path(tmp) / "cpu.safetensors"
        for path, preset in ((tiny, "tiny"), (cpu, "cpu")):
            subprocess.run([CLI, "init", str(path), "--preset", preset], check=True, capture_output=True)
        identity = transport_overhead(args.repeats, {"strength": 0.0, "seed": 0}, tiny)
        overhead = transport_overhead(args.repeats, {"strength": 0.5, "seed": 0, "steps": 1, "griffin_lim_iters": 1}, tiny)
        one, two = broker_throughput(1, args.jobs, cpu), broker_throughput(2, args.jobs, cpu)
    lines = [
        f"Service, {args.repeats} interleaved repeats, medians, this machine ({torch.get_num_threads()} threads):", "",
        "| measurement | value |", "|---|---:|",
        f"| 10 s stereo, strength 0 (no model): in-process | {identity['in_process_ms']:.1f} ms |",
        f"| the same through the engine service (TCP loopback) | {identity['service_ms']:.1f} ms |",
        f"| **added by the service** (target <= 5 ms) | **{identity['added_ms']:.1f} ms** |",
        f"| 10 s stereo, tiny model, 1 step: in-process | {overhead['in_process_ms']:.1f} ms |",
        f"| the same through the engine service | {overhead['service_ms']:.1f} ms (+{overhead['added_ms']:.1f} ms) |",
        f"| broker, 1 engine: {args.jobs} jobs (5 s stereo, 8 steps, CPU model) | {one:.2f} jobs/s |",
        f"| broker, 2 engines on the same host | {two:.2f} jobs/s ({two / one:.2f}x) |",
    ]
    table = "\n".join(lines)
    publish(table, args.out, "bench_service")


if __name__ == "__main__":
    main()
