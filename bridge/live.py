"""Live audio-to-audio: a ring buffer of the last seconds of an input, and a player that starts
rendered clips at a chosen moment (the next bar), both fed by one sounddevice duplex stream
(`LiveAudio`) through a `Mixer`.

The stream callback only copies arrays into buffers made beforehand: it allocates no array, takes
no lock and waits on nothing; an underrun is counted and reported, never raised. A device that
goes away mid-set (unplugged, its audio server quit) is noticed by a watcher, said once, and
leaves the rest of the bridge running.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bridge.errors import BridgeError
from engine.clip import Clip

log = logging.getLogger("daw-diffusion.live")
SWITCH_INTERVAL = 0.0005  # seconds another thread may hold the interpreter while the callback waits
STALLED = 2.0  # seconds without a callback from a running stream: its device is gone
WATCH_EVERY = 0.25  # seconds between two looks at the stream
REALTIME_PRIORITY = 10  # SCHED_FIFO level for the stream's thread (what JACK gives its clients' threads)
DEVICE_LOST = ("the live audio device stopped (unplugged, or its audio server quit); live transforms and "
               "playback need the bridge restarted with --live once it is back, file renders go on")


class AudioDeviceError(BridgeError):
    """The audio device cannot be opened as asked."""

    def __init__(self, message: str) -> None:
        super().__init__("audio_device", message)


class RingBuffer:
    """The last `frames` frames of a `[channels, ...]` signal, written by one thread (the stream's
    callback) without a lock: the writer claims the frames it is about to write, then publishes its
    count after the data; a reader checks that no claim, finished or under way, has come round
    to what it copied meanwhile (it copies again if so)."""

    def __init__(self, channels: int, frames: int, margin: int = 0) -> None:
        self.frames = frames  # what a reader can have
        self.data = np.zeros((channels, frames + max(margin, 1)), np.float32)  # + room the writer fills meanwhile
        self.written = 0  # frames ever written
        self.claimed = 0  # frames written or being written

    def write(self, block: np.ndarray) -> None:
        """`block` is `[frames, channels]`, as sounddevice hands it over; copied, nothing allocated."""
        size = self.data.shape[1]
        block = block[-size:]
        n = len(block)
        self.claimed = self.written + n
        start = self.written % size
        first = min(n, size - start)
        self.data[:, start:start + first] = block[:first].T
        self.data[:, :n - first] = block[first:].T
        self.written += n

    def latest(self, frames: int) -> np.ndarray:
        """The most recent `frames` frames (fewer if less has been recorded), oldest first."""
        size = self.data.shape[1]
        while True:
            written = self.written
            n = min(frames, self.frames, written)
            idx = np.arange(written - n, written) % size
            out = self.data[:, idx]
            if self.claimed - written <= size - n:  # none of it overwritten while copying
                return out


@dataclass
class Scheduled:
    """A clip on its way out: where it starts and how much of it has played. The stream's
    callback only writes these numbers; other threads read them (`wait_started`)."""

    audio: np.ndarray  # [channels, frames] at the stream's rate
    start: int         # stream frame of its first sample
    tag: str = ""
    started_at: float | None = None  # monotonic time its first sample went out
    played: int = 0

    @property
    def done(self) -> bool:
        return self.played >= self.audio.shape[1]

    def wait_started(self, timeout: float) -> bool:
        """Whether its first sample went out within `timeout` seconds (polled: no lock is shared
        with the callback)."""
        deadline = time.monotonic() + timeout
        while self.started_at is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


class Mixer:
    """Everything the stream's callback touches: the input ring, the clips to play and the
    stream's health. The callback copies and adds into arrays made beforehand: it allocates no
    array, takes no lock and waits on nothing. Clips reach it as a new tuple swapped in whole."""

    def __init__(self, channels: int, sample_rate: int, seconds: float, output_latency: float = 0.0) -> None:
        self.sample_rate, self.output_latency = sample_rate, output_latency  # latency: callback to speaker
        self.ring = RingBuffer(channels, int(seconds * sample_rate), margin=sample_rate)
        self.clips: tuple[Scheduled, ...] = ()
        self.lock = threading.Lock()  # between threads that schedule clips; never the callback's
        self.frame = 0
        self.reference = (0, time.monotonic())  # (stream frame, monotonic time) at the last callback
        self.underruns = 0  # blocks the device found missing (a click or a gap)
        self.overruns = 0  # input blocks lost
        self.callbacks = 0
        self.last_callback: float | None = None
        self.longest_gap = 0.0  # seconds between two callbacks, at most

    def callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, _time, status) -> None:
        now = time.monotonic()
        if status.output_underflow or status.input_underflow:
            self.underruns += 1
        if status.input_overflow or status.output_overflow:
            self.overruns += 1
        if self.last_callback is not None and now - self.last_callback > self.longest_gap:
            self.longest_gap = now - self.last_callback
        self.last_callback = now
        self.callbacks += 1
        self.ring.write(indata)
        outdata.fill(0)
        for clip in self.clips:  # a tuple: `play` replaces it whole, never changes it
            if not clip.done:
                self.mix(clip, outdata, now)
        self.frame += frames
        self.reference = (self.frame, now + frames / self.sample_rate)

    def mix(self, clip: Scheduled, out: np.ndarray, now: float) -> None:
        frames = len(out)
        begin = max(clip.start, self.frame) - self.frame  # where in this block the clip plays
        if begin >= frames:
            return
        n = min(frames - begin, clip.audio.shape[1] - clip.played)
        for ch in range(out.shape[1]):  # mono clips go to every output, stereo to L/R, ...
            out[begin:begin + n, ch] += clip.audio[ch % clip.audio.shape[0], clip.played:clip.played + n]
        if clip.started_at is None:
            clip.started_at = now + begin / self.sample_rate + self.output_latency
        clip.played += n

    def health(self) -> dict[str, float]:
        """The stream so far: underruns, overruns, callbacks and the longest gap between two (ms)."""
        return {"underruns": self.underruns, "overruns": self.overruns, "callbacks": self.callbacks,
                "longest_gap_ms": round(1000 * self.longest_gap, 2)}

    def frame_at(self, when: float) -> int:
        frame, then = self.reference
        return frame + max(0, round((when - then) * self.sample_rate))

    def play(self, audio: np.ndarray, at: float | None = None, tag: str = "") -> Scheduled:
        """Schedule `audio` `[channels, frames]` at the stream's rate to start at monotonic time
        `at`, or as soon as possible."""
        start = self.frame_at(at) if at is not None else self.frame
        scheduled = Scheduled(np.ascontiguousarray(audio, np.float32), start, tag)
        with self.lock:  # finished clips leave as a new one comes
            self.clips = (*(c for c in self.clips if not c.done), scheduled)
        return scheduled


def realtime() -> tuple[bool, str]:
    """Raise the calling thread (the stream's) to real-time scheduling where permitted, above
    every ordinary thread, the engine's included: whether it runs so, and how, in words."""
    if not hasattr(os, "sched_setscheduler"):  # macOS, Windows: their audio threads are already real-time
        return True, "as the platform runs audio threads"
    if os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR):
        return True, "real-time, as the audio server made it"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))  # 0: this thread
    except PermissionError:
        return False, ("normal priority: real-time scheduling is not permitted (give your user an rtprio "
                       "limit, e.g. the `audio` group of a JACK setup); dropouts are likelier while the model works")
    return True, f"real-time (SCHED_FIFO {REALTIME_PRIORITY})"


def realtime_permitted() -> bool:
    """Whether the stream's thread will be let run in real time (asked on a thread of its own)."""
    answer: list[bool] = []
    thread = threading.Thread(target=lambda: answer.append(realtime()[0]), name="realtime-probe")
    thread.start()
    thread.join()
    return answer[0]


class LiveAudio:
    """One duplex stream: input into the mixer's ring buffer, its scheduled clips out."""

    def __init__(self, seconds: float = 30.0, sample_rate: int | None = None, channels: int = 2,
                 device: str | int | None = None, blocksize: int = 0) -> None:
        import sounddevice as sd

        self.mixer: Mixer | None = None
        self.running = False  # started and not yet closed
        self.priority: tuple[bool, str] | None = None  # how the stream's thread runs (`realtime`), once it ran
        try:
            self.stream = sd.Stream(samplerate=sample_rate, channels=channels, dtype="float32", device=device,
                                    blocksize=blocksize, callback=self.callback)
        except (sd.PortAudioError, ValueError) as exc:  # no such device, rate, channel count or buffer size
            asked = f" with a {blocksize}-frame buffer" if blocksize else ""
            raise AudioDeviceError(f"cannot open the audio device{asked}: {exc}") from None
        self.sample_rate, self.channels, self.blocksize = int(self.stream.samplerate), channels, blocksize
        self.mixer = Mixer(channels, self.sample_rate, seconds, float(self.stream.latency[1]))

    def callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, when, status) -> None:
        if self.mixer is None:  # the stream is open, the mixer not yet made
            outdata.fill(0)
            return
        if self.priority is None:  # the first callback, on the stream's own thread
            self.priority = realtime()
        self.mixer.callback(indata, outdata, frames, when, status)

    @property
    def dropouts(self) -> int:
        """Blocks that went wrong so far: underruns and overruns."""
        return self.mixer.underruns + self.mixer.overruns if self.mixer else 0

    def start(self, on_lost: Callable[[str], None] | None = None) -> "LiveAudio":
        """Start the stream; `on_lost(message)` is called (on a watcher thread) if its device goes away."""
        # The callback needs the interpreter lock: another thread keeps it up to the switch
        # interval (5 ms by default, nearly a whole 256-frame block) before it must hand it over.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self.stream.start()
        self.running = True
        threading.Thread(target=self.watch, args=(on_lost,), name="live-watch", daemon=True).start()
        return self

    def lost(self) -> bool:
        """Whether the device went away under the running stream: PortAudio stopped it, or its
        callbacks stopped coming."""
        if not self.running or self.mixer is None:
            return False
        last = self.mixer.last_callback
        return not self.stream.active or (last is not None and time.monotonic() - last > STALLED)

    def watch(self, on_lost: Callable[[str], None] | None) -> None:
        """While the stream runs: say it once when its device goes away, and again if it comes back."""
        said, told = False, False
        while self.running:
            time.sleep(WATCH_EVERY)
            if self.priority is not None and not told:
                told, (fine, words) = True, self.priority
                log.log(logging.INFO if fine else logging.WARNING, "live audio thread: %s", words)
            if self.lost() != said:
                said = not said
                if said:
                    log.error(DEVICE_LOST)
                    if on_lost is not None:
                        on_lost(DEVICE_LOST)
                else:
                    log.warning("the live audio device runs again")

    def close(self) -> None:
        lost, self.running = self.lost(), False
        if lost:  # PortAudio would wait forever to stop a stream whose device is gone, at exit too
            import atexit

            import sounddevice as sd

            atexit.unregister(sd._exit_handler)  # sounddevice's own: it stops every stream
            return
        self.stream.stop()
        self.stream.close()

    def capture(self, frames: int) -> Clip:
        """The last `frames` of input, `[channels, frames]` at the stream's rate."""
        assert self.mixer is not None
        return Clip(self.mixer.ring.latest(frames), self.sample_rate)

    def play(self, clip: Clip, at: float | None = None, tag: str = "") -> Scheduled:
        """Schedule `clip` (at the stream's rate, or stretched to it) to start at monotonic time
        `at`, or as soon as possible."""
        assert self.mixer is not None
        return self.mixer.play(stretch(np.atleast_2d(clip.samples), clip.rate, self.sample_rate), at, tag)


def device_of(name: str | None) -> str | int | None:
    """`--audio-device`: sounddevice's number for one, its name otherwise (None: the system's)."""
    return int(name) if name and name.isdigit() else name


def stretch(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation rate change, good enough to audition a file (renders of live input
    already come back at the stream's rate and are played untouched)."""
    if rate == target:
        return audio
    n = round(audio.shape[1] * target / rate)
    x = np.arange(n) * (rate / target)
    return np.stack([np.interp(x, np.arange(audio.shape[1]), ch) for ch in audio]).astype(np.float32)
