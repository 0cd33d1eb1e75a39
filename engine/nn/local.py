"""A frequency-local stage: 2D convolutions over the (mel band, frame) plane.

The U-Net body tokenizes every mel frame into features with a dense map, so a harmonic line at
one pitch and the same line a tone higher are unrelated patterns to it. This stage sees the mel
as an image, one audio channel at a time, with small dilated kernels that are shared across
pitch and time: a sustained partial is the same short horizontal line wherever it lies. It reads
the noisy input, the body's prediction and (for a context model) the known mel, its guess and
the mask, plus a row index so it may still tell bass from treble, and adds a correction to the
prediction. Its features are scaled and shifted per noise level; its output starts at zero, so
it grows onto a trained model without changing it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DILATIONS = (1, 2, 4, 1)  # per layer: 3x3 kernels reach 31 bands after four layers
TIME_STRIDE = 2  # features at every other frame (partials are smooth in time; halves the cost)


class LocalStage(nn.Module):
    def __init__(self, d_planes: int, width: int, layers: int, d_embed: int) -> None:
        super().__init__()
        self.input = nn.Conv2d(d_planes + 1, width, kernel_size=3, padding=1, stride=(1, TIME_STRIDE))  # +1: height
        self.layers = nn.ModuleList(
            nn.Conv2d(width, width, kernel_size=3, padding=d, dilation=d)
            for d in (DILATIONS * layers)[:layers]
        )
        self.film = nn.Linear(d_embed, 2 * width * (layers + 1))
        self.output = nn.Conv2d(width, 1, kernel_size=3, padding=1)
        for part in (self.output, self.film):
            for weights in part.parameters():
                nn.init.zeros_(weights)
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it

    def forward(self, planes: Tensor, emb: Tensor) -> Tensor:
        """planes `[B, C, P, F, T]` (P planes of F bands per audio channel), emb `[B, d_embed]`
        -> a correction `[B, C, F, T]`."""
        b, c, p, f, t = planes.shape
        height = torch.linspace(-1, 1, f, device=planes.device, dtype=planes.dtype)
        planes = torch.cat((planes, height[:, None].expand(b, c, 1, f, t)), dim=2).reshape(b * c, p + 1, f, t)
        planes = planes.contiguous(memory_format=torch.channels_last)  # twice as fast on a CPU
        film = self.film(emb).repeat_interleave(c, dim=0)[:, :, None, None].chunk(2 * (len(self.layers) + 1), dim=1)
        hidden = self.input(planes)
        for i, layer in enumerate((None, *self.layers)):
            if layer is not None:
                hidden = hidden + layer(nn.functional.gelu(hidden))
            hidden = hidden * (1 + film[2 * i]) + film[2 * i + 1]
        hidden = nn.functional.interpolate(hidden, size=(f, t), mode="nearest")
        return self.output(nn.functional.gelu(hidden)).reshape(b, c, f, t)
