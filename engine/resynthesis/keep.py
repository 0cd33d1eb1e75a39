"""What a render keeps of audio it already has (`Keep`). After an edit that has a source (style
transfer, interpolation, vary): start phase recovery from the source's phase, keep its stereo
image, and iterate only as much as the edit needs; a fill starts from its draft's phase; the
model's own audio (generation) from random phase.

Measured on held-out real music with the bundled model (`bench/bench_phase.py`,
docs/benchmarks.md): the source's phase as it is, with no Griffin-Lim iteration at all, is
closer to the source than 32 iterations from it or from random phase at every strength (spectral
convergence at strength 0.3: 0.55 against 0.87, transients too), and 30 times faster; a few
iterations make the result's STFT more consistent with the magnitude the model asked for, which
pays only where the model changed a lot. Each channel keeps the source's share of every
bin and frame, so the image stays where it was (L/R correlation within 0.05 at strength 0.3;
spread by the model's independently edited channels it fell by 0.14)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

DEFAULT_ITERATIONS = 32  # from random phase (generation, the model's own fills)
TRUSTED_STRENGTH = 0.3  # up to here the source's phase is used as it is
ITERATIONS_BEYOND = 4  # above it: enough to make the STFT consistent with the edit


def iterations_after(strength: float) -> int:
    """Griffin-Lim iterations after an edit of `strength` that starts from the source's phase."""
    return 0 if strength <= TRUSTED_STRENGTH else ITERATIONS_BEYOND


@dataclass(frozen=True)
class Keep:
    """`phase`: audio `[B, C, samples]` whose phase recovery starts from (a source or draft);
    `image`: audio whose stereo image (each channel's share of every bin and frame) the result
    keeps; `iterations`: phase recovery the render needs (unless the settings name a number)."""
    phase: Tensor | None = None
    image: Tensor | None = None
    iterations: int = DEFAULT_ITERATIONS

    @classmethod
    def source(cls, audio: Tensor, strength: float) -> "Keep":
        """An edit of `audio` at `strength`: its phase and stereo image, and as many iterations
        as that strength needs."""
        return cls(audio, audio, iterations_after(strength))

    @classmethod
    def draft(cls, audio: Tensor | None) -> "Keep":
        """A fill drafted as `audio` (None: nothing drafted): phase recovery starts from it."""
        return cls(phase=audio)


NOTHING = Keep()  # the model's own audio: random phase


def balanced(magnitude: Tensor, source: Tensor) -> Tensor:
    """`magnitude` `[..., channels, bins, frames]` with its channel mean spread over the channels
    as `source`'s (same shape) is, bin by bin and frame by frame: the source's stereo image."""
    share = source / source.mean(-3, keepdim=True).clamp(min=1e-5)
    return magnitude.mean(-3, keepdim=True) * share
