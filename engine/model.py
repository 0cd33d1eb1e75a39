"""The model bundle: spectral front end (with its fitted scalers), U-Net, magnitude network and
noise schedule, built from one frozen `ModelConfig` so a checkpoint can rebuild it from the file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor, nn

from engine.diffusion.denoiser import Denoiser
from engine.diffusion.schedule import DiffusionConfig, Schedule
from engine.nn import MagnitudeConfig, MagnitudeNet, UNet, UNetConfig
from engine.resynthesis import Keep, resynthesize, uses_network
from engine.spectral import MelSpectral, SpectralConfig

if TYPE_CHECKING:
    from engine.settings import RenderSettings


# what older files called a part: the magnitude network was the "vocoder" (config section,
# trained flag, weight names), which left no name for a waveform vocoder
RENAMED = {"vocoder": "magnitude"}
RENAMED_WEIGHTS = {"vocoder.": "magnitude_net."}


@dataclass(frozen=True)
class ConditioningConfig:
    text_encoder: str = ""  # "" = unconditional; else a name from engine.text.ENCODERS
    dropout: float = 0.1  # training: share of examples seen without their caption (for CFG)


@dataclass(frozen=True)
class ModelConfig:
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    unet: UNetConfig = field(default_factory=UNetConfig.cpu)
    magnitude: MagnitudeConfig = field(default_factory=MagnitudeConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)

    def __post_init__(self) -> None:
        if self.unet.d_freq != self.spectral.n_mels or self.magnitude.n_mels != self.spectral.n_mels:
            raise ValueError("U-Net, magnitude network and spectral config disagree on the number of mels")
        if self.magnitude.n_freqs != self.spectral.n_freqs:
            raise ValueError("the magnitude network's n_freqs must be n_fft // 2 + 1")
        if self.conditioning.text_encoder:
            from engine.text import ENCODERS

            if self.unet.d_cond != ENCODERS.get(self.conditioning.text_encoder):
                raise ValueError("the U-Net's d_cond must be the text encoder's width")

    @classmethod
    def preset(cls, name: str, text_encoder: str = "", d_cond: int = 0) -> "ModelConfig":
        """'real' (context-conditioned, hop 512: the default model), 'real-full' (the same with a
        full-rank outer stage), 'real-large' (the same for a
        GPU), 'gpu' (paper-sized, ~50 M U-Net), 'cpu' (Msanii's layout, laptop-sized), 'tiny' and
        'tiny-context' (tests), text conditioned when `text_encoder` is named. A bare `d_cond`
        gives a condition input without an encoder (tests feed it vectors directly)."""
        from engine.text import ENCODERS

        unets = {"real": UNetConfig.real, "real-full": UNetConfig.real_full, "real-large": UNetConfig.real_large,
                 "gpu": UNetConfig.gpu, "cpu": UNetConfig.cpu, "tiny": UNetConfig.tiny,
                 "tiny-context": lambda width: UNetConfig.tiny(width, context=True)}
        small = MagnitudeConfig(d_model=16, d_hidden_factor=1)
        magnitudes = {"real": MagnitudeConfig(d_model=128), "real-full": MagnitudeConfig(d_model=128),
                    "real-large": MagnitudeConfig(), "gpu": MagnitudeConfig(),
                    "cpu": MagnitudeConfig(d_model=128), "tiny": small, "tiny-context": small}
        # hop 512: Griffin-Lim from the true magnitude reaches spectral convergence 0.06 on real
        # music, against 0.23 at Msanii's 1024 (bench/bench_representation.py)
        hops = {"real": 512, "real-full": 512, "real-large": 512, "tiny-context": 512}
        if name not in unets:
            raise ValueError(f"unknown preset {name!r}; choose {', '.join(unets)}")
        width = ENCODERS[text_encoder] if text_encoder else d_cond
        return cls(spectral=SpectralConfig(hop_length=hops.get(name, 1024)), unet=unets[name](width),
                   magnitude=magnitudes[name], conditioning=ConditioningConfig(text_encoder=text_encoder))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Rebuild from `to_dict()`; unknown keys raise TypeError. A section missing from an
        older file takes its defaults, and one it named otherwise is read under its new name."""
        data = {RENAMED.get(name, name): section for name, section in data.items()}
        parts = {f.name: f.default_factory for f in fields(cls)}  # type: ignore[misc]
        return cls(**{name: type(make())(**data.get(name, asdict(make())))  # type: ignore[operator]
                      for name, make in parts.items()})


class MsaniiModel(nn.Module):
    """The Msanii kind (`engine.kind.ModelKind`): mel U-Net, magnitude network, phase recovery."""

    kind = "msanii"
    config_type: type[ModelConfig] = ModelConfig  # what a checkpoint's config rebuilds
    unet_type: Any = UNet  # what builds its U-Net from `config.unet`

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.spectral = MelSpectral(config.spectral)
        self.unet = self.unet_type(config.unet)
        self.magnitude_net = MagnitudeNet(config.magnitude)
        self.schedule = Schedule(config.diffusion.train_steps)

    def log_magnitude(self, mel: Tensor, net: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """Scaled mel `[B, C, F, T]` -> the magnitude network's natural-log STFT magnitude. `net`
        stands in for `self.magnitude_net` when training wraps it (DDP)."""
        out = (net or self.magnitude_net)(mel).float()
        if self.config.magnitude.residual:
            analytic = self.spectral.mel_to_magnitude(self.spectral.decode_log_mel(mel))
            out = out + torch.log(analytic + 1e-5)
        return out.clamp(max=self.config.magnitude.max_log_magnitude)

    # -- what a task may ask (engine.kind.ModelKind) ---------------------------------------------
    @property
    def geometry(self) -> SpectralConfig:
        return self.config.spectral

    @property
    def window_frames(self) -> int:
        return self.config.diffusion.window_frames

    @property
    def frame_multiple(self) -> int:
        return self.config.unet.frame_multiple

    @property
    def data_scale(self) -> tuple[float, float]:
        return self.config.diffusion.data_mean, self.config.diffusion.data_std

    @property
    def text_encoder(self) -> str:
        return self.config.conditioning.text_encoder

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "unet_width": self.config.unet.d_base, "text": self.text_encoder or None}

    def encode(self, wave: Tensor) -> Tensor:
        return self.spectral.encode(wave)

    def stft(self, wave: Tensor) -> Tensor:
        return self.spectral.stft(wave)

    def denoiser(self, cond: Tensor | None, mask: Tensor | None, guidance: float) -> Denoiser:
        """The U-Net, its predictions clamped to the range of a scaled mel ([-1, 1]) in diffusion space."""
        mean, std = self.data_scale
        return Denoiser(self.unet, self.schedule, self.config.diffusion.prediction, cond, mask, guidance,
                        ((-1.0 - mean) / std, (1.0 - mean) / std), frame_rate=self.geometry.frame_rate)

    def resynthesize(self, mel: Tensor, samples: int, settings: RenderSettings, keep: Keep,
                     generator: torch.Generator, trained_network: bool) -> Tensor:
        network = self.log_magnitude if uses_network(settings.magnitude, trained_network) else None
        return resynthesize(self.spectral, network, mel, samples, settings, keep, generator)
