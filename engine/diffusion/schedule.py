"""Noise schedule: the cosine schedule of Nichol & Dhariwal (2021) over `train_steps` discrete
steps, exposed in k-diffusion's terms. A noisy sample is `x = x0 + sigma * noise` (variance
exploding form); the network sees the variance-preserving `x / sqrt(1 + sigma^2)` and the
(fractional) timestep whose noise level is `sigma`. Pure functions of tensors, nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def cosine_alphas_cumprod(train_steps: int = 1000, offset: float = 0.008,
                          max_beta: float = 0.999) -> Tensor:
    """Cumulative signal fraction alpha_bar[t] for t = 0 .. train_steps - 1 (float64)."""
    steps = torch.arange(train_steps + 1, dtype=torch.float64) / train_steps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1 - betas, dim=0)


@dataclass(frozen=True)
class DiffusionConfig:
    train_steps: int = 1000
    prediction: str = "v"  # "eps" or "v"
    window_frames: int = 8192  # one model context, in mel frames (seconds: times the hop, over the rate)
    # Diffusion runs on (scaled mel - data_mean) / data_std: unit-variance data is what the v
    # (and epsilon) parameterisation assumes, so the model's skip path starts near the optimal
    # denoiser instead of having to learn it. Measured on the training data at the start.
    data_mean: float = 0.0
    data_std: float = 1.0

    def __post_init__(self) -> None:
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', not {self.prediction!r}")


class Schedule:
    """Maps between noise levels (sigmas) and timesteps of a discrete cosine schedule."""

    def __init__(self, train_steps: int = 1000) -> None:
        alphas_cumprod = cosine_alphas_cumprod(train_steps)
        self.train_steps = train_steps
        self.alphas_cumprod = alphas_cumprod.float()  # for training: x_t = sqrt(a) x0 + sqrt(1 - a) eps
        self.log_sigmas = (((1 - alphas_cumprod) / alphas_cumprod).sqrt().log()).float()

    @property
    def sigma_min(self) -> float:
        return float(self.log_sigmas[0].exp())

    @property
    def sigma_max(self) -> float:
        return float(self.log_sigmas[-1].exp())

    def t_to_sigma(self, t: Tensor) -> Tensor:
        """Fractional timestep(s) -> sigma, interpolating log-sigma linearly."""
        t = t.float().clamp(0, self.train_steps - 1)
        low = t.floor().long()
        high = (low + 1).clamp(max=self.train_steps - 1)
        frac = t - low
        log_sigmas = self.log_sigmas.to(t.device)
        return ((1 - frac) * log_sigmas[low] + frac * log_sigmas[high]).exp()

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """Inverse of `t_to_sigma` (sigma is monotone in t)."""
        log_sigmas = self.log_sigmas.to(sigma.device)
        log_sigma = sigma.float().log().clamp(log_sigmas[0], log_sigmas[-1])
        high = torch.searchsorted(log_sigmas, log_sigma.reshape(-1)).clamp(1, self.train_steps - 1)
        high = high.reshape(log_sigma.shape)
        low = high - 1
        frac = (log_sigma - log_sigmas[low]) / (log_sigmas[high] - log_sigmas[low])
        return low.float() + frac.clamp(0, 1)

    def sigmas(self, steps: int, start: float = 1.0) -> Tensor:
        """`steps` noise levels evenly spaced in timestep from `start` (fraction of the full
        schedule, 1.0 = pure noise) down to timestep 0, followed by a final 0 (clean). Ending
        the model's evaluations at the lowest level keeps the last, first-order jump tiny."""
        t_start = start * (self.train_steps - 1)
        ts = torch.linspace(t_start, 0, steps) if steps > 1 else torch.tensor([t_start])
        return torch.cat((self.t_to_sigma(ts), torch.zeros(1)))
