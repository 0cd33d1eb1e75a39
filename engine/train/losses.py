"""The two training objectives, as pure functions of a network and a batch of audio
`[B, C, samples]`. `net` is the module being trained (possibly wrapped for DDP)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from engine.diffusion.context import known_context
from engine.diffusion.schedule import Schedule
from engine.model import MsaniiModel
from engine.spectral import MelSpectral


def magnitude_loss(model: MsaniiModel, audio: Tensor, net: Callable[[Tensor], Tensor] | None = None,
                 fit_scaler: bool = True) -> Tensor:
    """Spectral convergence + L1 of log magnitudes between the magnitude network's STFT magnitude and the
    audio's. The learned mel scaler is fitted on the way while `fit_scaler` (Msanii fits it in
    this stage; once a U-Net depends on it, it stays frozen)."""
    spectral = model.spectral
    log_mel = spectral.log_mel(audio)
    if fit_scaler:
        spectral.scaler.update(log_mel)
        spectral.scaler.step()
    target = spectral.stft(audio).abs()
    log_predicted = model.log_magnitude(spectral.scaler(log_mel).detach(), net)
    predicted = torch.exp(log_predicted)
    convergence = torch.linalg.vector_norm(target - predicted) / torch.linalg.vector_norm(target).clamp(min=1e-8)
    log_distance = (log_predicted - torch.log(target + 1e-5)).abs().mean()
    return convergence + log_distance


def diffusion_loss(net: Callable[..., Tensor], spectral: MelSpectral, schedule: Schedule, audio: Tensor,
                   prediction: str, cond: Tensor | None = None, cond_mask: Tensor | None = None,
                   generator: torch.Generator | None = None, data: tuple[float, float] = (0.0, 1.0),
                   unknown: Tensor | None = None, guess: str = "repeat") -> Tensor:
    """Mean squared error of the epsilon or v prediction at a uniformly drawn timestep, on
    (scaled mel - mean) / std with `data` = (mean, std). With `unknown` `[B, frames]` (a
    context-conditioned U-Net) the net sees the clean known frames and the mask, and only the
    frames it must generate count; `guess` names its second first guess (`known_context`)."""
    with torch.no_grad():
        x0 = (spectral.encode(audio) - data[0]) / data[1]
    batch = x0.shape[0]
    t = torch.randint(0, schedule.train_steps, (batch,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    a = schedule.alphas_cumprod.to(x0.device)[t].reshape(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    target = noise if prediction == "eps" else a.sqrt() * noise - (1 - a).sqrt() * x0
    if unknown is None:
        return torch.mean((net(x_t, t.float(), cond, cond_mask).float() - target) ** 2)
    unknown = unknown.to(x0.device)
    predicted = net(x_t, t.float(), cond, cond_mask, known_context(x0, ~unknown, guess, spectral.config.frame_rate))
    weight = unknown[:, None, None, :].to(x0.dtype).expand_as(target)
    return ((predicted.float() - target) ** 2 * weight).sum() / weight.sum().clamp(min=1)
