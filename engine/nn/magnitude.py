"""The magnitude network (Msanii's light "vocoder"): scaled log-mel -> linear STFT magnitude,
whose phase `engine.resynthesis` recovers. Not a waveform vocoder: that name stays free for one.

`[batch, audio_channels, n_mels, frames]` -> `[batch, audio_channels, n_fft // 2 + 1, frames]`.
With `residual` (the default) the network predicts a log-domain correction to the analytic
pseudo-inverse of the mel filterbank and starts at zero: an untrained network is exactly the
analytic inversion, and training can only move it from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from engine.nn.blocks import ResidualBlock


@dataclass(frozen=True)
class MagnitudeConfig:
    n_mels: int = 128
    n_freqs: int = 1025
    d_model: int = 256
    d_hidden_factor: int = 4
    max_log_magnitude: float = 12.0  # exp(12) is far above any full-scale STFT bin
    residual: bool = True  # predict a correction to the analytic inversion


class MagnitudeNet(nn.Module):
    def __init__(self, config: MagnitudeConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Conv2d(config.n_mels, config.d_model, kernel_size=1)
        self.residual = ResidualBlock(config.d_model, config.d_model, config.d_hidden_factor)
        self.output = nn.Conv2d(config.d_model, config.n_freqs, kernel_size=1)
        if config.residual:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)  # type: ignore[arg-type]  # a Conv2d made with a bias

    def forward(self, mel: Tensor) -> Tensor:
        """Natural-log magnitude, or with `residual` the correction to add to the analytic one."""
        hidden = self.residual(self.input(mel.transpose(1, 2)))
        return self.output(hidden).transpose(1, 2)
