"""U-Net building blocks. Feature maps are `[batch, width, audio_channels, frames]`: the mel
bins have been tokenized into `width`, and the two spatial axes are audio channel and time."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_features(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features `[batch, dim]` of (possibly fractional) timesteps `[batch]`."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / (half - 1))
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


class ResidualBlock(nn.Module):
    """InstanceNorm -> 3x3 conv -> + embedding -> GELU MLP (ConvNeXt style), plus a skip.
    `d_embed=0` builds a block without an embedding input (the magnitude network's); `dilation`
    spreads the conv's taps (Msanii's U-Net can ask for it per level)."""

    def __init__(self, d_in: int, d_out: int, d_hidden_factor: int, d_embed: int = 0, dilation: int = 1) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(d_in)
        self.conv = nn.Conv2d(d_in, d_out, kernel_size=3, padding=dilation, dilation=dilation)
        self.embed = nn.Linear(d_embed, d_out) if d_embed else None
        self.mlp = nn.Sequential(
            nn.GELU(),
            nn.Conv2d(d_out, d_out * d_hidden_factor, kernel_size=1),
            nn.GELU(),
            nn.Conv2d(d_out * d_hidden_factor, d_out, kernel_size=1),
        )
        self.skip = nn.Conv2d(d_in, d_out, kernel_size=1) if d_in != d_out else nn.Identity()

    def forward(self, x: Tensor, embedding: Tensor | None = None) -> Tensor:
        hidden = self.conv(self.norm(x))
        if self.embed is not None:
            hidden = hidden + self.embed(embedding)[:, :, None, None]
        return self.mlp(hidden) + self.skip(x)


class LinearAttention(nn.Module):
    """Linear (softmax-kernel) self-attention over time, separately for every audio channel:
    cost and memory grow linearly with the number of frames."""

    def __init__(self, width: int, n_heads: int) -> None:
        super().__init__()
        if width % n_heads:
            raise ValueError(f"width {width} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.norm = nn.InstanceNorm2d(width)
        self.qkv = nn.Conv2d(width, width * 3, kernel_size=1)
        self.out = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b, width, c, t = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        # [b, heads*d, c, t] -> [b*c, heads, d, t]
        q, k, v = (z.permute(0, 2, 1, 3).reshape(b * c, self.n_heads, -1, t) for z in (q, k, v))
        q = q.softmax(dim=-2) * q.shape[-2] ** -0.5
        k = k.softmax(dim=-1)
        context = torch.einsum("nhdt,nhet->nhde", k, v / t)
        out = torch.einsum("nhde,nhdt->nhet", context, q)
        out = out.reshape(b, c, width, t).permute(0, 2, 1, 3)
        return self.out(out) + x


class Block(nn.Module):
    """A residual block, optionally followed by linear attention."""

    def __init__(self, d_in: int, d_out: int, d_hidden_factor: int, d_embed: int,
                 n_heads: int, attention: bool, dilation: int = 1) -> None:
        super().__init__()
        self.residual = ResidualBlock(d_in, d_out, d_hidden_factor, d_embed, dilation)
        self.attention = LinearAttention(d_out, n_heads) if attention else nn.Identity()

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        return self.attention(self.residual(x, embedding))


def encode(layers: nn.ModuleList, hidden: Tensor, embedding: Tensor) -> tuple[Tensor, list[Tensor]]:
    """A U-Net's way down: blocks (each output kept as a skip) and downsamples, in order."""
    skips = []
    for layer in layers:
        if isinstance(layer, Block):
            hidden = layer(hidden, embedding)
            skips.append(hidden)
        else:
            hidden = layer(hidden)
    return hidden, skips


def decode(layers: nn.ModuleList, hidden: Tensor, skips: list[Tensor], embedding: Tensor) -> Tensor:
    """Its way up: upsamples, and blocks that each take the latest skip beside their input."""
    for layer in layers:
        if isinstance(layer, Block):
            hidden = layer(torch.cat((hidden, skips.pop()), dim=1), embedding)
        else:
            hidden = layer(hidden)
    return hidden


def downsample(width: int) -> nn.Module:
    """Halve the frames, keep the audio channels."""
    return nn.Conv2d(width, width, kernel_size=(1, 3), stride=(1, 2), padding=(0, 1))


def upsample(width: int) -> nn.Module:
    """Double the frames, keep the audio channels."""
    return nn.ConvTranspose2d(width, width, kernel_size=(1, 4), stride=(1, 2), padding=(0, 1))
