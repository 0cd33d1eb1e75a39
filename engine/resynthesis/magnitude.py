"""Mel -> linear STFT magnitude: the model's magnitude network (a residual correction of the
pseudo-inverse, trained as the `magnitude` stage), or the pseudo-inverse of the mel filterbank."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

if TYPE_CHECKING:
    from engine.spectral import MelSpectral

LogMagnitude = Callable[[Tensor], Tensor]  # scaled mel -> natural-log STFT magnitude (a trained network)


def uses_network(choice: str, trained_network: bool) -> bool:
    """Whether the `magnitude` setting's `choice` ("auto": the network if the checkpoint trained
    one) means the network."""
    return trained_network if choice == "auto" else choice in ("network", "vocoder")  # (its old name)


def magnitude(spectral: MelSpectral, mel: Tensor, network: LogMagnitude | None) -> Tensor:
    """Scaled mel `[B, C, F, T]` -> linear magnitude `[B, C, n_freqs, T]`, by `network` or else
    the pseudo-inverse of the mel filterbank."""
    with torch.inference_mode():
        if network is not None:
            return torch.exp(network(mel))
        return spectral.mel_to_magnitude(spectral.decode_log_mel(mel))
