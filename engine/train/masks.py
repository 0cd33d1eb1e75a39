"""Which frames a training example must generate: the mix of edits the context model learns.

Per example one kind, drawn with `KINDS`' weights: one to three gaps of 0.25-6 s (inpainting),
the right or the left part (extension), everything (generation, and the whole-clip tasks:
style transfer and interpolation start from it). Lengths are clipped so some context stays.
"""

from __future__ import annotations

import torch
from torch import Tensor

KINDS = {"gaps": 0.45, "right": 0.2, "left": 0.1, "all": 0.25}
GAP_SECONDS = (0.25, 6.0)


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def draw_unknown(batch: int, frames: int, frames_per_second: float, generator: torch.Generator) -> Tensor:
    """`[batch, frames]` bool, True = to generate."""
    names, weights = list(KINDS), torch.tensor(list(KINDS.values()))
    unknown = torch.zeros(batch, frames, dtype=torch.bool)
    longest = int(0.7 * frames)  # leave at least 30 % of the crop as context
    for row in range(batch):
        kind = names[int(torch.multinomial(weights, 1, generator=generator))]
        if kind == "all":
            unknown[row] = True
            continue
        if kind == "gaps":
            count = 1 + int(torch.randint(3, (), generator=generator))
            for _ in range(count):
                length = min(longest // count, max(1, round(uniform(generator, *GAP_SECONDS) * frames_per_second)))
                start = int(torch.randint(0, frames - length + 1, (), generator=generator))
                unknown[row, start: start + length] = True
            continue
        length = max(1, round(uniform(generator, 0.1, 0.7) * frames))
        if kind == "right":
            unknown[row, frames - length:] = True
        else:
            unknown[row, :length] = True
    return unknown
