"""Tempo and bar position from MIDI clock (24 ticks per quarter note, start/stop/continue)."""

from __future__ import annotations

import threading
import time
from collections import deque

TICKS_PER_BEAT = 24


class Clock:
    """Fed MIDI realtime messages; says the tempo and when the next bar starts (monotonic time).
    Without clock for `timeout` seconds the tempo is unknown again."""

    def __init__(self, beats_per_bar: int = 4, timeout: float = 2.0) -> None:
        self.beats_per_bar, self.timeout = beats_per_bar, timeout
        self.lock = threading.Lock()
        self.ticks: deque[float] = deque(maxlen=2 * TICKS_PER_BEAT)
        self.count = 0  # ticks since start
        self.bar_start: float | None = None  # time of a known bar line

    def on_message(self, kind: str, now: float | None = None, position: int = 0) -> None:
        """`kind`: mido's names: clock, start, stop, continue, songpos (`position` in 16ths)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            if kind == "songpos":
                self.count = position * TICKS_PER_BEAT // 4
            elif kind == "start":
                self.count, self.bar_start = 0, now
                self.ticks.clear()
            elif kind == "clock":
                self.ticks.append(now)
                self.count += 1
                if self.count % (TICKS_PER_BEAT * self.beats_per_bar) == 0:
                    self.bar_start = now
            elif kind == "stop":
                self.bar_start = None

    def bpm(self, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        with self.lock:
            if len(self.ticks) < TICKS_PER_BEAT // 2 or now - self.ticks[-1] > self.timeout:
                return None
            interval = (self.ticks[-1] - self.ticks[0]) / (len(self.ticks) - 1)
        return 60.0 / (interval * TICKS_PER_BEAT) if interval > 0 else None

    def bar_seconds(self, bpm: float | None = None, now: float | None = None) -> float | None:
        """Seconds per bar at `bpm`, or at the clock's tempo."""
        bpm = bpm or self.bpm(now)
        return None if not bpm else self.beats_per_bar * 60.0 / bpm

    def next_bar(self, now: float | None = None) -> float | None:
        """Monotonic time of the next bar line, or None without a running clock."""
        now = time.monotonic() if now is None else now
        bar = self.bar_seconds(now=now)
        with self.lock:
            start = self.bar_start
        if bar is None or start is None:
            return None
        bars_passed = max(0, int((now - start) // bar) + 1)
        return start + bars_passed * bar
