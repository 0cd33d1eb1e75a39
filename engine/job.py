"""One call of a task: its seed, settings, progress and cancellation, and what it returns."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from engine.errors import BadParameter, JobCancelled
from engine.settings import RenderSettings

OnProgress = Callable[[float, str], None]  # (fraction 0..1, stage)
Cancel = Callable[[], bool]  # returns True when the job should stop
OPTIONS = ("seed", "settings", "progress", "cancel")  # what every task takes besides its parameters


@dataclass(frozen=True)
class Render:
    audio: np.ndarray  # float32 [channels, samples]
    sample_rate: int
    seed: int
    info: dict[str, Any] = field(default_factory=dict)  # what else was used: tempo and bars (`Meter.info`)

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


class RenderJob:
    """Seed, settings, progress and cancellation for one call. `segments` is how many
    sampler runs the diffusion part of the progress bar is shared between."""

    def __init__(self, settings: RenderSettings, seed: int | None = None, progress: OnProgress | None = None,
                 cancel: Cancel | None = None, segments: int = 1) -> None:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                                 or not 0 <= seed < 2**63):
            raise BadParameter(f"seed must be a whole number >= 0, not {seed!r}")
        if not isinstance(settings, RenderSettings):
            raise BadParameter("settings must be RenderSettings (give its fields as plain parameters)")
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.settings = settings
        self.generator = torch.Generator().manual_seed(self.seed)
        self.progress, self.cancel = progress, cancel
        self.segments, self.done = max(segments, 1), 0
        self.share = (0.0, 1.0)  # (start, width) of the caller's progress bar this job fills

    def check_variations(self, count: int) -> None:
        """Refuse, before any work, variations whose seeds (seed + k) would pass the largest seed."""
        if self.seed + count - 1 >= 2**63:
            raise BadParameter(f"seed {self.seed} leaves no room for {count} variations (seed + k must stay "
                               f"below 2**63): give a seed up to {2**63 - count}")

    def variation(self, k: int, of: int) -> "RenderJob":
        """Variation `k` of `of`: seed + k, the k-th share of the progress bar."""
        job = RenderJob(self.settings, self.seed + k, self.progress, self.cancel, self.segments)
        job.share = (k / of, 1 / of)
        return job

    def report(self, fraction: float, stage: str) -> None:
        if self.progress is not None:
            start, width = self.share
            self.progress(start + width * fraction, stage)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise JobCancelled("the job was cancelled")

    def on_step(self, info: dict[str, Any]) -> None:
        """Sampler callback: cancellation point and progress (diffusion is the first 90 %)."""
        self.check_cancel()
        finished = (info["i"] + 1) / info["n"]
        self.report(0.9 * min(1.0, (self.done + finished) / self.segments), "diffusion")
        if finished == 1:
            self.done += 1
