"""The settings table: how hard a render works (sampler, steps, phase recovery, seams, context,
prompt), one row per setting, beside the task table (`engine.tasks`). Torch-free: the engine's
checks and `RenderSettings`, the OSC keys, the `render` flags, the MIDI knobs, the docs and the
REAPER scripts' defaults all come from these rows. Adding a setting is one row here, one field
of `RenderSettings` and its use."""

from __future__ import annotations

from dataclasses import dataclass, fields

from engine.errors import UnknownSampler
from engine.params import Param

SAMPLER_NAMES = ("dpmpp_2m", "ddim")  # engine.diffusion.SAMPLERS (a test keeps them equal)

SETTINGS: dict[str, Param] = {p.name: p for p in (
    Param("sampler", str, "the sampler", "dpmpp_2m", choices=SAMPLER_NAMES),
    Param("steps", int, "sampler steps: more is slower and finer", 16, 1, 1000, knob=(4, 100)),
    Param("eta", float, "ddim only: 0 deterministic .. 1 ancestral", 0.0, 0, 1),
    Param("griffin_lim_iters", int, "phase-recovery iterations; 0 keeps the starting phase, left out: "
          "as measured best for each task", None, 0, 1000),
    Param("griffin_lim_momentum", float, "phase recovery's momentum", 0.99, 0, 1, high_open=True),
    Param("crossfade", float, "crossfade at each seam of a fill or extension", 0.05, 0, 2, unit="s"),
    Param("context_seconds", float, "audio the model hears around an edit", 8.0, 0.5, 300, unit="s",
          flag="context"),
    Param("guide", float, "fills and extensions: 0 = the clip's best-matching copy, 1 = the model alone, "
          "between: the model refines the copy from that noise level", 0.0, 0, 1),
    Param("jump_length", int, "repaint mode: sampler steps between jumps back", 10, 1, 1000),
    Param("resample", int, "repaint mode: passes over each jump", 3, 1, 20),
    Param("magnitude", str, "how a mel becomes a magnitude spectrogram; auto: the trained network if "
          "the model has one (vocoder: network's old name)", "auto", choices=("auto", "network", "pseudo_inverse", "vocoder")),
    Param("prompt", str, "text condition, e.g. 'string ensemble, slow'; for models trained with captions", "",
          longest=500),
    Param("guidance", float, "how strongly a prompt steers: classifier-free guidance, 1 = none", 3.0, 0, 20,
          knob=(0, 10)),
)}


@dataclass(frozen=True)
class RenderSettings:
    """One render's settings, each checked against its row on construction (so a bad one is the
    caller's `bad_parameter`). Defaults are the table's, tuned for speed; `MSANII_SETTINGS` are
    the paper's."""

    sampler: str = SETTINGS["sampler"].default
    steps: int = SETTINGS["steps"].default
    eta: float = SETTINGS["eta"].default
    griffin_lim_iters: int | None = SETTINGS["griffin_lim_iters"].default
    griffin_lim_momentum: float = SETTINGS["griffin_lim_momentum"].default
    crossfade: float = SETTINGS["crossfade"].default
    context_seconds: float = SETTINGS["context_seconds"].default
    guide: float = SETTINGS["guide"].default  # 0 measured best for the bundled model (docs/model-card.md)
    jump_length: int = SETTINGS["jump_length"].default
    resample: int = SETTINGS["resample"].default
    magnitude: str = SETTINGS["magnitude"].default
    prompt: str = SETTINGS["prompt"].default
    guidance: float = SETTINGS["guidance"].default

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLER_NAMES:
            raise UnknownSampler(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLER_NAMES)}")
        for name in names():
            object.__setattr__(self, name, SETTINGS[name].check("", getattr(self, name)))


def names() -> tuple[str, ...]:
    """The settings `RenderSettings` has, in order."""
    return tuple(f.name for f in fields(RenderSettings))


MSANII_SETTINGS = RenderSettings(sampler="ddim", steps=200, griffin_lim_iters=200, guide=1.0)  # the model alone: no copy
