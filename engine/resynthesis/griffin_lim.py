"""Phase recovery by fast Griffin-Lim (`MelSpectral.griffin_lim`): from the kept audio's phase
when there is one, else from random phase; the channels' phases linked so a stereo image
survives. Iterations: the settings' if given, else as much as the edit needs (`Keep`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from engine.resynthesis.keep import Keep

if TYPE_CHECKING:
    from engine.settings import RenderSettings
    from engine.spectral import MelSpectral


def recover(spectral: MelSpectral, magnitude: Tensor, samples: int, keep: Keep, settings: RenderSettings,
            generator: torch.Generator) -> Tensor:
    given = settings.griffin_lim_iters
    return spectral.griffin_lim(magnitude, samples, n_iter=keep.iterations if given is None else given,
                                momentum=settings.griffin_lim_momentum, generator=generator,
                                start=keep.phase, linked=True)
