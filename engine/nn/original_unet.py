"""Msanii's U-Net as its authors built it (Maina 2023; the reference code `Kinyugo/msanii`), so
that their released weights run here unchanged: the `msanii-original` kind (`engine.original`).

It differs from this project's `engine.nn.unet` in three ways that change the numbers, not the
idea: a level's blocks map the previous level's width to the *next* multiplier's (the last one
repeated), so the input map gives `d_base` features and `d_multipliers[0]` must be 1; the middle
is residual block -> attention -> residual block; and the convs of a level may be dilated. The
building blocks (`engine.nn.blocks`) are the same computations. No condition, no context: an
unconditional epsilon model. Modules are numbered as the reference numbers them, so importing
its weights is a renaming (`engine.importer`).

Input and output `[batch, audio_channels, n_mels, frames]`, frames a multiple of
`frame_multiple`."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from engine.nn.blocks import (
    Block,
    LinearAttention,
    ResidualBlock,
    decode,
    downsample,
    encode,
    timestep_features,
    upsample,
)


@dataclass(frozen=True)
class OriginalUNetConfig:  # the reference's own names and defaults (the paper's 49.9 M model)
    d_freq: int = 128
    d_base: int = 256
    d_hidden_factor: int = 4
    d_multipliers: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)
    d_timestep: int = 128
    dilations: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)
    n_heads: int = 8
    has_attention: tuple[bool, ...] = (False, False, False, False, False, True, True)
    has_resampling: tuple[bool, ...] = (True, True, True, True, True, True, False)
    n_block_layers: tuple[int, ...] = (2, 2, 2, 2, 2, 2, 2)

    def __post_init__(self) -> None:
        levels = len(self.d_multipliers)
        for name in ("d_multipliers", "dilations", "has_attention", "has_resampling", "n_block_layers"):
            value = tuple(getattr(self, name))
            if len(value) != levels:
                raise ValueError(f"{name} needs {levels} entries, one per level (as d_multipliers)")
            object.__setattr__(self, name, value)
        if not levels or self.d_multipliers[0] != 1:
            raise ValueError("d_multipliers must start with 1 (the input map gives d_base features)")
        if min(self.n_block_layers) < 1 or min(self.dilations) < 1 or min(self.d_multipliers) < 1:
            raise ValueError("n_block_layers, dilations and d_multipliers must be positive")
        if any(self.d_base * m % self.n_heads for m in self.d_multipliers):
            raise ValueError(f"every level's width must be a multiple of n_heads = {self.n_heads}")

    @property
    def frame_multiple(self) -> int:
        return 2 ** sum(self.has_resampling)

    @property
    def widths(self) -> list[int]:
        """Features between levels: level i maps widths[i] -> widths[i + 1]."""
        return [self.d_base * m for m in (*self.d_multipliers, self.d_multipliers[-1])]


class OriginalUNet(nn.Module):
    def __init__(self, config: OriginalUNetConfig) -> None:
        super().__init__()
        self.config = c = config
        widths, d_t = c.widths, c.d_timestep
        self.input = nn.Conv2d(c.d_freq, c.d_base, kernel_size=1)
        self.output = nn.Conv2d(c.d_base, c.d_freq, kernel_size=1)
        self.time_mlp = nn.Sequential(nn.Linear(d_t, d_t * c.d_hidden_factor), nn.GELU(),
                                      nn.Linear(d_t * c.d_hidden_factor, d_t))

        def block(d_in: int, d_out: int, level: int) -> Block:
            return Block(d_in, d_out, c.d_hidden_factor, d_t, c.n_heads, c.has_attention[level], c.dilations[level])

        self.encoder = nn.ModuleList()  # per level: its blocks, then maybe a downsample
        for level in range(len(c.d_multipliers)):
            for layer in range(c.n_block_layers[level]):
                self.encoder.append(block(widths[level + bool(layer)], widths[level + 1], level))
            if c.has_resampling[level]:
                self.encoder.append(downsample(widths[level + 1]))

        deepest = widths[-1]
        self.middle = nn.ModuleList([ResidualBlock(deepest, deepest, c.d_hidden_factor, d_t),
                                     LinearAttention(deepest, c.n_heads),
                                     ResidualBlock(deepest, deepest, c.d_hidden_factor, d_t)])

        self.decoder = nn.ModuleList()  # per level, deepest first: maybe an upsample, then its blocks
        for level in reversed(range(len(c.d_multipliers))):
            inner = widths[level + 1]
            if c.has_resampling[level]:
                self.decoder.append(upsample(inner))
            for layer in range(c.n_block_layers[level]):  # each takes its skip; the last narrows
                last = layer == c.n_block_layers[level] - 1
                self.decoder.append(block(2 * inner, widths[level] if last else inner, level))

    def output_maps(self) -> list[Tensor]:
        """The linear map `[d_freq, d_base]` that writes the prediction (see `UNet.output_maps`)."""
        return [self.output.weight[:, :, 0, 0]]

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None, cond_mask: Tensor | None = None,
                context: Tensor | None = None) -> Tensor:
        """x `[B, C, n_mels, T]`, t `[B]` timesteps -> predicted noise, shaped as x."""
        if cond is not None or context is not None:
            raise ValueError("a Msanii original model takes no prompt and no context")
        emb = self.time_mlp(timestep_features(t, self.config.d_timestep))
        # mel bands become features: [B, width, C, T]
        hidden, skips = encode(self.encoder, self.input(x.transpose(1, 2)), emb)
        for part in self.middle:
            hidden = part(hidden) if isinstance(part, LinearAttention) else part(hidden, emb)
        return self.output(decode(self.decoder, hidden, skips, emb)).transpose(1, 2)
