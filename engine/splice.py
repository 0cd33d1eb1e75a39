"""Splicing rendered audio into the original so that everything outside the edited regions
stays sample-identical, with equal-power crossfades inside the edited regions."""

from __future__ import annotations

import numpy as np


def equal_power_fade(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_out, fade_in) gains over `samples` samples with fade_out^2 + fade_in^2 = 1, the
    right law for joining two signals with unrelated phase (no dip, no bump in level)."""
    u = (np.arange(samples, dtype=np.float64) + 0.5) / max(samples, 1)
    return np.cos(u * np.pi / 2).astype(np.float32), np.sin(u * np.pi / 2).astype(np.float32)


def splice(original: np.ndarray, patch: np.ndarray, start: int, end: int,
           fade: int, fade_start: bool = True, fade_end: bool = True) -> np.ndarray:
    """Copy of `original` `[C, S]` whose samples `[start, end)` come from `patch` `[C, end - start]`.
    The first and last `fade` samples of the span blend original -> patch -> original;
    a side whose fade is disabled (or that touches the file's edge) is a plain cut."""
    out = original.copy()
    span = end - start
    body = patch.astype(np.float32, copy=True)
    fade = min(fade, span // 2) if fade_start and fade_end else min(fade, span)
    fade_out, fade_in = equal_power_fade(fade)
    if fade and fade_start and start > 0:
        body[:, :fade] = original[:, start:start + fade] * fade_out + body[:, :fade] * fade_in
    if fade and fade_end and end < original.shape[-1]:
        body[:, span - fade:] = body[:, span - fade:] * fade_out + original[:, end - fade:end] * fade_in
    out[:, start:end] = body
    return out
