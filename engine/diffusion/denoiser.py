"""Adapter from the U-Net (epsilon or v prediction, variance-preserving inputs) to the one
interface every sampler uses: `denoiser(x, sigma) -> x0`, shapes `[B, ...]` and `[B]`."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from engine.diffusion.schedule import Schedule


class DenoiserFn(Protocol):
    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor: ...


def broadcast(sigma: Tensor, x: Tensor) -> Tensor:
    """`[B]` -> `[B, 1, 1, ...]` to multiply with `x`."""
    return sigma.reshape(-1, *([1] * (x.ndim - 1)))


class Denoiser:
    """Predicts the clean sample, with classifier-free guidance when a condition is given.

    guidance 1.0 runs only the conditional model; g != 1 returns
    `uncond + g * (cond - uncond)`. Predictions are clamped to `bounds`, the range of the data
    (the scaled mel's [-1, 1] in diffusion space), which keeps epsilon models stable at the very
    noisy end of the schedule.
    """

    def __init__(self, unet: nn.Module, schedule: Schedule, prediction: str,
                 cond: Tensor | None = None, cond_mask: Tensor | None = None,
                 guidance: float = 1.0, bounds: tuple[float, float] = (-1.0, 1.0),
                 context: Tensor | None = None, frame_rate: float = 0.0) -> None:
        self.unet, self.schedule, self.prediction = unet, schedule, prediction
        self.cond, self.cond_mask, self.guidance = cond, cond_mask, guidance
        self.bounds, self.context = bounds, context
        self.frame_rate = frame_rate  # mel frames per second (what a copy guess searches by)

    @property
    def takes_context(self) -> bool:
        """A context-conditioned U-Net (it sees the known mel and mask)."""
        return bool(getattr(getattr(self.unet, "config", None), "context", False))

    @property
    def context_guess(self) -> str:
        """Which second first guess its context input was trained with (see `known_context`)."""
        return str(getattr(getattr(self.unet, "config", None), "context_guess", "repeat"))

    def with_context(self, context: Tensor) -> "Denoiser":
        """The same denoiser, shown `context` (`known_context(...)` in diffusion space)."""
        return Denoiser(self.unet, self.schedule, self.prediction, self.cond, self.cond_mask,
                        self.guidance, self.bounds, context, self.frame_rate)

    def _x0(self, x: Tensor, sigma: Tensor, cond: Tensor | None, mask: Tensor | None) -> Tensor:
        alpha = broadcast(1 / (1 + sigma**2).sqrt(), x)  # VP signal scale
        s = broadcast(sigma, x)
        t = self.schedule.sigma_to_t(sigma)
        if self.context is None:
            out = self.unet(x * alpha, t, cond, mask).float()
        else:
            context = self.context.repeat(x.shape[0] // self.context.shape[0], 1, 1, 1)  # CFG doubles x
            out = self.unet(x * alpha, t, cond, mask, context).float()
        if self.prediction == "eps":
            return x - s * out
        # v = alpha_vp * eps - sigma_vp * x0  =>  x0 = alpha_vp * x_vp - sigma_vp * v
        return alpha * (alpha * x) - (s * alpha) * out

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        if self.cond is not None and self.cond.shape[0] != x.shape[0]:  # one prompt, many items
            self.cond = self.cond.expand(x.shape[0], -1, -1)
            self.cond_mask = None if self.cond_mask is None else self.cond_mask.expand(x.shape[0], -1)
        if self.cond is None:
            x0 = self._x0(x, sigma, None, None)
        elif self.guidance == 1.0:
            x0 = self._x0(x, sigma, self.cond, self.cond_mask)
        else:  # one batched pass: conditional rows, then the same rows with no condition
            mask = self.cond_mask
            if mask is None:
                mask = torch.ones(self.cond.shape[:2], dtype=torch.bool, device=x.device)
            both = self._x0(torch.cat((x, x)), torch.cat((sigma, sigma)),
                            torch.cat((self.cond, self.cond)),
                            torch.cat((mask, torch.zeros_like(mask))))
            cond_x0, uncond_x0 = both.chunk(2)
            x0 = uncond_x0 + self.guidance * (cond_x0 - uncond_x0)
        return x0.clamp(*self.bounds)
