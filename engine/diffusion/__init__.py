"""Diffusion: noise schedule, denoiser adapter, samplers and their composition."""

from engine.diffusion.denoiser import Denoiser
from engine.diffusion.diffuser import INPAINT_MODES, Diffuser, SamplerSettings
from engine.diffusion.samplers import SAMPLERS, sample_ddim, sample_dpmpp_2m, sample_repaint
from engine.diffusion.schedule import DiffusionConfig, Schedule

__all__ = [
    "Denoiser", "Diffuser", "DiffusionConfig", "INPAINT_MODES", "SAMPLERS", "SamplerSettings",
    "Schedule", "sample_ddim", "sample_dpmpp_2m", "sample_repaint",
]
