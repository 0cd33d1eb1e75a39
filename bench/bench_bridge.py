"""Bridge overhead and the live path, measured in one run on this machine.

    .venv/bin/python bench/bench_bridge.py --out docs/benchmarks.md

1. Bridge overhead per job: OSC request -> `/diffusion/done`, minus the engine's own compute
   time for that job (reported by the engine), for a 10 s stereo style transfer of a WAV file
   (tiny model, 1 step, 1 Griffin-Lim iteration). What remains is OSC, reading the file, the
   ZeroMQ round trip, writing the new WAV and the reply. Median over many jobs; target <= 10 ms.
2. Live path: trigger -> first output sample of the result, with the engine's share, on a real
   sounddevice stream through a private JACK server (dummy driver, output looped into input).
   Style transfer of the last 2 s, no clock (results start at once): the tiny model at 1 step,
   and the bundled default model at strength 0.4 and default settings. Each live run has a
   process (and a JACK server) of its own: PortAudio does not start twice in one process.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import soundfile as sf

from engine.pipeline import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from processes import CLI, free_port  # noqa: E402
from signals import sine_mix  # noqa: E402

from osc_peers import Peer  # noqa: E402
from report import publish  # noqa: E402

FAST = {"steps": 1, "griffin_lim_iters": 1}


def start_engine(checkpoint: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    """An engine process on the CPU with `flags` (e.g. --threads), once it answers."""
    from engine.client import EngineClient

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--checkpoint", str(checkpoint), "--device", "cpu",
                             *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not EngineClient(endpoint).pinged(0.5):
        assert proc.poll() is None, "the engine did not start"
    return proc, endpoint


def make_bridge(endpoint: str, out_dir: Path, live=None):
    from bridge.app import Bridge
    from bridge.jobs import Jobs
    from bridge.osc import OscServer
    from bridge.store import RenderStore
    from engine.client import EngineClient

    bridge = Bridge(Jobs(EngineClient(endpoint), RenderStore(out_dir)), live=live)
    server = OscServer(bridge, port=0)
    threading.Thread(target=server.serve, daemon=True).start()
    return bridge, server


def send_jobs(port: int, source: str, repeats: int, results) -> None:
    """The OSC client, in a process of its own as a patch or a DAW would be: (tag, seconds) per job."""
    peer = Peer(port)
    for k in range(repeats):
        tag = f"b{k}"
        start = time.perf_counter()
        peer.request("/diffusion/style", tag, source, 0.5, "seed", k, *sum(FAST.items(), ()))
        kind, args = peer.final(tag)
        assert kind == "/diffusion/done", args
        results.put((tag, time.perf_counter() - start))
    peer.close()


def bridge_overhead(endpoint: str, repeats: int, folder: Path) -> dict:
    source = folder / "take.wav"
    sf.write(source, sine_mix(10.0, 44_100).T, 44_100, subtype="FLOAT")
    bridge, server = make_bridge(endpoint, folder / "renders")
    results = multiprocessing.Queue()
    client = multiprocessing.Process(target=send_jobs, args=(server.address[1], str(source), repeats + 3, results))
    client.start()
    timings = [results.get(timeout=120) for _ in range(repeats + 3)][3:]  # the first three warm up
    client.join()
    server.close()
    bridge.close()
    engine = dict(bridge.computed)
    total = [t for _, t in timings]
    added = [t - engine[tag] for tag, t in timings]
    return {"total_ms": 1000 * statistics.median(total), "engine_ms": 1000 * statistics.median(engine.values()),
            "added_ms": 1000 * statistics.median(added)}


@contextlib.contextmanager
def looped_live(blocksize: int = 0) -> Iterator[Any]:
    """A LiveAudio stream on a private JACK server (dummy driver, 44.1 kHz, 256-frame periods)
    with its output looped into its input; closed, and the server stopped, afterwards."""
    name = f"dd-bench-{os.getpid()}"
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    server = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "44100", "-p", "256"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while subprocess.run(["jack_lsp"], capture_output=True).returncode:
            assert server.poll() is None, "jackd exited"
            time.sleep(0.2)
        from bridge.live import LiveAudio

        live = LiveAudio(10.0, 44_100, 2, device="system", blocksize=blocksize).start()
        ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split()
        for out, inp in zip(sorted(p for p in ports if p.startswith("PortAudio:out")),
                            sorted(p for p in ports if p.startswith("PortAudio:in"))):
            subprocess.run(["jack_connect", out, inp], check=True)
        yield live
        import sounddevice

        sounddevice._terminate()  # leave JACK before its server goes
    finally:
        server.terminate()
        server.wait(20)


def live_path(endpoint: str, repeats: int, folder: Path, strength: float, settings: dict) -> dict:
    """Trigger -> first output sample over JACK's dummy driver; medians after two warm-up runs."""
    from engine.clip import Clip

    with looped_live() as live:
        bridge, osc = make_bridge(endpoint, folder / "live", live)
        live.play(Clip(sine_mix(30.0, 44_100), 44_100))  # something to capture, looped back in
        time.sleep(2.5)
        for k in range(repeats + 2):
            triggered = time.monotonic()
            request = bridge.live_request(f"l{k}", 2.0, strength, dict(settings))
            bridge.start(request, lambda *reply: None, play=True, triggered=triggered)
            while len(bridge.latencies) < k + 1:
                time.sleep(0.01)
        latencies = list(bridge.latencies)[2:]
        underruns = live.dropouts
        osc.close()
        bridge.close()
    first = [t for t, _ in latencies]
    engine = [e for _, e in latencies]
    return {"first_sample_ms": 1000 * statistics.median(first), "engine_ms": 1000 * statistics.median(engine),
            "rest_ms": 1000 * statistics.median([t - e for t, e in latencies]), "underruns": underruns,
            "buffer_ms": 1000 * 256 / 44_100}


def live_in_own_process(endpoint: str, repeats: int, folder: Path, strength: float, settings: dict) -> dict | None:
    """`live_path` in a fresh process; None without jackd."""
    if subprocess.run(["which", "jackd"], capture_output=True).returncode:
        return None
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(live_path, (endpoint, repeats, folder, strength, settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = folder / "tiny.safetensors"
        subprocess.run([CLI, "init", str(checkpoint), "--preset", "tiny"], check=True, capture_output=True)
        live_repeats = max(10, args.repeats // 4)
        engine, endpoint = start_engine(checkpoint)
        try:
            overhead = bridge_overhead(endpoint, args.repeats, folder)
            live = live_in_own_process(endpoint, live_repeats, folder, 0.5, FAST)
        finally:
            engine.kill()
        engine, endpoint = start_engine(DEFAULT_CHECKPOINT)
        try:
            live_default = live and live_in_own_process(endpoint, live_repeats, folder, 0.4, {})
        finally:
            engine.kill()
    lines = [
        f"Bridge, {args.repeats} jobs, medians, this machine:", "",
        "| measurement | value |", "|---|---:|",
        f"| OSC request -> `/diffusion/done`, 10 s stereo WAV style transfer (tiny model, 1 step) | {overhead['total_ms']:.1f} ms |",
        f"| the engine's compute time for the same jobs | {overhead['engine_ms']:.1f} ms |",
        f"| **added by the bridge** (OSC, read file, ZeroMQ, write WAV, reply; target <= 10 ms) | **{overhead['added_ms']:.1f} ms** |",
    ]
    if live and live_default:
        for label, run in (("tiny model, 1 step", live), ("**bundled model, strength 0.4, defaults; target <= 300 ms**", live_default)):
            lines += [
                f"| live, {label}: trigger -> first output sample (2 s input, JACK dummy, 256-frame buffer) | {run['first_sample_ms']:.1f} ms |",
                f"| ... of which the engine | {run['engine_ms']:.1f} ms |",
                f"| ... of which capture, bridge, scheduling and the output buffer ({run['buffer_ms']:.1f} ms) | {run['rest_ms']:.1f} ms |",
                f"| ... underruns | {run['underruns']} |",
            ]
    else:
        lines.append("| live path | not measured: jackd is not installed |")
    table = "\n".join(lines)
    publish(table, args.out, "bench_bridge")


if __name__ == "__main__":
    main()
