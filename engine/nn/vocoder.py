"""Msanii's light vocoder: scaled log-mel -> linear STFT magnitude, then Griffin-Lim for phase.

`[batch, audio_channels, n_mels, frames]` -> `[batch, audio_channels, n_fft // 2 + 1, frames]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.nn.blocks import ResidualBlock


@dataclass(frozen=True)
class VocoderConfig:
    n_mels: int = 128
    n_freqs: int = 1025
    d_model: int = 256
    d_hidden_factor: int = 4
    max_log_magnitude: float = 12.0  # exp(12) is far above any full-scale STFT bin


class Vocoder(nn.Module):
    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Conv2d(config.n_mels, config.d_model, kernel_size=1)
        self.residual = ResidualBlock(config.d_model, config.d_model, config.d_hidden_factor)
        self.output = nn.Conv2d(config.d_model, config.n_freqs, kernel_size=1)

    def forward(self, mel: Tensor) -> Tensor:
        """Natural-log magnitude (what training compares)."""
        hidden = self.residual(self.input(mel.transpose(1, 2)))
        return self.output(hidden).transpose(1, 2)

    def magnitude(self, mel: Tensor) -> Tensor:
        """Linear magnitude for Griffin-Lim."""
        return torch.exp(self(mel).clamp(max=self.config.max_log_magnitude))
