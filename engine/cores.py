"""How much of the machine the engine's compute takes: its thread count and its scheduling
priority. Torch-free, so that the bridge (`serve --live`) can choose them for the engine it
starts: on stage the audio stream must never wait for the model."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

LIVE_NICE = 10  # `serve --live`: the engine yields the CPU to the audio stream


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def live_threads(realtime_audio: bool) -> int:
    """The engine's threads beside a live audio stream: every core where the stream's thread runs in
    real time (it takes a core from the engine the moment it wakes), else a core's worth of room
    left for the audio."""
    return cores() if realtime_audio else max(1, cores() - 1)


def thread_count(text: str) -> int:
    """`--threads`: 1 .. the machine's cores."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of threads") from None
    if not 1 <= n <= cores():
        raise argparse.ArgumentTypeError(f"{n} threads: this machine gives 1 to {cores()}")
    return n


def niceness(text: str) -> int:
    """`--nice`: 0 (as any program) .. 19 (only what nothing else wants)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a nice level (0 to 19)") from None
    if not 0 <= n <= 19:
        raise argparse.ArgumentTypeError(f"nice {n}: give 0 (normal) to 19 (lowest priority)")
    return n


def lower_priority(nice: int) -> int:
    """Lower this process's priority to `nice` (never raise it: that needs privileges): every
    thread it has, on Linux where each has its own, and every thread they start later; returns
    the nice level it has now."""
    current = os.nice(0)
    if nice <= current:
        return current
    tasks = Path("/proc/self/task")
    for tid in (int(t.name) for t in tasks.iterdir()) if tasks.is_dir() else ():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    return os.nice(nice - os.nice(0))
