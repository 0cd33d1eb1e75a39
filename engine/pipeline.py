"""Audio in -> mel -> task -> mel -> magnitude (vocoder or analytic) -> Griffin-Lim -> audio out.

Audio crosses this boundary as float32 numpy `[channels, samples]` at the caller's sample rate,
times as seconds. Work happens at the model's rate; edits are spliced back at the caller's rate
so untouched samples come back bit-identical.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from engine import guide, tasks
from engine.audio import below_full_scale, check_audio, check_sample_rate, fit_length, resample
from engine.checkpoint import load_checkpoint
from engine.diffusion import INPAINT_MODES, Denoiser, Diffuser, SamplerSettings
from engine.diffusion.diffuser import number, whole
from engine.errors import BadAudio, BadParameter, Cancelled, CheckpointError, UnknownTask
from engine.meter import SNAPS, Meter, meter_from
from engine.model import MsaniiModel
from engine.splice import splice
from engine.text import text_encoder

DEFAULT_CHECKPOINT = Path(__file__).parent / "models" / "default.safetensors"
Progress = Callable[[float, str], None]  # (fraction 0..1, stage)
Cancel = Callable[[], bool]  # returns True when the job should stop


@dataclass(frozen=True)
class RenderSettings:
    """How hard to work. Defaults are tuned for speed; `MSANII_SETTINGS` are the paper's."""

    sampler: str = "dpmpp_2m"
    steps: int = 16
    eta: float = 0.0
    griffin_lim_iters: int = 32
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
        if not whole(self.griffin_lim_iters) or not 1 <= self.griffin_lim_iters <= 1000:
            raise BadParameter(f"griffin_lim_iters must be a whole number from 1 to 1000, not {self.griffin_lim_iters!r}")
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


MSANII_SETTINGS = RenderSettings(sampler="ddim", steps=200, griffin_lim_iters=200)


@dataclass(frozen=True)
class Render:
    audio: np.ndarray  # float32 [channels, samples]
    sample_rate: int
    seed: int
    info: dict[str, Any] = field(default_factory=dict)  # what else was used: tempo and bars (`Meter.info`)

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        try:
            return torch.device(device)
        except RuntimeError as exc:
            raise BadParameter(f"unknown device {device!r} ({exc})") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_unit(name: str, value: float, low_open: bool = False) -> float:
    if not number(value) or not 0 <= value <= 1 or (low_open and value == 0):
        raise BadParameter(f"{name} must be a number {'above 0 and up to' if low_open else 'from 0 to'} 1, not {value!r}")
    return float(value)


MIN_SECONDS = 0.01  # the shortest length a task makes (a few STFT hops)
# Style transfer below this strength starts phase recovery from the source's phase: it then keeps
# the source's stereo image (L/R correlation within 0.02 at 0.1); from 0.2 up a fresh common phase
# for all channels keeps it better (docs/engine.md, "Phase and stereo").
SOURCE_PHASE_BELOW = 0.2


def check_seconds(name: str, value: float, maximum: float) -> float:
    if not number(value) or not MIN_SECONDS <= value <= maximum:
        raise BadParameter(f"{name} must be from {MIN_SECONDS:g} to {maximum:.1f} seconds, not {value!r}")
    return float(value)


class RenderJob:
    """Seed, settings, progress and cancellation for one call."""

    def __init__(self, pipeline: "Pipeline", seed: int | None = None,
                 settings: RenderSettings | None = None, progress: Progress | None = None,
                 cancel: Cancel | None = None, segments: int = 1) -> None:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                                 or not 0 <= seed < 2**63):
            raise BadParameter(f"seed must be a whole number >= 0, not {seed!r}")
        if settings is not None and not isinstance(settings, RenderSettings):
            raise BadParameter("settings must be RenderSettings (give its fields as plain parameters)")
        self.seed = secrets.randbelow(2**31) if seed is None else int(seed)
        self.settings = settings or pipeline.settings
        self.generator = torch.Generator().manual_seed(self.seed)
        self.progress, self.cancel = progress, cancel
        self.segments, self.done = max(segments, 1), 0
        self.share = (0.0, 1.0)  # (start, width) of the caller's progress bar this job fills
        self.pipeline = pipeline

    def report(self, fraction: float, stage: str) -> None:
        if self.progress is not None:
            start, width = self.share
            self.progress(start + width * fraction, stage)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("the job was cancelled")

    def on_step(self, info: dict[str, Any]) -> None:
        """Sampler callback: cancellation point and progress (diffusion is the first 90 %)."""
        self.check_cancel()
        finished = (info["i"] + 1) / info["n"]
        self.report(0.9 * min(1.0, (self.done + finished) / self.segments), "diffusion")
        if finished == 1:
            self.done += 1

    def diffuser(self, denoiser: Denoiser) -> Diffuser:
        config = self.pipeline.model.config
        return Diffuser(denoiser, self.pipeline.model.schedule, self.settings.sampler_settings(),
                        config.unet.frame_multiple, self.generator, self.on_step,
                        (config.diffusion.data_mean, config.diffusion.data_std))

    def sample(self, fn: Callable[..., Tensor], *args: Any) -> Tensor:
        """Run a task function (which may sample several windows) with this job's diffuser."""
        with self.pipeline.inference():
            return fn(self.diffuser(self.pipeline.denoiser(self.settings)), *args)


class Pipeline:
    def __init__(self, model: MsaniiModel, device: torch.device | str = "cpu",
                 metadata: dict[str, Any] | None = None, settings: RenderSettings | None = None) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.metadata = metadata or {}
        self.settings = settings or RenderSettings()
        self.sample_rate = model.config.spectral.sample_rate

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
        model, metadata = load_checkpoint(path)
        if settings is None:  # the settings measured best for this model, if its file names any
            try:
                settings = RenderSettings(**metadata.get("info", {}).get("render_defaults", {}))
            except (TypeError, BadParameter) as exc:
                raise CheckpointError(f"{path}: its render defaults are not valid settings ({exc})") from None
        return cls(model, pick_device(device), metadata, settings)

    # -- the tasks --------------------------------------------------------------------------
    def generate(self, seconds: float | None = None, *, bars: float | None = None, bpm: float | None = None,
                 beats_per_bar: int | None = None, channels: int = 2, sample_rate: int | None = None,
                 n_variations: int = 1, seed: int | None = None, settings: RenderSettings | None = None,
                 progress: Progress | None = None, cancel: Cancel | None = None) -> list[Render]:
        """`n_variations` new clips of `seconds` (or `bars` at `bpm`); variation k uses seed
        `seed + k`, so any one of them can be re-rendered on its own."""
        out_rate = check_sample_rate(sample_rate or self.sample_rate)
        meter = meter_from(bpm, beats_per_bar, None) if bars is not None or bpm is not None else None
        out_samples = self.length_samples(seconds, bars, meter, out_rate, self.max_seconds)
        seconds = out_samples / out_rate
        if not isinstance(channels, int) or not 1 <= channels <= 16:
            raise BadParameter(f"channels must be 1 to 16, not {channels!r}")
        if not isinstance(n_variations, int) or not 1 <= n_variations <= 16:
            raise BadParameter(f"n_variations must be 1 to 16, not {n_variations!r}")
        first = RenderJob(self, seed).seed
        samples = round(seconds * self.sample_rate)
        shape = (1, channels, self.model.config.spectral.n_mels, self.model.config.spectral.frames_for(samples))
        info = time_info(meter, bars=bars)
        renders = []
        for k in range(n_variations):
            job = RenderJob(self, first + k, settings, progress, cancel)
            job.share = (k / n_variations, 1 / n_variations)
            mel = job.sample(tasks.generate, shape, self.device)
            audio = self.vocode(mel, samples, job)
            renders.append(Render(self.to_caller(audio, out_rate, out_samples), out_rate, job.seed, info))
        return renders

    def style_transfer(self, audio: np.ndarray, sample_rate: int, strength: float = 0.5, **options: Any) -> Render:
        """Re-imagine `audio`; `strength` 0 returns it untouched, 1 keeps almost nothing."""
        source = self.check_one_context(check_audio(audio, sample_rate), sample_rate)
        strength = check_unit("strength", strength)
        job = RenderJob(self, **options)
        if strength == 0:
            return Render(source.copy(), sample_rate, job.seed)
        wave = self.to_model(source, sample_rate)
        mel = job.sample(tasks.style_transfer, self.model.spectral.encode(wave), strength)
        out = self.vocode(mel, wave.shape[-1], job, phase_source(wave, strength))
        return Render(self.to_caller(out, sample_rate, source.shape[-1]), sample_rate, job.seed)

    def vary(self, audio: np.ndarray, sample_rate: int, strength: float = 0.3, **options: Any) -> Render:
        """A variation of a loop that stays a loop: the same length to the sample (so the same
        tempo and bars) and a seamless wrap. The loop is re-imagined as it plays three times
        over (so the model hears what comes before and after it); the middle pass is kept, and
        its first `crossfade` seconds fade in from what followed its end, so that the end
        runs into the start."""
        source = check_audio(audio, sample_rate)
        strength = check_unit("strength", strength)
        samples = source.shape[-1]
        if 3 * samples > self.max_seconds * sample_rate:
            raise BadAudio(f"the loop is {samples / sample_rate:.1f} s long; vary hears it three times over, so it "
                           f"works on loops of up to {self.max_seconds / 3:.1f} s")
        job = RenderJob(self, **options)
        if strength == 0:
            return Render(source.copy(), sample_rate, job.seed)
        played = self.to_model(np.tile(source, 3), sample_rate)
        mel = job.sample(tasks.style_transfer, self.model.spectral.encode(played), strength)
        out = self.vocode(mel, played.shape[-1], job, phase_source(played, strength))
        three = self.to_caller(out, sample_rate, 3 * samples)
        fade = min(round(job.settings.crossfade * sample_rate), samples // 2)
        loop = three[:, samples: 2 * samples].copy()
        if fade:  # the wrap: what followed the end, fading into the loop's own start (amplitudes
            # sum to one: the two are the same material, not the unrelated signals of `splice`)
            ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
            loop[:, :fade] = three[:, 2 * samples: 2 * samples + fade] * (1 - ramp) + loop[:, :fade] * ramp
        return Render(below_full_scale(loop), sample_rate, job.seed)

    def interpolate(self, a: np.ndarray, b: np.ndarray, sample_rate: int, ratio: float = 0.5,
                    strength: float = 0.6, *, sample_rate_b: int | None = None, **options: Any) -> Render:
        """Blend two clips. The result has `a`'s length, channels and sample rate: `b` is
        trimmed or looped to `a`'s length; a mono `b` is spread over `a`'s channels."""
        a = self.check_one_context(check_audio(a, sample_rate, "first clip"), sample_rate)
        rate_b = sample_rate_b or sample_rate
        b = check_audio(b, rate_b, "second clip")
        ratio, strength = check_unit("ratio", ratio), check_unit("strength", strength, low_open=True)
        if b.shape[0] not in (1, a.shape[0]):
            raise BadAudio(f"the clips have {a.shape[0]} and {b.shape[0]} channels; give the second clip "
                           f"{a.shape[0]} channels or one")
        job = RenderJob(self, **options)
        wave_a = self.to_model(a, sample_rate)
        wave_b = fit_length(self.to_model(b, rate_b), wave_a.shape[-1]).expand_as(wave_a)
        encode = self.model.spectral.encode
        mel = job.sample(tasks.interpolate, encode(wave_a), encode(wave_b), ratio, strength)
        out = self.vocode(mel, wave_a.shape[-1], job, phase_source(wave_a if ratio <= 0.5 else wave_b, strength))
        return Render(self.to_caller(out, sample_rate, a.shape[-1]), sample_rate, job.seed)

    def inpaint(self, audio: np.ndarray, sample_rate: int, regions: list[tuple[float, float]],
                mode: str = "replace", *, snap: str | None = None, bpm: float | None = None,
                beats_per_bar: int | None = None, beat_offset: float | None = None, **options: Any) -> Render:
        """Regenerate each (start, end) region in seconds, moved to the nearest beat or bar
        lines with `snap` (at `bpm`, else at the tempo heard in `audio`); all other samples are
        returned bit-identical, with an equal-power crossfade inside each region's edges."""
        source = check_audio(audio, sample_rate)
        if mode not in INPAINT_MODES:
            raise BadParameter(f"unknown inpaint mode {mode!r}; choose one of {INPAINT_MODES}")
        spans = self.region_samples(regions, source.shape[-1], sample_rate)
        if snap is not None and snap not in SNAPS:
            raise BadParameter(f"snap must be one of {', '.join(SNAPS)}, not {snap!r}")
        meter = None
        if snap is not None or bpm is not None:
            meter = meter_from(bpm, beats_per_bar, beat_offset, source, sample_rate, downbeat=snap is not None)
        if snap is not None:
            duration = source.shape[-1] / sample_rate
            snapped = [meter.snap(a / sample_rate, b / sample_rate, snap, duration) for a, b in spans]
            spans = sorted((round(a * sample_rate), round(b * sample_rate)) for a, b in snapped)
        render = self.fill(source, sample_rate, spans, mode, RenderJob(self, segments=0, **options))
        regions = [[round(a / sample_rate, 6), round(b / sample_rate, 6)] for a, b in spans]
        return replace(render, info=time_info(meter, regions=regions) if meter else {})

    def fill(self, source: np.ndarray, sample_rate: int, spans: list[tuple[int, int]], mode: str,
             job: RenderJob) -> Render:
        """Inpaint the sample `spans` of `source`, context group by context group. Below
        `guide` 1 each span starts as the clip's best-matching copy (`engine.guide`), which
        the model refines from noise level `guide` with Griffin-Lim starting from its phase."""
        s = job.settings
        margin = round(s.context_seconds * sample_rate)
        groups = group_spans(spans, margin)
        job.segments = len(groups)
        fade = round(s.crossfade * sample_rate)
        out = source
        for group in groups:
            lo, hi = max(0, group[0][0] - margin), min(source.shape[-1], group[-1][1] + margin)
            wave = self.to_model(source[:, lo:hi], sample_rate)
            mel = self.model.spectral.encode(wave)
            scale = self.sample_rate / sample_rate
            runs = [self.frames_touching((a - lo) * scale, (b - lo) * scale, mel.shape[-1]) for a, b in group]
            unknown = torch.stack(runs).any(0)
            draft = self.draft(source[:, lo:hi], [(a - lo, b - lo) for a, b in group], runs, wave, mel, unknown,
                               sample_rate, fade) if s.guide < 1 else None
            if draft is not None and s.guide == 0:
                job.check_cancel()
                job.report(1.0, "done")
                patch = draft
            else:  # the model, from the draft when there is one
                start = self.to_model(draft, sample_rate) if draft is not None else None
                init = self.model.spectral.encode(start) if start is not None else None
                mel = job.sample(tasks.inpaint, mel, unknown, mode, init, s.guide)
                patch = self.to_caller(self.vocode(mel, wave.shape[-1], job, start), sample_rate, hi - lo)
            for a, b in group:
                out = splice(out, patch[:, a - lo:b - lo], a, b, fade)
        return Render(out, sample_rate, job.seed)

    def draft(self, audio: np.ndarray, spans: list[tuple[int, int]], runs: list[Tensor], wave: Tensor,
              mel: Tensor, unknown: Tensor, sample_rate: int, fade: int) -> np.ndarray | None:
        """`audio` (the caller's; `wave` and `mel` are it at the model's rate) with each span
        replaced by its best-matching copy, crossfaded in; None when some span has nothing in
        reach to copy (the model then works alone)."""
        spectral = self.model.config.spectral
        magnitude = self.model.spectral.stft(wave[0]).abs()
        features = guide.match_features(mel[0], magnitude, ~unknown, self.sample_rate, spectral.n_fft)
        frame_rate = self.sample_rate / spectral.hop_length
        hop = spectral.hop_length * sample_rate / self.sample_rate  # samples per frame at the caller's rate
        out = audio.copy()
        for (a, b), run in zip(spans, runs):
            frames = torch.nonzero(run).flatten()
            offset = guide.best_offset(features, ~unknown, int(frames[0]), int(frames[-1]) + 1, frame_rate)
            if offset is None:
                return None
            out = splice(out, guide.copy_fill(out, a, b, round(offset * hop)), a, b, fade)
        return out

    def outpaint(self, audio: np.ndarray, sample_rate: int, seconds: float | None = None, direction: str = "right",
                 mode: str = "replace", *, bars: float | None = None, bpm: float | None = None,
                 beats_per_bar: int | None = None, beat_offset: float | None = None, **options: Any) -> Render:
        """Extend by `seconds`, or by `bars` at `bpm` (else at the tempo heard in `audio`: an
        exact number of samples per bar), to the right or left. The original comes back
        bit-identical except the `crossfade` seconds at the seam, where it blends into the
        continuation."""
        source = check_audio(audio, sample_rate)
        meter = None
        if bars is not None or bpm is not None:
            meter = meter_from(bpm, beats_per_bar, beat_offset, source, sample_rate)
        grow = self.length_samples(seconds, bars, meter, sample_rate, 4 * self.max_seconds)
        seconds = grow / sample_rate
        info = time_info(meter, bars=bars)
        if direction not in ("right", "left"):
            raise BadParameter(f"direction must be 'right' or 'left', not {direction!r}")
        if mode not in INPAINT_MODES:
            raise BadParameter(f"unknown inpaint mode {mode!r}; choose one of {INPAINT_MODES}")
        job = RenderJob(self, segments=0, **options)
        spectral, right = self.model.config.spectral, direction == "right"
        hop, samples = spectral.hop_length, source.shape[-1]
        fade = min(round(job.settings.crossfade * sample_rate), samples // 2)
        if job.settings.guide < 1:  # the continuation as a region to fill, the seam's crossfade inside it
            if job.settings.guide > 0 and seconds + job.settings.context_seconds > self.max_seconds:
                raise BadParameter(f"a guided extension reaches up to {self.max_seconds - job.settings.context_seconds:.0f} s "
                                   "beyond its context; extend in steps, or with guide 1 (the model alone)")
            silence = np.zeros((source.shape[0], grow), dtype=np.float32)
            padded = np.concatenate((source, silence) if right else (silence, source), axis=1)
            span = (samples - fade, samples + grow) if right else (0, grow + fade)
            return replace(self.fill(padded, sample_rate, [span], mode, job), info=info)
        keep = min(samples, round(job.settings.context_seconds * sample_rate))
        wave = self.to_model(source[:, samples - keep:] if right else source[:, :keep], sample_rate)
        mel = self.model.spectral.encode(wave)
        # the outermost frames' windows reach past the audio (padding, not music): redo them
        edge = math.ceil(spectral.n_fft / 2 / hop)
        grow_model = math.ceil(grow * self.sample_rate / sample_rate)
        if right:
            known = mel[..., : mel.shape[-1] - edge]
            new_frames = (wave.shape[-1] + grow_model) // hop + 2 - known.shape[-1]
        else:
            known = mel[..., edge:]
            new_frames = edge + math.ceil(grow_model / hop) + 1
        window = self.model.config.diffusion.window_frames
        per_window = window - min(known.shape[-1], window // 2)
        job.segments = math.ceil(new_frames / per_window)
        mel = job.sample(tasks.outpaint, known, new_frames, direction, known.shape[-1], window, mode)
        patch = self.to_caller(self.vocode(mel, (mel.shape[-1] - 1) * hop, job), sample_rate, None)
        silence = np.zeros((source.shape[0], grow), dtype=np.float32)
        if right:  # the patch starts where the context starts
            base = np.concatenate((source, silence), axis=1)
            body = patch[:, keep - fade: keep + grow]
            out = splice(base, body, samples - fade, samples + grow, fade, fade_end=False)
        else:  # the patch starts `lead` samples before the context
            lead = round((new_frames - edge) * hop * sample_rate / self.sample_rate)
            base = np.concatenate((silence, source), axis=1)
            out = splice(base, patch[:, lead - grow: lead + fade], 0, grow + fade, fade, fade_start=False)
        return Render(out, sample_rate, job.seed, info)

    # -- dispatch ---------------------------------------------------------------------------
    TASKS = ("generate", "style_transfer", "vary", "interpolate", "inpaint", "outpaint")

    def run(self, task: str, **params: Any) -> list[Render]:
        """Run a task by name (for the CLI and the service); always returns a list of renders.
        `RenderSettings` fields may be given flat (`steps=30, crossfade=0.1`)."""
        if task not in self.TASKS:
            raise UnknownTask(f"unknown task {task!r}; choose one of {', '.join(self.TASKS)}")
        flat = {k: params.pop(k) for k in list(params) if k in RenderSettings.__dataclass_fields__}
        if flat:
            base = params.get("settings") or self.settings
            try:
                params["settings"] = replace(base, **flat)
            except TypeError as exc:
                raise BadParameter(f"{task}: {exc}") from None
        method = getattr(self, task)
        accepted = inspect.signature(method).parameters
        names = set(accepted)
        if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):  # **options go to the job
            names |= set(inspect.signature(RenderJob).parameters) - {"pipeline", "segments"}
        unknown = sorted(set(params) - names - {n for n, p in accepted.items() if p.kind is p.VAR_KEYWORD})
        missing = [name for name, p in accepted.items() if p.default is p.empty and name not in params
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if unknown or missing:  # checked here, so a TypeError from inside a task stays a bug, not "bad input"
            problems = ([f"needs {', '.join(missing)}"] if missing else []) + \
                       ([f"takes no {', '.join(unknown)}"] if unknown else [])
            raise BadParameter(f"{task} {' and '.join(problems)}")
        result = method(**params)
        return result if isinstance(result, list) else [result]

    # -- building blocks --------------------------------------------------------------------
    @property
    def max_seconds(self) -> float:
        """One model context (Msanii: 8192 frames, 190.2 s at 44.1 kHz)."""
        c = self.model.config
        return (c.diffusion.window_frames - 1) * c.spectral.hop_length / c.spectral.sample_rate

    @staticmethod
    def length_samples(seconds: float | None, bars: float | None, meter: Meter | None, sample_rate: int,
                       maximum: float) -> int:
        """A length given as `seconds` or as `bars` at `meter`, in samples at `sample_rate`."""
        if (seconds is None) == (bars is None):
            raise BadParameter("give the length in seconds or in bars (one of the two)")
        if bars is None:
            return round(check_seconds("seconds", seconds, maximum) * sample_rate)
        if not number(bars) or bars <= 0:
            raise BadParameter(f"bars must be a number above 0, not {bars!r}")
        if meter is None:
            raise BadParameter("a length in bars needs a tempo: give bpm")
        samples = meter.samples(bars, sample_rate)
        if not MIN_SECONDS <= samples / sample_rate <= maximum:
            raise BadParameter(f"{bars:g} bars at {meter.bpm:g} BPM are {samples / sample_rate:.3f} s; "
                               f"lengths go from {MIN_SECONDS:g} to {maximum:.1f} s")
        return samples

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """inference mode; bf16 autocast on CUDA, fp16 on MPS, float32 on the CPU."""
        with torch.inference_mode():
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    yield
            elif self.device.type == "mps":
                with torch.autocast("mps", dtype=torch.float16):
                    yield
            else:
                yield

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
            name = self.model.config.conditioning.text_encoder
            if not name:
                raise BadParameter("this model was trained without text; leave the prompt out")
            cond, mask = text_encoder(name, str(self.device)).encode([settings.prompt])
        diffusion = self.model.config.diffusion
        bounds = tuple((b - diffusion.data_mean) / diffusion.data_std for b in (-1.0, 1.0))
        return Denoiser(self.model.unet, self.model.schedule, diffusion.prediction, cond, mask,
                        settings.guidance, bounds)

    def uses_vocoder(self, settings: RenderSettings) -> bool:
        if settings.magnitude == "auto":
            return bool(self.metadata.get("trained", {}).get("vocoder"))
        return settings.magnitude == "vocoder"

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

    def vocode(self, mel: Tensor, samples: int, job: RenderJob, start: Tensor | None = None) -> Tensor:
        """Scaled mel `[B, C, F, T]` -> audio `[B, C, samples]` at the model's rate; phase
        recovery starts from the phase of audio `start` (a source or draft) when given, and
        keeps the channels' phases linked (one phase for all, their start's differences kept)."""
        job.check_cancel()
        job.report(0.9, "vocoder")
        spectral = self.model.spectral
        with torch.inference_mode():
            if self.uses_vocoder(job.settings):
                with self.inference():
                    magnitude = torch.exp(self.model.vocoder_log_magnitude(mel))
            else:
                magnitude = spectral.mel_to_magnitude(spectral.decode_log_mel(mel))
            audio = spectral.griffin_lim(magnitude, samples, n_iter=job.settings.griffin_lim_iters,
                                         momentum=job.settings.griffin_lim_momentum, generator=job.generator,
                                         start=start, linked=True)
        job.report(1.0, "done")
        return audio

    def frames_touching(self, start: float, end: float, frames: int) -> Tensor:
        c = self.model.config.spectral
        return tasks.frames_touching(math.floor(start), math.ceil(end), frames, c.hop_length, c.n_fft)

    @staticmethod
    def region_samples(regions: Any, samples: int, sample_rate: int) -> list[tuple[int, int]]:
        """Validate (start, end) seconds against the audio; return sorted sample spans."""
        if not isinstance(regions, (list, tuple)) or not regions:
            raise BadParameter("give at least one region as (start, end) in seconds")
        duration = samples / sample_rate
        spans = []
        for region in regions:
            try:
                start, end = (float(v) for v in region)
            except (TypeError, ValueError):
                raise BadParameter(f"a region must be (start, end) in seconds, not {region!r}") from None
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end > duration + 1e-9:
                raise BadParameter(f"region {start:g}-{end:g} s lies outside the audio (0-{duration:.3f} s)")
            if start >= end:
                raise BadParameter(f"region {start:g}-{end:g} s is empty: start must come before end")
            spans.append((round(start * sample_rate), min(samples, round(end * sample_rate))))
        return sorted(spans)


def phase_source(wave: Tensor, strength: float) -> Tensor | None:
    """Where phase recovery starts after an SDEdit of `wave` at `strength`: its own phase when
    the model changed it little, else a fresh one (`SOURCE_PHASE_BELOW`)."""
    return wave if strength < SOURCE_PHASE_BELOW else None


def time_info(meter: Meter | None, **used: Any) -> dict[str, Any]:
    """A result's report of its musical time: the meter and what was measured in it."""
    return {**meter.info(), **{k: v for k, v in used.items() if v is not None}} if meter else {}


def group_spans(spans: list[tuple[int, int]], margin: int) -> list[list[tuple[int, int]]]:
    """Merge overlapping spans, then group those whose context windows (± margin) overlap,
    so each group is diffused once."""
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    groups: list[list[tuple[int, int]]] = []
    for span in merged:
        if groups and span[0] - margin <= groups[-1][-1][1] + margin:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups
