"""Mel -> linear STFT magnitude: the model's magnitude network (a residual correction of the
pseudo-inverse, trained as the `vocoder` stage), or the pseudo-inverse of the mel filterbank."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from engine.model import MsaniiModel

def uses_network(choice: str, trained_network: bool) -> bool:
    """Whether the `magnitude` setting's `choice` ("auto": the network if the checkpoint trained
    one) means the network."""
    return trained_network if choice == "auto" else choice == "vocoder"


def magnitude(model: MsaniiModel, mel: Tensor, choice: str, trained_network: bool) -> Tensor:
    """Scaled mel `[B, C, F, T]` -> linear magnitude `[B, C, n_freqs, T]`."""
    spectral = model.spectral
    with torch.inference_mode():
        if uses_network(choice, trained_network):
            return torch.exp(model.vocoder_log_magnitude(mel))
        return spectral.mel_to_magnitude(spectral.decode_log_mel(mel))
