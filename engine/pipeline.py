"""Audio in -> mel -> task -> mel -> resynthesis (`engine.resynthesis`) -> audio out.

The pipeline loads the model onto a device and does what every task shares: resampling to and
from the model's rate, encoding, sampling with a job's settings, resynthesis. The tasks themselves
are `engine.tasks` (the table) and its modules; `run` checks a request against the table and
calls the task's module, and each task of the table is also a method of the pipeline
(`pipeline.inpaint(audio, rate, ...)`, bound by `task_method` below).

Audio crosses this boundary as float32 numpy `[channels, samples]` at the caller's sample rate
(or as `Clip`s), times as seconds. Work happens at the model's rate; edits are spliced back at
the caller's rate so untouched samples come back bit-identical.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from engine.allocator import reuse_freed_memory
from engine.audio import below_full_scale, resample
from engine.checkpoint import load_checkpoint
from engine.clip import as_clip
from engine.device import compute, inference, pick_device
from engine.diffusion import Denoiser, Diffuser, SamplerSettings
from engine.errors import BadAudio, BadParameter, CheckpointError
from engine.geometry import max_seconds
from engine.job import OPTIONS, Cancel, OnProgress, Render, RenderJob
from engine.kind import ModelKind
from engine.resynthesis import NOTHING, Keep
from engine.settings import RenderSettings
from engine.tasks import TASKS, Task, task_named
from engine.text import text_encoder

DEFAULT_CHECKPOINT = Path(__file__).parent / "models" / "default.safetensors"


class Pipeline:
    def __init__(self, model: ModelKind, device: torch.device | str = "cpu",
                 metadata: dict[str, Any] | None = None, settings: RenderSettings | None = None,
                 name: str = "unnamed") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.metadata = metadata or {}
        self.settings = settings or RenderSettings()
        self.sample_rate = model.geometry.sample_rate
        self.name = name  # which model this is, as renders and `status` report it

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto",
                        settings: RenderSettings | None = None) -> "Pipeline":
        """Load `path` (default: the bundled model) onto cuda, mps or cpu. Without `settings`,
        the checkpoint's own `render_defaults` (from `export --default`) start from
        `RenderSettings()`."""
        if path is None:
            path = DEFAULT_CHECKPOINT
            if not path.is_file():
                raise CheckpointError(f"{path}: no bundled model in this installation; pass a checkpoint")
        reuse_freed_memory()  # large CPU tensors without page faults
        model, metadata = load_checkpoint(path)
        if settings is None:  # the settings measured best for this model, if its file names any
            try:
                settings = RenderSettings(**metadata.get("info", {}).get("render_defaults", {}))
            except (TypeError, BadParameter) as exc:
                raise CheckpointError(f"{path}: its render defaults are not valid settings ({exc})") from None
        name = "bundled" if Path(path) == DEFAULT_CHECKPOINT else Path(path).stem
        return cls(model, pick_device(device), metadata, settings, name)

    # -- the tasks --------------------------------------------------------------------------
    def run(self, task: str, **params: Any) -> list[Render]:
        """Run a task by name (for the CLI and the service); always returns a list of renders.
        Audio inputs come by name (`audio`, or `a` and `b`) as Clips or as arrays at
        `sample_rate`; `RenderSettings` fields may be given flat (`steps=30, crossfade=0.1`)."""
        result = self.call(task_named(task), params)
        return result if isinstance(result, list) else [result]

    def call(self, task: Task, params: dict[str, Any]) -> Any:
        """`task` on `params`: checked against the table (only these checks are the caller's
        `bad_parameter`; a TypeError from inside a task is a bug), then run by its module."""
        params = dict(params)
        rate = params.pop("sample_rate", None) if task.inputs else None
        missing = [name for name in task.inputs if params.get(name) is None]
        if missing:
            raise BadParameter(f"{task.name} needs {', '.join(missing)}")
        clips = [as_clip(params.pop(name), rate) for name in task.inputs]
        options = {name: params.pop(name) for name in OPTIONS if name in params}
        flat = {k: params.pop(k) for k in list(params) if k in RenderSettings.__dataclass_fields__}
        job = self.job(**options, flat=flat)
        checked = task.check(params)
        result = task.implementation()(self, job, *clips, **checked)
        return [self.described(r, task, checked, job) for r in result] if isinstance(result, list) \
            else self.described(result, task, checked, job)

    def described(self, render: Render, task: Task, checked: dict[str, Any], job: RenderJob) -> Render:
        """`render` with what made it in its info: the task, its parameters, every setting and the
        model, so that a take can be made again exactly (its seed is the render's own)."""
        settings = {k: v for k, v in vars(job.settings).items() if k != "prompt" or v}
        used = {k: v for k, v in checked.items() if v is not None and k != "regions"}
        return replace(render, info={"task": task.name, "params": used, "settings": settings, "model": self.name,
                                     **render.info})

    if TYPE_CHECKING:  # the tasks' methods, bound below from the table
        def __getattr__(self, name: str) -> Callable[..., Any]: ...

    def describe(self) -> dict[str, Any]:
        """The device and the model, as `status` reports them."""
        return {"device": str(self.device), **compute(), "model": {"name": self.name, **self.model.describe(),
                                                      "trained": self.metadata.get("trained", {})}}

    def job(self, seed: int | None = None, settings: RenderSettings | None = None, progress: OnProgress | None = None,
            cancel: Cancel | None = None, flat: dict[str, Any] | None = None) -> RenderJob:
        """A job on this pipeline's settings (or `settings`), with `flat` settings fields changed."""
        base = self.settings if settings is None else settings
        if flat:
            try:
                base = replace(base, **flat)
            except TypeError as exc:
                raise BadParameter(f"settings: {exc}") from None
        return RenderJob(base, seed, progress, cancel)

    # -- what the tasks share ---------------------------------------------------------------
    @property
    def max_seconds(self) -> float:
        """One model context in seconds: its `window_frames` at its hop (8192 frames at hop 512: 95.1 s)."""
        return max_seconds(self.model.window_frames, self.model.geometry.hop_length, self.sample_rate)

    @contextlib.contextmanager
    def diffuser(self, job: RenderJob) -> Iterator[Diffuser]:
        """The model as a sampler with this job's settings, seed and progress, inside inference
        mode (and a GPU's autocast): `with pipeline.diffuser(job) as diffuser: ...`."""
        with self.inference():
            yield Diffuser(self.denoiser(job.settings), self.model.schedule, sampler_settings(job.settings),
                           self.model.frame_multiple, job.generator, job.on_step, self.model.data_scale)

    def encode(self, wave: Tensor) -> Tensor:
        """Audio `[B, C, S]` at the model's rate -> scaled mel `[B, C, n_mels, frames]`."""
        return self.model.encode(wave)

    def inference(self) -> contextlib.AbstractContextManager:
        """Inference mode at this device's precision (`engine.device`)."""
        return inference(self.device)

    def check_one_context(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Whole-clip tasks see the clip at once: at most one model context."""
        if audio.shape[-1] > self.max_seconds * sample_rate:
            raise BadAudio(f"the clip is {audio.shape[-1] / sample_rate:.1f} s long; this task works on up to "
                           f"{self.max_seconds:.1f} s at a time, so select a shorter part")
        return audio

    def denoiser(self, settings: RenderSettings) -> Denoiser:
        """The model as a denoiser, conditioned on the settings' prompt when there is one."""
        cond = mask = None
        if settings.prompt:
            name = self.model.text_encoder
            if not name:
                raise BadParameter("this model was trained without text; leave the prompt out")
            cond, mask = text_encoder(name, str(self.device)).encode([settings.prompt])
        return self.model.denoiser(cond, mask, settings.guidance)

    @property
    def trained_network(self) -> bool:
        """Whether the checkpoint's magnitude network was trained (else the pseudo-inverse serves)."""
        return bool(self.metadata.get("trained", {}).get("magnitude"))

    def to_model(self, audio: np.ndarray, sample_rate: int) -> Tensor:
        """`[C, S]` numpy at `sample_rate` -> `[1, C, S']` on the device at the model's rate."""
        wave = torch.tensor(audio, dtype=torch.float32, device=self.device)  # a copy: inputs may be read-only
        return resample(wave, sample_rate, self.sample_rate)[None]

    def to_caller(self, wave: Tensor, sample_rate: int, samples: int | None) -> np.ndarray:
        """Rendered `[1, C, S]` at the model's rate -> numpy `[C, samples]` at `sample_rate`,
        never above full scale."""
        out = resample(wave[0].float(), self.sample_rate, sample_rate).cpu().numpy()
        if samples is not None:
            out = out[:, :samples]
            if out.shape[-1] < samples:
                out = np.pad(out, ((0, 0), (0, samples - out.shape[-1])))
        return below_full_scale(np.ascontiguousarray(out, dtype=np.float32))

    def resynthesize(self, mel: Tensor, samples: int, job: RenderJob, keep: Keep = NOTHING) -> Tensor:
        """Scaled mel `[B, C, F, T]` -> audio `[B, C, samples]` at the model's rate, keeping what
        `keep` says of audio the task has (`engine.resynthesis`)."""
        job.check_cancel()
        job.report(0.9, "resynthesis")
        audio = self.model.resynthesize(mel, samples, job.settings, keep, job.generator, self.trained_network)
        job.report(1.0, "done")
        return audio


def sampler_settings(settings: RenderSettings) -> SamplerSettings:
    """The sampler's part of a render's settings."""
    return SamplerSettings(settings.sampler, settings.steps, settings.eta, settings.jump_length, settings.resample)


def task_method(task: Task) -> Callable[..., Any]:
    """`task` as a method, positional arguments in the table's order: its audio inputs, their
    `sample_rate`, then its parameters (`pipeline.inpaint(audio, 44_100, [(1, 2)])`)."""
    order = [*task.inputs, *(["sample_rate"] if task.inputs else []), *(p.name for p in task.params)]

    def method(self: Pipeline, *args: Any, **params: Any) -> Any:
        if len(args) > len(order):
            raise BadParameter(f"{task.name} takes at most {len(order)} values in order ({', '.join(order)})")
        twice = sorted(set(order[:len(args)]) & set(params))
        if twice:
            raise BadParameter(f"{task.name} got {', '.join(twice)} twice")
        return self.call(task, {**dict(zip(order, args)), **params})

    method.__name__ = method.__qualname__ = task.name
    method.__doc__ = f"{task.name}({', '.join(order)}): {task.help}"
    return method


for _task in TASKS.values():  # every task in the table is a method of the pipeline
    setattr(Pipeline, _task.name, task_method(_task))
