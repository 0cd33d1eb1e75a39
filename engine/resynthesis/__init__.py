"""Resynthesis: a scaled mel back to audio, in one place. Two steps, each behind one interface:
mel -> magnitude (`magnitude.py`: the model's magnitude network, or the pseudo-inverse), then
magnitude -> waveform by a phase-recovery method (`METHODS`; Griffin-Lim today). A task says what
the result keeps of audio it already has (`Keep`: a source's phase and stereo image at an edit's
strength, a draft's phase, or nothing), never how phase recovery works; a waveform vocoder or a
model kind's own resynthesis plugs in here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from engine.resynthesis import griffin_lim
from engine.resynthesis.keep import NOTHING, Keep, balanced
from engine.resynthesis.magnitude import LogMagnitude, magnitude, uses_network

if TYPE_CHECKING:
    from engine.settings import RenderSettings
    from engine.spectral import MelSpectral

# mel front end, magnitude `[B, C, bins, frames]`, samples, what to keep, settings, generator -> audio `[B, C, samples]`
PhaseRecovery = Callable[["MelSpectral", Tensor, int, Keep, "RenderSettings", torch.Generator], Tensor]
METHODS: dict[str, PhaseRecovery] = {"griffin_lim": griffin_lim.recover}
METHOD = "griffin_lim"

__all__ = ["METHODS", "NOTHING", "Keep", "LogMagnitude", "magnitude", "resynthesize", "uses_network"]


def resynthesize(spectral: MelSpectral, network: LogMagnitude | None, mel: Tensor, samples: int,
                 settings: RenderSettings, keep: Keep, generator: torch.Generator) -> Tensor:
    """Scaled mel `[B, C, F, T]` of `spectral` -> audio `[B, C, samples]` at its rate, keeping what
    `keep` says; `network`: the model's magnitude network (None: the pseudo-inverse)."""
    with torch.inference_mode():
        wanted = magnitude(spectral, mel, network)
        if keep.image is not None and wanted.shape[-3] > 1:
            wanted = balanced(wanted, spectral.stft(keep.image).abs())
        return METHODS[METHOD](spectral, wanted, samples, keep, settings, generator)
