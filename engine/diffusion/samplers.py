"""Samplers, all with one signature (after k-diffusion):

    sample_x(denoiser, x, sigmas, *, generator=None, callback=None, eta=0.0, **options) -> x0

`x` is the starting sample at noise level `sigmas[0]`; `sigmas` is descending and ends at 0.
`callback` receives a dict after every model evaluation (`i`, `n`, `x`, `sigma`, `denoised`);
raising from it stops sampling between two steps, which is how cancellation works.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from engine.diffusion.denoiser import DenoiserFn

Callback = Callable[[dict[str, Any]], None]


def randn_like(x: Tensor, generator: torch.Generator | None, coherence: float = 0.0) -> Tensor:
    """Gaussian noise shaped like `x` `[B, C, F, T]`, unit variance everywhere and correlated
    `coherence` between the audio channels `C`; drawn on the generator's device so that a seed
    gives the same numbers whatever device the model runs on."""
    def draw(shape: torch.Size) -> Tensor:
        if generator is None:
            return torch.randn(shape, device=x.device, dtype=x.dtype)
        return torch.randn(shape, generator=generator, device=generator.device).to(x)

    own = draw(x.shape)
    if not coherence or x.dim() < 4 or x.shape[1] < 2:
        return own
    return coherence ** 0.5 * draw(x[:, :1].shape) + (1 - coherence) ** 0.5 * own


def ancestral_split(sigma: Tensor, sigma_next: Tensor, eta: float) -> tuple[Tensor, Tensor]:
    """Split a step to `sigma_next` into a deterministic part (down) and fresh noise (up).
    eta 0 is DDIM, eta 1 is DDPM's ancestral step."""
    if eta == 0 or sigma_next == 0:
        return sigma_next, torch.zeros_like(sigma_next)
    up = eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2).sqrt()
    up = torch.minimum(up, sigma_next)
    return (sigma_next**2 - up**2).sqrt(), up


def ddim_step(denoiser: DenoiserFn, x: Tensor, sigma: Tensor, sigma_next: Tensor, eta: float,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """One DDIM step; returns the new sample and the model's clean estimate."""
    denoised = denoiser(x, sigma.expand(x.shape[0]))
    down, up = ancestral_split(sigma, sigma_next, eta)
    x = denoised + down * (x - denoised) / sigma
    if up > 0:
        x = x + up * randn_like(x, generator)
    return x, denoised


@torch.no_grad()
def sample_ddim(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *,
                generator: torch.Generator | None = None, callback: Callback | None = None,
                eta: float = 0.0) -> Tensor:
    """DDIM (Song et al. 2021); with eta 0 it is deterministic given `x`."""
    n = len(sigmas) - 1
    for i in range(n):
        x, denoised = ddim_step(denoiser, x, sigmas[i], sigmas[i + 1], eta, generator)
        if callback is not None:
            callback({"i": i, "n": n, "x": x, "sigma": sigmas[i], "denoised": denoised})
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *,
                    generator: torch.Generator | None = None, callback: Callback | None = None,
                    eta: float = 0.0) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): second-order multistep in log-SNR time, reusing
    the previous step's estimate, so one model evaluation per step. Deterministic (no eta)."""
    n = len(sigmas) - 1
    previous = None
    for i in range(n):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoiser(x, sigma.expand(x.shape[0]))
        if callback is not None:
            callback({"i": i, "n": n, "x": x, "sigma": sigma, "denoised": denoised})
        if sigma_next == 0:
            x = denoised
        else:
            h = sigma.log() - sigma_next.log()  # step in lambda = -log(sigma)
            estimate = denoised
            # second order, except into the lowest level: that last step is much longer in
            # log-sigma than the one before, and extrapolating over it overshoots
            # (DPM-Solver's "lower order final")
            if previous is not None and i != n - 2:
                r = (sigmas[i - 1].log() - sigma.log()) / h
                estimate = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
            x = (sigma_next / sigma) * x - torch.expm1(-h) * estimate
        previous = denoised
    return x


def repaint_path(steps: int, jump_length: int, resample: int) -> list[int]:
    """Indices into `sigmas` visited by RePaint (Lugmayr et al. 2022): go down, and at every
    `jump_length`-th step go back up `jump_length` steps, `resample - 1` times."""
    path, i = [0], 0
    jumps: dict[int, int] = {}  # step -> times jumped back from it
    while i < steps:
        i += 1
        path.append(i)
        if i < steps and i % jump_length == 0 and jumps.get(i, 0) < resample - 1:
            jumps[i] = jumps.get(i, 0) + 1
            i -= jump_length
            path.append(i)
    return path


def repaint_passes(steps: int, jump_length: int, resample: int) -> int:
    """Model calls on RePaint's walk: one per step down."""
    path = repaint_path(steps, max(1, jump_length), max(1, resample))
    return sum(1 for a, b in zip(path, path[1:]) if b > a)


@torch.no_grad()
def sample_repaint(denoiser: DenoiserFn, x: Tensor, sigmas: Tensor, *,
                   generator: torch.Generator | None = None, callback: Callback | None = None,
                   eta: float = 1.0, jump_length: int = 10, resample: int = 3) -> Tensor:
    """RePaint's resampling walk: DDIM steps down (eta 1 = ancestral, as in the paper) and
    forward-diffusion jumps back up, so the unknown part harmonises with the known part
    (known parts are imposed by the denoiser, see `KnownRegion`)."""
    path = repaint_path(len(sigmas) - 1, max(1, jump_length), max(1, resample))
    n = repaint_passes(len(sigmas) - 1, jump_length, resample)
    done = 0
    for a, b in zip(path, path[1:]):
        if b > a:
            x, denoised = ddim_step(denoiser, x, sigmas[a], sigmas[b], eta, generator)
            if callback is not None:
                callback({"i": done, "n": n, "x": x, "sigma": sigmas[a], "denoised": denoised})
            done += 1
        else:  # jump back up: re-noise from sigmas[a] to the larger sigmas[b]
            x = x + (sigmas[b] ** 2 - sigmas[a] ** 2).sqrt() * randn_like(x, generator)
    return x


SAMPLERS = {"ddim": sample_ddim, "dpmpp_2m": sample_dpmpp_2m}
