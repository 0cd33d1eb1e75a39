"""The Msanii U-Net over mel spectrograms.

Input `[batch, audio_channels, n_mels, frames]` (scaled log-mel, any frame count that is a
multiple of `2 ** n_downsamples`); output has the same shape. Mel bins are tokenized into the
feature axis by a 1x1 conv; down/up-sampling acts on time only, so audio channels keep their
identity. An optional condition (a sequence of embedding vectors, e.g. a text encoding) is pooled
and added to the timestep embedding; without one a learned "no condition" vector is used, which
is what classifier-free guidance contrasts against.

An outer stage (`d_outer`) works at full time resolution beside the body: it sees the input bands
and the body's last features, and adds to the output through its own map to every mel band,
so that the prediction is not confined to the span of the body's `d_base` features (with no
blocks it is a full-rank linear path). With `outer_timestep` its features are scaled and
shifted per noise level, so what it adds can differ between almost-clean and almost-pure-noise
input. Its output starts at zero, so it can grow around a trained body without changing what
the model does.

A local stage (`d_local`, `engine.nn.local`) then corrects the prediction with small 2D kernels
over bands and frames, shared across pitch; it also starts at zero.

A context-conditioned U-Net (`context=True`) also sees what is known, as inpainting image
models do: `engine.diffusion.context.known_context` (the known mel with two first guesses for
the unknown frames, and a mask row; `context_guess` says which second guess it learned with)
enters beside the noisy mel, `[B, C, 2 * n_mels + 1, frames]`. Without a context it is given none (nothing known, zeros): generation, style transfer
and interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from engine.nn.blocks import Block, decode, downsample, encode, timestep_features, upsample
from engine.nn.local import LocalStage

CONTEXT_GUESSES = ("repeat", "copy")


@dataclass(frozen=True)
class UNetConfig:
    d_freq: int = 128
    d_base: int = 256
    d_hidden_factor: int = 4
    d_multipliers: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)
    d_timestep: int = 128
    n_heads: int = 8
    has_attention: tuple[bool, ...] = (False, False, False, False, False, True, True)
    has_resampling: tuple[bool, ...] = (True, True, True, True, True, True, False)
    n_block_layers: tuple[int, ...] = (2, 2, 2, 2, 2, 2, 2)
    d_cond: int = 0  # width of condition vectors; 0 = unconditional model
    context: bool = False  # sees the known mel and its mask (inpainting-style conditioning)
    context_guess: str = "repeat"  # its second first guess: "repeat" (loop-repeat) or "copy" (best match)
    d_outer: int = 0  # width of the full-rank outer stage (0: none; >= d_freq to reach every mel band)
    n_outer_blocks: int = 2  # its residual blocks (0: a full-rank linear path around the body)
    outer_timestep: bool = False  # the outer stage's features are scaled and shifted per noise level
    d_local: int = 0  # width of the frequency-local stage (2D convolutions over bands and frames; 0: none)
    n_local_layers: int = 3  # its dilated convolutions

    def __post_init__(self) -> None:
        if self.context_guess not in CONTEXT_GUESSES:
            raise ValueError(f"UNetConfig.context_guess must be one of {CONTEXT_GUESSES}, not {self.context_guess!r}")
        levels = len(self.d_multipliers)
        for name in ("has_attention", "has_resampling", "n_block_layers"):
            if len(getattr(self, name)) != levels:
                raise ValueError(f"UNetConfig.{name} needs {levels} entries, one per level")
        for name in ("d_multipliers", "has_attention", "has_resampling", "n_block_layers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.d_outer < 0 or self.n_outer_blocks < 0:
            raise ValueError("UNetConfig.d_outer and n_outer_blocks must be 0 (none) or positive")
        if self.d_local < 0 or self.n_local_layers < 1:
            raise ValueError("UNetConfig.d_local must be 0 (none) or positive, n_local_layers at least 1")
        if self.outer_timestep and not self.d_outer:
            raise ValueError("UNetConfig.outer_timestep needs an outer stage (d_outer > 0)")

    @property
    def output_rank(self) -> int:
        """The most mel directions the output map can reach: a prediction lies in a space of
        at most this many of the `d_freq` dimensions, the rest is left as noise by a sampler."""
        if self.d_local:  # it corrects every band on its own
            return self.d_freq
        return min(self.d_freq, self.d_base * self.d_multipliers[0] + self.d_outer)

    @property
    def frame_multiple(self) -> int:
        """Frame counts must be a multiple of this (one factor 2 per downsampling)."""
        return 2 ** sum(self.has_resampling)

    @classmethod
    def gpu(cls, d_cond: int = 0) -> "UNetConfig":
        """Close to the paper: width 256, seven levels, about 50 M parameters."""
        return cls(d_cond=d_cond)

    @classmethod
    def cpu(cls, d_cond: int = 0) -> "UNetConfig":
        """Small enough to sample in well under a second per step on a laptop CPU."""
        return cls(
            d_base=64,
            d_multipliers=(1, 1, 2, 2, 2),
            has_attention=(False, False, False, True, True),
            has_resampling=(True, True, True, True, False),
            n_block_layers=(1, 1, 1, 1, 1),
            d_cond=d_cond,
        )

    @classmethod
    def real(cls, d_cond: int = 0) -> "UNetConfig":
        """The context-conditioned CPU model: six time resolutions down to 1/32 (a frame there
        spans ~0.4 s at hop 512), attention in the three coarsest, so a gap sees both sides."""
        return cls(
            d_base=64,
            d_multipliers=(1, 1, 2, 2, 3, 3),
            has_attention=(False, False, False, True, True, True),
            has_resampling=(True, True, True, True, True, False),
            n_block_layers=(1, 1, 1, 1, 1, 1),
            d_cond=d_cond,
            context=True,
        )

    @classmethod
    def real_full(cls, d_cond: int = 0) -> "UNetConfig":
        """`real` with a full-rank linear path around it: the body's 64 output features cannot
        span the 128 mel bands, so half of every frame was left as noise; a linear map from the
        input and the body's last features to every band lifts that floor. The architecture probe
        (`bench/probe_architecture.py`, docs/model-card.md) chose it over outer stages of
        residual blocks (width 128 or 256): the most pitched samples for the budget, +13 % time."""
        return replace(cls.real(d_cond), d_outer=128, n_outer_blocks=0)

    @classmethod
    def real_large(cls, d_cond: int = 0) -> "UNetConfig":
        """The same layout at GPU size: twice the width, two blocks per level."""
        return replace(cls.real(d_cond), d_base=128, d_multipliers=(1, 1, 2, 2, 3, 4), n_block_layers=(2,) * 6)

    @classmethod
    def tiny(cls, d_cond: int = 0, context: bool = False) -> "UNetConfig":
        """For tests: a few thousand parameters."""
        return cls(
            d_base=16, d_hidden_factor=2, d_multipliers=(1, 1), d_timestep=16, n_heads=2,
            has_attention=(False, True), has_resampling=(True, False), n_block_layers=(1, 1),
            d_cond=d_cond, context=context,
        )


class UNet(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        widths = [c.d_base * m for m in c.d_multipliers]
        d_embed = c.d_timestep

        d_input = 3 * c.d_freq + 1 if c.context else c.d_freq
        self.input = nn.Conv2d(d_input, c.d_base, kernel_size=1)
        self.output = nn.Conv2d(widths[0], c.d_freq, kernel_size=1)
        self.time_mlp = nn.Sequential(
            nn.Linear(c.d_timestep, d_embed * c.d_hidden_factor), nn.GELU(),
            nn.Linear(d_embed * c.d_hidden_factor, d_embed),
        )
        if c.d_cond:
            self.cond_mlp = nn.Sequential(
                nn.Linear(c.d_cond, d_embed * c.d_hidden_factor), nn.GELU(),
                nn.Linear(d_embed * c.d_hidden_factor, d_embed),
            )
            self.null_cond = nn.Parameter(torch.zeros(d_embed))

        def block(d_in: int, d_out: int, attention: bool) -> Block:
            return Block(d_in, d_out, c.d_hidden_factor, d_embed, c.n_heads, attention)

        # Encoder: per level, blocks (each output saved as a skip), then maybe a downsample.
        self.encoder = nn.ModuleList()
        d_in = c.d_base
        for width, attention, resample, layers in zip(
            widths, c.has_attention, c.has_resampling, c.n_block_layers
        ):
            for _ in range(layers):
                self.encoder.append(block(d_in, width, attention))
                d_in = width
            if resample:
                self.encoder.append(downsample(width))

        self.middle = nn.ModuleList([block(d_in, d_in, False), block(d_in, d_in, True)])

        # Outer stage: full time resolution, full width, sees the input and the body's output.
        # Its output starts at zero, so it can grow around a trained body without changing it.
        if c.d_outer:
            self.outer_input = nn.Conv2d(d_input + widths[0], c.d_outer, kernel_size=1)
            self.outer = nn.ModuleList([block(c.d_outer, c.d_outer, False) for _ in range(c.n_outer_blocks)])
            self.outer_output = nn.Conv2d(c.d_outer, c.d_freq, kernel_size=1)
            # per noise level, a scale and shift of its features (zero: as if it had none)
            self.outer_film = nn.Linear(d_embed, 2 * c.d_outer) if c.outer_timestep else None
            for part in filter(None, (self.outer_output, self.outer_film)):
                for weights in part.parameters():
                    nn.init.zeros_(weights)

        # Local stage: the mel as an image, with kernels shared across pitch (starts at zero too).
        # It sees the noisy mel and the prediction, and a context model's known mel, guess and mask.
        if c.d_local:
            self.local = LocalStage(5 if c.context else 2, c.d_local, c.n_local_layers, d_embed)

        # Decoder mirrors the encoder; every block takes its skip concatenated.
        self.decoder = nn.ModuleList()
        skip_widths = [w for w, n in zip(widths, c.n_block_layers) for _ in range(n)]
        levels = list(zip(widths, c.has_attention, c.has_resampling, c.n_block_layers))
        for level, (width, attention, resample, layers) in reversed(list(enumerate(levels))):
            if resample:
                self.decoder.append(upsample(d_in))
            for i in range(layers):
                # the level's last block hands the next (shallower) level its width
                d_out = widths[level - 1] if level > 0 and i == layers - 1 else width
                self.decoder.append(block(d_in + skip_widths.pop(), d_out, attention))
                d_in = d_out

    def embedding(self, t: Tensor, cond: Tensor | None, cond_mask: Tensor | None) -> Tensor:
        """Timestep embedding plus the pooled condition. Rows whose mask is all False (and every
        row when `cond` is None) get the learned "no condition" vector instead."""
        emb = self.time_mlp(timestep_features(t, self.config.d_timestep))
        if not self.config.d_cond:
            return emb
        if cond is None:
            return emb + self.null_cond
        if cond_mask is None:
            cond_mask = torch.ones(cond.shape[:2], dtype=torch.bool, device=cond.device)
        weights = cond_mask.to(cond.dtype)[..., None]
        pooled = (cond * weights).sum(1) / weights.sum(1).clamp(min=1)
        present = cond_mask.any(dim=1, keepdim=True)
        return emb + torch.where(present, self.cond_mlp(pooled), self.null_cond)

    def output_maps(self) -> list[Tensor]:
        """The linear maps `[d_freq, width]` that write the prediction (the body's output conv,
        and the outer stage's): every prediction lies in the span of their columns."""
        maps = [self.output.weight[:, :, 0, 0]]
        if self.config.d_outer:
            maps.append(self.outer_output.weight[:, :, 0, 0])
        return maps

    def forward(
        self, x: Tensor, t: Tensor, cond: Tensor | None = None, cond_mask: Tensor | None = None,
        context: Tensor | None = None,
    ) -> Tensor:
        """x `[B, C, n_mels, T]`, t `[B]` timestep in [0, train_steps), cond `[B, L, d_cond]`
        with `cond_mask` `[B, L]` (True = valid token), context `[B, C, 2 * n_mels + 1, T]`
        (`known_context(...)`; None = nothing known)."""
        if cond is not None and not self.config.d_cond:
            raise ValueError("this model was built without a conditioning input")
        if context is not None and not self.config.context:
            raise ValueError("this model was built without a context input")
        emb = self.embedding(t, cond, cond_mask)
        noisy = x
        if self.config.context:
            if context is None:
                context = x.new_zeros(x.shape[0], x.shape[1], 2 * x.shape[2] + 1, x.shape[3])
            x = torch.cat((x, context.to(x.dtype)), dim=2)
        bands = x.transpose(1, 2)  # [B, F, C, T]
        hidden, skips = encode(self.encoder, self.input(bands), emb)  # [B, width, C, T]
        for layer in self.middle:
            hidden = layer(hidden, emb)
        hidden = decode(self.decoder, hidden, skips, emb)  # the body's last features (the outer stage reads them)
        out = self.output(hidden)
        if self.config.d_outer:
            outer = self.outer_input(torch.cat((bands, hidden), dim=1))
            if self.outer_film is not None:
                scale, shift = self.outer_film(emb)[:, :, None, None].chunk(2, dim=1)
                outer = outer * (1 + scale) + shift
            for layer in self.outer:
                outer = layer(outer, emb)
            out = out + self.outer_output(outer)
        out = out.transpose(1, 2)
        if self.config.d_local:
            out = out + self.local(self.planes(noisy, out, context), emb)
        return out

    def planes(self, noisy: Tensor, out: Tensor, context: Tensor | None) -> Tensor:
        """What the local stage sees, `[B, C, planes, n_mels, T]`: the noisy mel, the prediction,
        and with a context its two guesses and the mask spread over every band."""
        planes = [noisy, out]
        if context is not None:
            f = noisy.shape[2]
            planes += [context[:, :, :f], context[:, :, f:2 * f], context[:, :, 2 * f:].expand_as(noisy)]
        return torch.stack(planes, dim=2)
