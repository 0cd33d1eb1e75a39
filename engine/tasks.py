"""The editing tasks, as compositions of one sampler over scaled mels `[B, C, n_mels, frames]`.
No audio, no files: the pipeline turns seconds and samples into the frames used here."""

from __future__ import annotations

import torch
from torch import Tensor

from engine.diffusion import Diffuser


def frames_touching(start: int, end: int, frames: int, hop: int, n_fft: int) -> Tensor:
    """`[frames]` bool: the (centred) STFT frames whose window overlaps samples `[start, end)`.
    Those are regenerated; every other frame only ever saw audio outside the region."""
    centres = torch.arange(frames) * hop
    return (centres + n_fft // 2 > start) & (centres - n_fft // 2 < end)


def generate(diffuser: Diffuser, shape: tuple[int, int, int, int], device: torch.device) -> Tensor:
    """New music from pure noise."""
    return diffuser.sample(shape, device=device)


def style_transfer(diffuser: Diffuser, mel: Tensor, strength: float) -> Tensor:
    """SDEdit: noise the source to `strength` of the schedule, then denoise. Low strength keeps
    the structure (notes, rhythm); high strength keeps little more than the overall shape."""
    return diffuser.sample(tuple(mel.shape), start=strength, init=mel, device=mel.device)


def interpolate(diffuser: Diffuser, mel_a: Tensor, mel_b: Tensor, ratio: float, strength: float) -> Tensor:
    """Noise both to `strength`, blend by `ratio` (0 = all a), denoise. Noising a and b with
    independent noise and mixing the noises with power-preserving weights is, in
    distribution, the same as noising the linear blend once, which is what is done here."""
    blend = torch.lerp(mel_a, mel_b, ratio)
    return diffuser.sample(tuple(blend.shape), start=strength, init=blend, device=blend.device)


def inpaint(diffuser: Diffuser, mel: Tensor, unknown: Tensor, mode: str,
            draft: Tensor | None = None, guide: float = 1.0) -> Tensor:
    """Regenerate the frames where `unknown` `[frames]` is True, keeping all others; from a
    `draft` of the whole mel noised to `guide` of the schedule when given (SDEdit)."""
    return diffuser.sample(tuple(mel.shape), start=guide if draft is not None else 1.0, init=draft,
                           known=mel, unknown=unknown, mode=mode, device=mel.device)


def outpaint(diffuser: Diffuser, mel: Tensor, new_frames: int, direction: str,
             context_frames: int, window_frames: int, mode: str) -> Tensor:
    """Extend `mel` by `new_frames` to the right or left. Each window sees up to
    `context_frames` of what is already there and adds at most `window_frames -
    context_frames` frames, so an extension longer than one model context is built window
    after window, each continuing the last. Returns the whole extended mel."""
    context_frames = min(context_frames, window_frames // 2)
    out = mel
    remaining = new_frames
    while remaining > 0:
        context = min(out.shape[-1], context_frames)
        grow = min(remaining, window_frames - context)
        blank = torch.zeros(*out.shape[:-1], grow, device=out.device)
        unknown = torch.zeros(context + grow, dtype=torch.bool)
        if direction == "right":
            window = torch.cat((out[..., out.shape[-1] - context:], blank), dim=-1)
            unknown[context:] = True
            filled = inpaint(diffuser, window, unknown, mode)
            out = torch.cat((out, filled[..., context:]), dim=-1)
        else:
            window = torch.cat((blank, out[..., :context]), dim=-1)
            unknown[:grow] = True
            filled = inpaint(diffuser, window, unknown, mode)
            out = torch.cat((filled[..., :grow], out), dim=-1)
        remaining -= grow
    return out
