"""The `msanii-original` kind: Msanii as its authors built and released it, so their trained model
(and any checkpoint of their code) runs behind every task. `daw-diffusion models import` converts
such a file once (`engine.importer`); from then on it is a checkpoint like any other.

What it shares with this project's own kind (`engine.model.MsaniiModel`), being the same
computations: the log-mel front end with Msanii's learned scalers (`engine.spectral`), the
magnitude network (the reference's "vocoder": here without the residual around the
pseudo-inverse, `MagnitudeConfig.residual=False`), phase recovery, the cosine schedule
(diffusers' `squaredcos_cap_v2`). What is its own: the U-Net (`engine.nn.original_unet`), hop
1024, epsilon prediction on data in [-1, 1], no prompt and no context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.diffusion.schedule import DiffusionConfig
from engine.model import ModelConfig, MsaniiModel
from engine.nn import MagnitudeConfig
from engine.nn.original_unet import OriginalUNet, OriginalUNetConfig


@dataclass(frozen=True)
class OriginalConfig(ModelConfig):
    unet: OriginalUNetConfig = field(default_factory=OriginalUNetConfig)  # type: ignore[assignment]
    magnitude: MagnitudeConfig = field(default_factory=lambda: MagnitudeConfig(residual=False))
    diffusion: DiffusionConfig = field(default_factory=lambda: DiffusionConfig(prediction="eps"))

    def __post_init__(self) -> None:
        if self.conditioning.text_encoder:
            raise ValueError("a Msanii original model takes no prompt (no text encoder)")
        super().__post_init__()


class OriginalMsaniiModel(MsaniiModel):
    kind = "msanii-original"
    config_type = OriginalConfig
    unet_type = OriginalUNet

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "parameters": sum(p.numel() for p in self.unet.parameters())}
