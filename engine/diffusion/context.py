"""What a context-conditioned U-Net sees beside the noisy mel: the known frames, and for the
frames to make two first guesses a musician would try, so the network starts from them instead
of having to carry the context across the gap itself:

- a smooth guess: each unknown run interpolated linearly between the mean of the known frames
  in the 0.74 s on either side (held flat where only one side is known);
- a second guess, one of two kinds (the model's `context_guess` says which it learned with):
  `repeat`, each run filled with the frames just before it, repeated (loop-repeat; after it for
  a left extension); or `copy`, each run filled from the known frames whose surroundings best
  match its own (`engine.guide`'s search on the mel alone), loop-repeat where nothing matches.

Then the mask row (1 = known frame). `[B, C, F, T]` + `[T]` or `[B, T]` bool ->
`[B, C, 2F + 1, T]`; where nothing is known both guesses are zeros (the data mean).
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.guide import best_offset, copy_fill

EDGE_FRAMES = 64  # frames averaged at each side of a run for the smooth guess (0.74 s at hop 512: measured best)
COPY_NEIGHBOURHOOD = 0.5  # seconds compared on each side for the copy guess (training crops are 5 s)


def unknown_runs(is_known: Tensor) -> list[tuple[int, int]]:
    """`[T]` bool -> [(start, end), ...] of the unknown frames, left to right."""
    change = torch.diff(torch.cat((torch.zeros(1), (~is_known).float().cpu(), torch.zeros(1))))
    starts = torch.nonzero(change == 1).flatten().tolist()
    ends = torch.nonzero(change == -1).flatten().tolist()
    return list(zip(starts, ends))


def guesses(known: Tensor, is_known: Tensor, kind: str = "repeat", frame_rate: float = 0.0) -> tuple[Tensor, Tensor]:
    """The smooth and the second guess (of `kind`) for one row: `known` `[C, F, T]`, `is_known` `[T]`;
    the copy guess needs the mel's `frame_rate` (frames per second) to search by."""
    if kind == "copy" and frame_rate <= 0:
        raise ValueError("the copy guess needs the mel's frame rate")
    smooth, second = known * is_known, known * is_known
    frames = known.shape[-1]
    if not is_known.any():
        return smooth, second
    searched = (smooth.mean(0).float().cpu(), is_known.cpu()) if kind == "copy" else None
    for start, end in unknown_runs(is_known):
        length = end - start
        left = known[..., max(0, start - EDGE_FRAMES): start].mean(-1) if start > 0 else None
        right = known[..., end: end + EDGE_FRAMES].mean(-1) if end < frames else None
        if left is None:
            left = right
        if right is None:
            right = left
        ramp = (torch.arange(length, dtype=known.dtype, device=known.device) + 0.5) / length
        smooth[..., start:end] = left[..., None] + (right - left)[..., None] * ramp  # type: ignore[index, operator]
        offset = None if searched is None else best_offset(*searched, start, end, frame_rate, COPY_NEIGHBOURHOOD)
        if offset is not None:
            second[..., start:end] = copy_fill(second, start, end, offset)  # reads known frames only
            continue
        if start > 0:  # the frames just before, repeated (earlier runs already filled)
            source = second[..., max(0, start - length): start]
        else:
            source = known[..., end: min(frames, end + length)]
        reps = -(-length // source.shape[-1])
        second[..., start:end] = source.repeat(1, 1, reps)[..., :length]
    return smooth, second


def known_context(known: Tensor, is_known: Tensor, kind: str = "repeat", frame_rate: float = 0.0) -> Tensor:
    """The context input of a context-conditioned U-Net (see the module docstring); `kind` is
    the kind of second guess, `frame_rate` the mel's frames per second (the copy guess's)."""
    batch, channels, _, frames = known.shape
    rows = is_known.reshape(-1, frames).expand(batch, frames)
    smooth, second = zip(*(guesses(known[b], rows[b], kind, frame_rate) for b in range(batch)))
    mask = rows.to(known.dtype)[:, None, None, :].expand(batch, channels, 1, frames)
    return torch.cat((torch.stack(smooth), torch.stack(second), mask), dim=2)
