"""Composes a sampler, a noise schedule and known-region constraints into one call over
scaled mels `[B, C, n_mels, frames]`. Tasks (generate, style transfer, inpaint, ...) are
written in terms of `Diffuser.sample`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from engine.diffusion.context import known_context
from engine.diffusion.denoiser import DenoiserFn, broadcast
from engine.diffusion.samplers import SAMPLERS, Callback, randn_like, repaint_passes, sample_repaint
from engine.diffusion.schedule import Schedule
from engine.errors import BadParameter, UnknownSampler
from engine.limits import check_work
from engine.settings import SETTINGS

INPAINT_MODES = ("replace", "repaint")


@dataclass(frozen=True)
class SamplerSettings:
    sampler: str = "dpmpp_2m"
    steps: int = 20
    eta: float = 0.0  # DDIM only: 0 deterministic, 1 ancestral
    jump_length: int = 10  # RePaint: steps between jumps back
    resample: int = 3  # RePaint: passes over each jump

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise UnknownSampler(f"unknown sampler {self.sampler!r}; choose one of {sorted(SAMPLERS)}")
        for name in ("steps", "eta", "jump_length", "resample"):  # checked by their rows of the settings table
            object.__setattr__(self, name, SETTINGS[name].check("", getattr(self, name)))


def number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class KnownRegion:
    """Denoiser adapter for inpainting: before every model call the known frames are replaced
    by the source re-noised to the current level (fresh noise each call), and the model's
    clean estimate there is the source itself."""

    def __init__(self, denoiser: DenoiserFn, known: Tensor, unknown: Tensor,
                 generator: torch.Generator | None) -> None:
        self.denoiser, self.known, self.unknown, self.generator = denoiser, known, unknown, generator

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        noised = self.known + broadcast(sigma, x) * randn_like(x, self.generator)
        denoised = self.denoiser(torch.where(self.unknown, x, noised), sigma)
        return torch.where(self.unknown, denoised, self.known)


class Diffuser:
    def __init__(self, denoiser: DenoiserFn, schedule: Schedule, settings: SamplerSettings,
                 frame_multiple: int, generator: torch.Generator | None = None,
                 callback: Callback | None = None, data: tuple[float, float] = (0.0, 1.0)) -> None:
        """`data`: (mean, std) of the mels; the sampler works on (mel - mean) / std."""
        self.denoiser, self.schedule, self.settings = denoiser, schedule, settings
        self.frame_multiple, self.generator, self.callback = frame_multiple, generator, callback
        self.mean, self.std = data

    def steps_for(self, start: float) -> int:
        """Partial denoising (style transfer) runs the same fraction of the steps."""
        return max(1, math.ceil(self.settings.steps * start))

    def sample(self, shape: tuple[int, ...], *, start: float = 1.0, init: Tensor | None = None,
               known: Tensor | None = None, unknown: Tensor | None = None,
               mode: str = "replace", device: torch.device | str = "cpu", coherence: float = 0.0) -> Tensor:
        """Sample a mel of `shape` `[B, C, F, T]`.

        start: noise level to start from as a fraction of the schedule (1.0 = pure noise);
            below 1, `init` is noised to that level first (SDEdit).
        known, unknown: inpainting; `known` is a mel of `shape`, `unknown` a `[T]` bool mask of
            the frames to generate (all other frames are kept).
        coherence: correlation of the starting noise between the audio channels `C`.
        """
        if mode not in INPAINT_MODES:
            raise BadParameter(f"unknown inpaint mode {mode!r}; choose one of {INPAINT_MODES}")
        frames = shape[-1]
        pad = -frames % self.frame_multiple
        padded = (*shape[:-1], frames + pad)

        def pad_frames(mel: Tensor) -> Tensor:  # and into diffusion space
            mel = (mel - self.mean) / self.std
            return torch.cat((mel, mel[..., -1:].expand(*mel.shape[:-1], pad)), dim=-1) if pad else mel

        s = self.settings
        repaint = known is not None and mode == "repaint"
        steps = self.steps_for(start)
        passes = repaint_passes(steps, s.jump_length, s.resample) if repaint else steps
        check_work(passes, frames + pad, math.prod(shape[:-2]))  # before any work
        sigmas = self.schedule.sigmas(steps, start).to(device)
        x = torch.zeros(padded, device=device) if init is None else pad_frames(init.to(device))
        x = x + sigmas[0] * randn_like(x, self.generator, coherence)

        denoiser = self.denoiser
        if known is not None:
            mask = torch.ones(frames + pad, dtype=torch.bool, device=device)
            mask[:frames] = unknown.to(device)  # type: ignore[union-attr]  # given with `known`
            known_x = pad_frames(known.to(device))
            if getattr(denoiser, "takes_context", False):  # it sees the known frames directly
                denoiser = denoiser.with_context(  # type: ignore[attr-defined]
                    known_context(known_x, ~mask, denoiser.context_guess, denoiser.frame_rate))  # type: ignore[attr-defined]
            denoiser = KnownRegion(denoiser, known_x, mask, self.generator)

        if repaint:
            run = partial(sample_repaint, eta=1.0, jump_length=s.jump_length, resample=s.resample)
        else:
            run = partial(SAMPLERS[s.sampler], eta=s.eta)
        out = run(denoiser, x, sigmas, generator=self.generator, callback=self.callback)
        out = out[..., :frames] * self.std + self.mean  # back to mel space
        if known is not None:
            out = torch.where(unknown.to(device), out, known.to(device))  # type: ignore[union-attr]
        return out
