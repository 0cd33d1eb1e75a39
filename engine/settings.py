"""How hard a render works: sampler, steps, phase recovery, seams, context, prompt. Every
field is checked on construction, so a bad one is the caller's `bad_parameter`."""

from __future__ import annotations

from dataclasses import dataclass

from engine.diffusion import SamplerSettings
from engine.diffusion.diffuser import number, whole
from engine.errors import BadParameter


@dataclass(frozen=True)
class RenderSettings:
    """Defaults are tuned for speed; `MSANII_SETTINGS` are the paper's."""

    sampler: str = "dpmpp_2m"
    steps: int = 16
    eta: float = 0.0
    griffin_lim_iters: int | None = None  # None: as the task measured best (engine/phase.py); 0: the start's phase as is
    griffin_lim_momentum: float = 0.99
    crossfade: float = 0.05  # seconds, at each seam of inpaint/outpaint
    context_seconds: float = 8.0  # audio the model sees around an edit
    guide: float = 0.0  # inpaint/outpaint: the noise level the model refines the clip's best-matching copy from
    # (0: the copy alone, 1: the model alone; 0 measured best for the bundled model, docs/model-card.md)
    jump_length: int = 10
    resample: int = 3
    magnitude: str = "auto"  # "vocoder", "pseudo_inverse", or "auto" (vocoder if trained)
    prompt: str = ""  # text condition (models trained with captions only)
    guidance: float = 3.0  # classifier-free guidance scale when a prompt is given; 1 = none

    def __post_init__(self) -> None:
        self.sampler_settings()  # validates sampler, steps, eta, RePaint options
        if self.griffin_lim_iters is not None and (not whole(self.griffin_lim_iters)
                                                   or not 0 <= self.griffin_lim_iters <= 1000):
            raise BadParameter(f"griffin_lim_iters must be a whole number from 0 to 1000, not {self.griffin_lim_iters!r}")
        if not number(self.griffin_lim_momentum) or not 0 <= self.griffin_lim_momentum < 1:
            raise BadParameter("griffin_lim_momentum must be in [0, 1)")
        if not number(self.crossfade) or not 0 <= self.crossfade <= 2:
            raise BadParameter(f"crossfade must be between 0 and 2 seconds, not {self.crossfade!r}")
        if not number(self.guide) or not 0 <= self.guide <= 1:
            raise BadParameter(f"guide must be from 0 (the matching copy alone) to 1 (the model alone), not {self.guide!r}")
        if not number(self.context_seconds) or not 0.5 <= self.context_seconds <= 190:
            raise BadParameter(f"context_seconds must be between 0.5 and 190, not {self.context_seconds!r}")
        if not isinstance(self.prompt, str) or len(self.prompt) > 500:
            raise BadParameter("prompt must be text of at most 500 characters")
        if not number(self.guidance) or not 0 <= self.guidance <= 20:
            raise BadParameter(f"guidance must be between 0 and 20, not {self.guidance!r}")
        if self.magnitude not in ("auto", "vocoder", "pseudo_inverse"):
            raise BadParameter(f"magnitude must be auto, vocoder or pseudo_inverse, not {self.magnitude!r}")

    def sampler_settings(self) -> SamplerSettings:
        return SamplerSettings(self.sampler, self.steps, self.eta, self.jump_length, self.resample)


MSANII_SETTINGS = RenderSettings(sampler="ddim", steps=200, griffin_lim_iters=200, guide=1.0)  # the model alone: no copy
