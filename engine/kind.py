"""What the pipeline and the tasks may ask of a model, whatever its kind: one class per kind
implements it (`engine.model.MsaniiModel`; `engine.original.OriginalMsaniiModel`, the Msanii
authors' own). A task never reaches past this into a model's networks or config, so another kind
(another hop, its own scalers or resynthesis) plugs in as one module and one row of `KINDS`;
`tests/test_layers.py` holds the pipeline and tasks to it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

if TYPE_CHECKING:
    from engine.diffusion import Denoiser, Schedule
    from engine.resynthesis import Keep
    from engine.settings import RenderSettings
    from engine.spectral import SpectralConfig


# every kind: its name in a checkpoint's metadata -> the module and class that rebuild it
KINDS = {"msanii": ("engine.model", "MsaniiModel"),
         "msanii-original": ("engine.original", "OriginalMsaniiModel")}


def kind_class(name: str) -> Any:
    """The class of model kind `name` (imported on first use: it needs torch)."""
    if name not in KINDS:
        raise ValueError(f"unknown model kind {name!r} (this version knows {', '.join(KINDS)})")
    module, cls = KINDS[name]
    return getattr(importlib.import_module(module), cls)


class ModelKind(Protocol):
    kind: str  # its name in KINDS
    schedule: Schedule  # the noise schedule its denoiser was trained on

    @property
    def geometry(self) -> SpectralConfig:
        """Its frames: sample rate, FFT size, hop, mel bands (and so the frame rate)."""

    @property
    def window_frames(self) -> int:
        """One context, in frames: the most it sees at once."""

    @property
    def frame_multiple(self) -> int:
        """Frame counts it takes must be a multiple of this."""

    @property
    def data_scale(self) -> tuple[float, float]:
        """(mean, std) of its mels: the sampler works on (mel - mean) / std."""

    @property
    def text_encoder(self) -> str:
        """The text encoder its prompts go through ("" : none, no prompts)."""

    def describe(self) -> dict[str, Any]:
        """What it is, in a few words, for `status` (its kind first)."""

    def encode(self, wave: Tensor) -> Tensor:
        """Audio `[B, C, S]` at its rate -> its mel `[B, C, bands, frames]`."""

    def stft(self, wave: Tensor) -> Tensor:
        """Audio `[..., S]` -> its complex STFT `[..., bins, frames]`."""

    def denoiser(self, cond: Tensor | None, mask: Tensor | None, guidance: float) -> Denoiser:
        """Its network as a denoiser, conditioned on an encoded prompt when there is one."""

    def resynthesize(self, mel: Tensor, samples: int, settings: RenderSettings, keep: Keep,
                     generator: torch.Generator, trained_network: bool) -> Tensor:
        """Its mel `[B, C, F, T]` -> audio `[B, C, samples]` at its rate."""

    def to(self, device: torch.device) -> ModelKind: ...

    def eval(self) -> ModelKind: ...
