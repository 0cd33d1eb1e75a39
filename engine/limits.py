"""What one request may ask of the engine, checked from the request before any work: a result
must fit in one protocol message, and a request's regions are bounded (each costs a search and
a diffusion). Numbers only; the tasks call these where the sizes are known."""

from __future__ import annotations

from engine.errors import TooLarge
from engine.protocol import MAX_HEADER_BYTES, MAX_MESSAGE_BYTES

MAX_RESULT_BYTES = MAX_MESSAGE_BYTES - MAX_HEADER_BYTES  # float32 audio the result message can carry
MAX_REGIONS = 64  # inpaint regions in one request
# Model passes x frames x audio channels one diffusion may run: two channels of the longest
# window (8192 frames) at 500 steps, about 11 minutes on a 2-core CPU (80 us per frame and channel).
MAX_WORK = 2 * 8192 * 500


def check_result_size(channels: int, samples: int, sample_rate: int, count: int = 1) -> None:
    """Refuse a result of `count` clips of `[channels, samples]` float32 over the message limit."""
    size = 4 * channels * samples * count
    if size > MAX_RESULT_BYTES:
        what = f"{count} x " if count > 1 else ""
        raise TooLarge(f"the result would be {what}{samples / sample_rate:.1f} s of {channels}-channel audio at "
                       f"{sample_rate} Hz, {size / 2**20:.0f} MiB; at most {MAX_RESULT_BYTES // 2**20} MiB comes back "
                       "at once: ask for fewer channels, a lower rate, a shorter length or fewer variations")


def check_work(passes: int, frames: int, channels: int) -> None:
    """Refuse a diffusion of `passes` model calls over `frames` frames of `channels` audio channels
    that would hold the engine longer than any one job may."""
    work = passes * frames * channels
    if work > MAX_WORK:
        raise TooLarge(f"this render would run the model {passes} times over {frames} frames of {channels} audio "
                       f"channel(s), {work / MAX_WORK:.1f} times the most one job may ask: use fewer steps, "
                       "a shorter length or fewer channels")


def check_region_count(count: int) -> None:
    if count > MAX_REGIONS:
        raise TooLarge(f"{count} regions in one request; at most {MAX_REGIONS}: send them in several requests")
