"""The diffusion loss per noise level, and the floor that a U-Net's output map puts under it.

A U-Net's prediction is a linear map of its last features plus a bias: it lies in the column
space of that map. Whatever part of the target lies outside it (and is not constant) no weights
can predict, so its mean square is a floor under the loss; a map narrower than the mel bands
leaves those directions as noise in every sample. Pure functions of a model and audio
`[B, channels, samples]` at the model's rate (its frames trimmed to what the U-Net takes);
levels are timesteps of the training schedule.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.model import MsaniiModel
from engine.nn import UNet

LEVELS = tuple(range(50, 1000, 100))  # ten timesteps, low noise to high


def output_basis(unet: UNet, tolerance: float = 1e-4) -> Tensor:
    """Orthonormal basis `[n_mels, rank]` of the directions the U-Net's output can reach."""
    u, s, _ = torch.linalg.svd(torch.cat(unet.output_maps(), dim=1).detach().float(), full_matrices=False)
    return u[:, : int((s > s[0] * tolerance).sum())]


def _targets(model: MsaniiModel, audio: Tensor, level: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """(x_t, t, target) at one noise level, with noise drawn from `seed`."""
    config = model.config.diffusion
    device = next(model.parameters()).device
    x0 = (model.spectral.encode(audio.to(device)) - config.data_mean) / config.data_std
    multiple = model.config.unet.frame_multiple
    x0 = x0[..., : x0.shape[-1] // multiple * multiple]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed + level)).to(device)
    a = model.schedule.alphas_cumprod[level].to(device)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    target = noise if config.prediction == "eps" else a.sqrt() * noise - (1 - a).sqrt() * x0
    return x_t, torch.full((x0.shape[0],), float(level), device=device), target


@torch.inference_mode()
def loss_by_level(model: MsaniiModel, audio: Tensor, levels: tuple[int, ...] = LEVELS, seed: int = 0) -> list[float]:
    """The training loss (MSE of the prediction) at each level, the whole crop unknown."""
    losses = []
    for level in levels:
        x_t, t, target = _targets(model, audio, level, seed)
        losses.append(float(torch.mean((model.unet(x_t, t).float() - target) ** 2)))
    return losses


@torch.inference_mode()
def floor_by_level(model: MsaniiModel, audio: Tensor, levels: tuple[int, ...] = LEVELS, seed: int = 0) -> list[float]:
    """The least loss the U-Net's output map allows at each level: the mean square of the
    target's part outside the map's column space, less its best constant (the bias)."""
    basis = output_basis(model.unet).to(next(model.parameters()).device)
    floors = []
    for level in levels:
        _, _, target = _targets(model, audio, level, seed)
        bands = target.transpose(2, 3)  # [B, C, T, n_mels]
        outside = bands - bands @ basis @ basis.T
        outside = outside - outside.mean(dim=(0, 1, 2), keepdim=True)
        floors.append(float(torch.mean(outside ** 2)))
    return floors
