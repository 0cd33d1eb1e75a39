"""A clip: samples `[channels, samples]` and their rate, the one form audio takes between the
caller and the tasks. Torch-free; checks of its content live in `engine.audio`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import BadParameter

MIN_RATE, MAX_RATE = 4_000, 768_000
MAX_CHANNELS = 16
MAX_SECONDS = 20 * 60.0  # longest input accepted (inpainting a region of a long file is fine)


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # [channels, samples] (1-D: mono)
    rate: int

    def __post_init__(self) -> None:
        if not isinstance(self.rate, (int, np.integer)) or isinstance(self.rate, bool) \
                or not MIN_RATE <= self.rate <= MAX_RATE:
            raise BadParameter(f"sample rate must be a whole number of Hz between {MIN_RATE} and {MAX_RATE}, "
                               f"not {self.rate!r}")

    @property
    def channels(self) -> int:
        return 1 if np.ndim(self.samples) == 1 else int(np.shape(self.samples)[0])

    @property
    def frames(self) -> int:
        return int(np.shape(self.samples)[-1])

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def span(self, start: int, end: int) -> "Clip":
        """Samples `[start, end)`, at the same rate."""
        return Clip(self.samples[..., start:end], self.rate)


def as_clip(audio: Any, rate: Any) -> Clip:
    """A Clip as given, or `audio` samples at `rate`."""
    return audio if isinstance(audio, Clip) else Clip(audio, rate)
