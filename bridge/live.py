"""Live audio-to-audio: a ring buffer of the last seconds of an input, and a player that starts
rendered clips at a chosen moment (the next bar), both fed by one sounddevice duplex stream.

The stream callback only copies arrays: no allocation-heavy work, no locks held for long, and an
underrun is counted and reported, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from bridge.errors import BridgeError
from engine.clip import Clip

log = logging.getLogger("daw-diffusion.live")


class AudioDeviceError(BridgeError):
    """The audio device cannot be opened as asked."""

    def __init__(self, message: str) -> None:
        super().__init__("audio_device", message)


class RingBuffer:
    """The last `frames` frames of a `[channels, ...]` signal."""

    def __init__(self, channels: int, frames: int) -> None:
        self.data = np.zeros((channels, frames), np.float32)
        self.written = 0  # frames ever written
        self.lock = threading.Lock()

    def write(self, block: np.ndarray) -> None:
        """`block` is `[frames, channels]`, as sounddevice hands it over."""
        size = self.data.shape[1]
        block = block[-size:]
        n = len(block)
        with self.lock:
            start = self.written % size
            first = min(n, size - start)
            self.data[:, start:start + first] = block[:first].T
            self.data[:, :n - first] = block[first:].T
            self.written += n

    def latest(self, frames: int) -> np.ndarray:
        """The most recent `frames` frames (fewer if less has been recorded), oldest first."""
        size = self.data.shape[1]
        with self.lock:
            n = min(frames, size, self.written)
            end = self.written % size
            idx = (np.arange(end - n, end)) % size
            return self.data[:, idx].copy()


@dataclass
class Scheduled:
    """A clip on its way out: where it starts and how much of it has played."""

    audio: np.ndarray  # [channels, frames] at the stream's rate
    start: int         # stream frame of its first sample
    tag: str = ""
    started_at: float | None = None  # monotonic time its first sample went out
    played: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class LiveAudio:
    """One duplex stream: input into the ring buffer, scheduled clips out."""

    def __init__(self, seconds: float = 30.0, sample_rate: int | None = None, channels: int = 2,
                 device: str | int | None = None, blocksize: int = 0) -> None:
        import sounddevice as sd

        try:
            self.stream = sd.Stream(samplerate=sample_rate, channels=channels, dtype="float32", device=device,
                                    blocksize=blocksize, callback=self.callback)
        except (sd.PortAudioError, ValueError) as exc:  # no such device, rate or channel count
            raise AudioDeviceError(f"cannot open the audio device: {exc}") from None
        self.sample_rate = int(self.stream.samplerate)
        self.output_latency = float(self.stream.latency[1])  # seconds from callback to the speaker
        self.channels = channels
        self.ring = RingBuffer(channels, int(seconds * self.sample_rate))
        self.clips: list[Scheduled] = []
        self.lock = threading.Lock()
        self.frame = 0
        self.reference = (0, time.monotonic())  # (stream frame, monotonic time) at the last callback
        self.underruns = 0

    def start(self) -> "LiveAudio":
        self.stream.start()
        return self

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()

    def callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, _time, status) -> None:
        now = time.monotonic()
        if status.input_overflow or status.input_underflow or status.output_underflow or status.output_overflow:
            self.underruns += 1
        self.ring.write(indata)
        outdata.fill(0)
        with self.lock:
            clips = list(self.clips)
        for clip in clips:
            self.mix(clip, outdata, now)
        if any(c.done.is_set() for c in clips):
            with self.lock:
                self.clips = [c for c in self.clips if not c.done.is_set()]
        self.frame += frames
        self.reference = (self.frame, now + frames / self.sample_rate)

    def mix(self, clip: Scheduled, out: np.ndarray, now: float) -> None:
        frames = len(out)
        begin = max(clip.start, self.frame) - self.frame  # where in this block the clip plays
        if begin >= frames:
            return
        n = min(frames - begin, clip.audio.shape[1] - clip.played)
        if clip.started_at is None:
            clip.started_at = now + begin / self.sample_rate + self.output_latency
            clip.started.set()
        for ch in range(out.shape[1]):  # mono clips go to every output, stereo to L/R, ...
            out[begin:begin + n, ch] += clip.audio[ch % clip.audio.shape[0], clip.played:clip.played + n]
        clip.played += n
        if clip.played >= clip.audio.shape[1]:
            clip.done.set()

    def capture(self, frames: int) -> Clip:
        """The last `frames` of input, `[channels, frames]` at the stream's rate."""
        return Clip(self.ring.latest(frames), self.sample_rate)

    def frame_at(self, when: float) -> int:
        frame, then = self.reference
        return frame + max(0, round((when - then) * self.sample_rate))

    def play(self, clip: Clip, at: float | None = None, tag: str = "") -> Scheduled:
        """Schedule `clip` (at the stream's rate, or stretched to it) to start at monotonic time
        `at`, or as soon as possible."""
        start = self.frame_at(at) if at is not None else self.frame
        audio = stretch(np.atleast_2d(clip.samples), clip.rate, self.sample_rate)
        scheduled = Scheduled(np.ascontiguousarray(audio, np.float32), start, tag)
        with self.lock:
            self.clips.append(scheduled)
        return scheduled


def stretch(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation rate change, good enough to audition a file (renders of live input
    already come back at the stream's rate and are played untouched)."""
    if rate == target:
        return audio
    n = round(audio.shape[1] * target / rate)
    x = np.arange(n) * (rate / target)
    return np.stack([np.interp(x, np.arange(audio.shape[1]), ch) for ch in audio]).astype(np.float32)
