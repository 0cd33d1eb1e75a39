"""Dropouts over a stretch of a live set, measured in one run on this machine.

    .venv/bin/python bench/bench_live.py --out docs/benchmarks.md

A private JACK server (dummy driver, 44.1 kHz, 256-frame periods and stream buffer), the bridge's sounddevice stream
with its output looped into its input, the bundled model in a real engine process, and a live
transform of the last 2 s at strength 0.4 triggered on every bar (120 BPM, 4/4: every 2 s) for
`--seconds` (60) of audio. Counted by the stream itself: underruns (a click or a gap in the PA),
overruns, and the longest gap between two callbacks (a 256-frame block lasts 5.8 ms); beside them
trigger -> first output sample. Three engines, one after the other in the same run: as `serve`
started it before (every core, normal priority), with a core left to the audio at nice 10, and as
`serve --live` starts it now (every core where the stream's thread may run in real time, nice 10).
The stream's thread asks for real time in every run. Each run has a process and a JACK server of
its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bridge.live import realtime_permitted
from engine.cores import LIVE_NICE, cores, live_threads
from engine.pipeline import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_bridge import looped_live, make_bridge, start_engine  # noqa: E402
from signals import sine_mix  # noqa: E402

from report import publish  # noqa: E402

BAR = 2.0  # seconds: a 4/4 bar at 120 BPM
BLOCK = 256


def live_set(endpoint: str, seconds: float, folder: Path) -> dict:
    """`seconds` of a live set with a transform on every bar; the stream's own counts."""
    from engine.clip import Clip

    with looped_live(BLOCK) as live:
        bridge, osc = make_bridge(endpoint, folder / "live", live)
        live.play(Clip(sine_mix(seconds + 10, 44_100), 44_100))  # the band, looped back in
        time.sleep(2.5)
        mixer = live.mixer
        before = mixer.health()
        mixer.longest_gap = 0.0
        started = time.monotonic()
        bars = 0
        while time.monotonic() - started < seconds:
            triggered = time.monotonic()
            bridge.start(bridge.live_request(f"bar{bars}", 2.0, 0.4), lambda *reply: None, play=True,
                         triggered=triggered)
            bars += 1
            time.sleep(max(0.0, started + bars * BAR - time.monotonic()))
        time.sleep(1.0)  # the last results out
        after = mixer.health()
        latencies = list(bridge.latencies)
        osc.close()
        bridge.close()
    return {"bars": bars, "played": len(latencies), "underruns": after["underruns"] - before["underruns"],
            "overruns": after["overruns"] - before["overruns"], "longest_gap_ms": after["longest_gap_ms"],
            "first_sample_ms": 1000 * statistics.median(t for t, _ in latencies) if latencies else float("nan"),
            "engine_ms": 1000 * statistics.median(e for _, e in latencies) if latencies else float("nan")}


def in_own_process(flags: list[str], seconds: float, folder: Path) -> dict:
    engine, endpoint = start_engine(DEFAULT_CHECKPOINT, *flags)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(live_set, (endpoint, seconds, folder))
    finally:
        engine.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if subprocess.run(["which", "jackd"], capture_output=True).returncode:
        publish("Live set: not measured, jackd is not installed.", args.out, "bench_live")
        return
    realtime_audio = realtime_permitted()
    threads, audio = live_threads(realtime_audio), "in real time" if realtime_audio else "at normal priority"
    setups = {"every core, normal priority (as `serve` without --live)": [],
              f"a core left to the audio ({live_threads(False)} of {cores()}), nice {LIVE_NICE}":
                  ["--threads", str(live_threads(False)), "--nice", str(LIVE_NICE)],
              f"`serve --live` now: {threads} of {cores()} cores, nice {LIVE_NICE}, the audio thread {audio}":
                  ["--threads", str(threads), "--nice", str(LIVE_NICE)]}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {label: in_own_process(flags, args.seconds, Path(tmp)) for label, flags in setups.items()}
    old, new = runs[next(iter(runs))], runs[list(runs)[-1]]
    lines = [f"Live set, {args.seconds:g} s, bundled model, a 2 s transform at strength 0.4 on every bar (120 BPM), "
             f"JACK dummy driver, {BLOCK}-frame buffer ({1000 * BLOCK / 44_100:.1f} ms), this machine, one run:", "",
             "| engine | bars | results played | underruns | overruns | longest gap between callbacks | "
             "trigger -> first sample (median) | of which the engine |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {label} | {r['bars']} | {r['played']} | **{r['underruns']}** | {r['overruns']} | "
              f"{r['longest_gap_ms']:.1f} ms | {r['first_sample_ms']:.0f} ms | {r['engine_ms']:.0f} ms |"
              for label, r in runs.items()]
    lines += ["", f"Latency now / before: {new['first_sample_ms'] / old['first_sample_ms']:.2f}; "
              f"underruns now / before: {new['underruns']} / {old['underruns']}."]
    publish("\n".join(lines), args.out, "bench_live")


if __name__ == "__main__":
    main()
