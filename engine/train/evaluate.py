"""`daw-diffusion evaluate`: how good checkpoints are on held-out real tracks, side by side and
against what a musician could do without them.

Every measurement is made on the output audio with one fixed analysis (`scores.JUDGE`), so
models of different hops are judged alike. Writes `metrics.json`,
`report.md`, `spectrograms.png` and `curves.png`:
- inpainting (gaps in the middle of 20 s clips) and extension (to the right of 10 s): log-mel
  L1 in the region (dB), chroma correlation with the truth, seam discontinuity; against
  silence, loop-repeat (copy what came just before), shaped noise (the surroundings' spectrum)
  and the resynthesis floor (the truth through the model's own mel and magnitude network);
- each model at its defaults (inpaint and extend from the clip's best-matching copy when its
  `guide` is below 1) and alone (`guide 1`), and a guide curve for the model under test;
- generation: Fréchet distance of log-mel frames to held-out music (training music and noise as
  yardsticks), key centre, attacks, beat and frame-rate ripple against real music's, and what can
  tell music from textured noise: CREPE's pitched-frame share and periodicity, and the Fréchet
  distance of CREPE embeddings (`pitch`);
- style transfer: chroma and onset correlation with the source, and the share of its pitched
  frames kept, per strength;
- the loss per noise level on held-out crops, beside the floor each U-Net's output map puts
  under it (`noise_levels`);
- with `--snapshots`: the same gap and generation numbers for every kept snapshot of a run
  (quality against training time).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from engine import metrics
from engine.model import MsaniiModel
from engine.pipeline import Pipeline
from engine.settings import RenderSettings
from engine.splice import splice
from engine.train import baselines, pitch
from engine.train.data import load_clips
from engine.train.manifest import read_manifest
from engine.train.noise_levels import LEVELS, floor_by_level, loss_by_level
from engine.train.report import beats, report
from engine.train.scores import JUDGE, RATE, audio_chroma, frame_features, log_mel, mean_rows, region_scores, structure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    checkpoints: tuple[Path, ...]  # the first is the model under test; others side by side
    data_dir: Path
    out_dir: Path
    clips: int = 10
    clip_seconds: float = 20.0  # edits sit in the middle; generation and style use its centre
    gaps: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    extensions: tuple[float, ...] = (2.0, 5.0)
    strengths: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    guides: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    generate_seconds: float = 10.0
    snapshots: tuple[Path, ...] = ()  # runs' snapshots/ folders, for the training-time curve
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        # a gap sits in the clip's middle and an extension starts there (the guide curve and the
        # snapshots also fill 2 s of each): both must fit in the clip
        needed = max(*self.gaps, 2 * max(*self.extensions, 2.0), 2.0)
        if self.clip_seconds < needed:
            raise ValueError(f"--clip-seconds {self.clip_seconds:g} is too short for these gaps and extensions: "
                             f"an extension starts in the clip's middle, so it needs at least {needed:g} s")


class Evaluation:
    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        for folder in config.snapshots:
            if not folder.is_dir():
                raise ValueError(f"{folder}: no such snapshots folder")
        self.pipelines = {self.name(p): Pipeline.from_checkpoint(p, config.device) for p in config.checkpoints}
        held_out = read_manifest(config.data_dir, "heldout")
        if not held_out:
            raise ValueError(f"{config.data_dir}: the manifest holds no held-out tracks to evaluate on")
        self.clips = load_clips(held_out, config.clips, config.clip_seconds, config.seed)
        self.middle = config.clip_seconds / 2
        self.length = round(min(config.generate_seconds, config.clip_seconds) * RATE)
        self.train = load_clips(read_manifest(config.data_dir, "train"), config.clips,
                                min(config.generate_seconds, config.clip_seconds), config.seed + 1)
        self.overrides: dict = {}  # render settings to try instead of each model's own
        self.floors: dict[tuple, np.ndarray] = {}
        self.examples: dict[str, np.ndarray] = {}
        self.crepe: dict[str, np.ndarray] = {}  # CREPE embeddings of the references, made once

    def settings(self, pipeline: Pipeline, **extra) -> RenderSettings:
        """The model's own defaults (its checkpoint's `render_defaults`), with any overrides."""
        return replace(pipeline.settings, **{**self.overrides, **extra})

    @staticmethod
    def name(path: Path) -> str:
        return path.stem if path.parent.name != "snapshots" else f"snapshot {path.stem}"

    # -- region edits -----------------------------------------------------------------------
    def methods(self, pipelines: dict[str, Pipeline], **extra) -> dict[str, tuple[Pipeline, RenderSettings]]:
        """Each model at its defaults, and also alone (guide 1) when its defaults start from
        the clip's best-matching copy."""
        out = {}
        for name, pipeline in pipelines.items():
            settings = self.settings(pipeline, **extra)
            out[name] = (pipeline, settings)
            if settings.guide < 1 and "guide" not in extra:
                out[f"{name}, model alone"] = (pipeline, replace(settings, guide=1.0))
        return out

    def fills(self, audio: np.ndarray, start: int, end: int, seed: int, extension: bool,
              methods: dict[str, tuple[Pipeline, RenderSettings]]) -> dict[str, np.ndarray]:
        """Every method's version of `audio` with `[start, end)` filled: `audio[:, :start]` is
        the input of an extension; a gap keeps everything around it."""
        fade = round(RenderSettings().crossfade * RATE)
        known = audio.copy()
        known[:, start:end] = 0  # no method sees the truth it must make
        out = {}
        for name, (pipeline, settings) in methods.items():
            if extension:
                rendered = pipeline.outpaint(audio[:, :start], RATE, (end - start) / RATE, seed=seed,
                                             settings=settings).audio
                out[name] = np.concatenate((rendered, audio[:, rendered.shape[-1]:]), axis=-1)
            else:  # spliced into the clip like the baselines' patches, with the same crossfades
                rendered = pipeline.inpaint(known, RATE, [(start / RATE, end / RATE)], seed=seed,
                                            settings=settings).audio
                out[name] = splice(audio, rendered[:, start:end], start, end, fade)
        context = round(4 * RATE)
        patches = {"silence": baselines.silence(known, start, end),
                   "loop-repeat": baselines.loop_repeat(known, start, end),
                   "shaped noise": baselines.shaped_noise(known[:, : (start if extension else None)], start, end,
                                                          JUDGE, context, seed)}
        for name, patch in patches.items():
            out[name] = splice(audio, patch, start, end, fade, fade_end=not extension)
        models = {id(p): (name, p) for name, (p, _) in reversed(methods.items())}.values()  # first name wins
        for name, pipeline in models:
            floor = self.floor(name, pipeline, audio, seed)
            out[f"resynthesis floor ({name})"] = splice(audio, floor[:, start:end], start, end, fade,
                                                        fade_end=not extension)
        return out

    def floor(self, name: str, pipeline: Pipeline, audio: np.ndarray, seed: int) -> np.ndarray:
        """The whole clip through the model's own mel and resynthesis, once per clip and model."""
        key = (name, seed, audio.shape[-1])
        if key not in self.floors:
            wave = pipeline.to_model(audio, RATE)
            rebuilt = pipeline.resynthesize(pipeline.encode(wave), wave.shape[-1],
                                            pipeline.job(seed=seed, settings=self.settings(pipeline)))
            self.floors[key] = pipeline.to_caller(rebuilt, RATE, audio.shape[-1])
        return self.floors[key]

    def regions(self, pipelines: dict[str, Pipeline] | None = None, gaps: tuple[float, ...] | None = None,
                extensions: tuple[float, ...] | None = None, **extra) -> dict:
        """Gaps and extensions; `extra` render settings replace each model's own."""
        pipelines = pipelines or self.pipelines
        methods = self.methods(pipelines, **extra)
        gaps = self.config.gaps if gaps is None else gaps
        extensions = self.config.extensions if extensions is None else extensions
        result = {}
        cases = [("gap", s) for s in gaps] + [("extension", s) for s in extensions]
        for kind, seconds in cases:
            rows: dict[str, list[dict]] = {}
            for k, (audio, _) in enumerate(self.clips):
                start = round((self.middle - seconds / 2 if kind == "gap" else self.middle) * RATE)
                end = start + round(seconds * RATE)
                truth = (log_mel(audio), audio_chroma(audio))
                for method, out in self.fills(audio, start, end, k, kind == "extension", methods).items():
                    rows.setdefault(method, []).append(region_scores(audio, out, start, end, truth))
                    pictured = (kind, seconds) in (("gap", 2.0), ("extension", 5.0)) and "floor (" not in method
                    if k == 0 and pictured and pipelines is self.pipelines and not extra:
                        self.examples.setdefault(f"{kind} {seconds:g} s: {method}", out)
            result[f"{kind} {seconds:g} s"] = {method: mean_rows(r) for method, r in rows.items()}
        return result

    # -- whole clips ------------------------------------------------------------------------
    def centre(self, audio: np.ndarray) -> np.ndarray:
        start = (audio.shape[-1] - self.length) // 2
        return audio[:, start: start + self.length]

    def musicality(self, audios: list[np.ndarray]) -> dict[str, float]:
        """Pitched-frame share, periodicity and CREPE-embedding Fréchet distance to held-out music."""
        if "held-out" not in self.crepe:
            self.crepe["held-out"] = np.concatenate([pitch.embedding(self.centre(a), RATE) for a, _ in self.clips])
        rows = mean_rows([pitch.pitch_scores(a, RATE) for a in audios])
        embedded = np.concatenate([pitch.embedding(a, RATE) for a in audios])
        return {**rows, "crepe_frechet_distance": metrics.frechet_distance(embedded, self.crepe["held-out"])}

    def generation(self, pipelines: dict[str, Pipeline] | None = None) -> dict:
        c = self.config
        reference = [self.centre(a) for a, _ in self.clips]
        reference_frames = frame_features(reference)
        rng = np.random.default_rng(c.seed)
        noise = [baselines.noise_like(a, a.shape[-1], JUDGE, int(rng.integers(1 << 30))) for a in reference]
        training = [a for a, _ in self.train]
        result: dict[str, dict] = {"yardsticks": {
            "training music": {"frechet_distance": metrics.frechet_distance(frame_features(training), reference_frames),
                               **mean_rows([structure(a) for a in training]), **self.musicality(training)},
            "shaped noise": {"frechet_distance": metrics.frechet_distance(frame_features(noise), reference_frames),
                             **mean_rows([structure(a) for a in noise]), **self.musicality(noise)},
            "held-out music": {**mean_rows([structure(a) for a in reference]),
                               **mean_rows([pitch.pitch_scores(a, RATE) for a in reference])}}}
        for name, pipeline in (pipelines or self.pipelines).items():
            prompts = [""] + ([t for _, t in self.clips] if pipeline.model.text_encoder else [])
            for label, texts in (("no prompt", [""] * len(reference)), ("held-out captions", prompts[1:])):
                if not texts:
                    continue
                audios = [pipeline.generate(self.length / RATE, seed=c.seed + k,
                                            settings=self.settings(pipeline, prompt=text))[0].audio
                          for k, text in enumerate(texts)]
                if pipelines is None:
                    self.examples.setdefault(f"generated ({name}, {label})", audios[0])
                result[f"{name}, {label}"] = {
                    "frechet_distance": metrics.frechet_distance(frame_features(audios), reference_frames),
                    **mean_rows([structure(a) for a in audios]), **self.musicality(audios)}
        return result

    def style_transfer(self) -> dict:
        result = {}
        for name, pipeline in self.pipelines.items():
            rows = []
            for strength in self.config.strengths:
                chroma_corr, onset_corr, pitched_kept = [], [], []
                for k, (audio, _) in enumerate(self.clips[:6]):
                    source = self.centre(audio)
                    out = pipeline.style_transfer(source, RATE, strength, seed=k, settings=self.settings(pipeline)).audio
                    chroma_corr.append(metrics.correlation(audio_chroma(source), audio_chroma(out)))
                    pitched = pitch.pitch_scores(source, RATE)["pitched"]
                    if pitched > 0.05:  # a share of next to nothing says nothing
                        pitched_kept.append(pitch.pitch_scores(out, RATE)["pitched"] / pitched)
                    onset_corr.append(metrics.correlation(metrics.onset_envelope(log_mel(source).mean(0)),
                                                          metrics.onset_envelope(log_mel(out).mean(0))))
                    if k == 0 and strength == 0.5:
                        self.examples.setdefault(f"style 0.5 ({name})", out)
                rows.append({"strength": strength, "chroma_correlation": float(np.mean(chroma_corr)),
                             "onset_correlation": float(np.mean(onset_corr)),
                             "pitched_kept": float(np.mean(pitched_kept)) if pitched_kept else float("nan")})
            result[name] = rows
        return result

    def noise_levels(self) -> dict:
        """Each model's loss per noise level on held-out crops (the whole crop unknown), and the
        floor its output map puts under it."""
        crops = np.stack([self.centre(a)[:, : 6 * RATE] for a, _ in self.clips])
        result: dict = {"levels": list(LEVELS)}
        for name, pipeline in self.pipelines.items():
            audio = pipeline.to_model(crops.reshape(-1, crops.shape[-1]), RATE)[0].reshape(*crops.shape[:2], -1)
            model = cast(MsaniiModel, pipeline.model)  # training's own measures: checkpoints this project trained
            result[name] = {"loss": loss_by_level(model, audio), "floor": floor_by_level(model, audio)}
        return result

    def guide_curve(self) -> list[dict]:
        """Gap 2 s and extension 2 s for the model under test from its best-matching copy
        refined at each `guide` (0: the copy alone, 1: the model alone): how the default was chosen."""
        name, pipeline = next(iter(self.pipelines.items()))
        rows = []
        for guide in self.config.guides:
            regions = self.regions({name: pipeline}, gaps=(2.0,), extensions=(2.0,), guide=guide)
            rows.append({"guide": guide, "gap_2s": regions["gap 2 s"][name], "extension_2s": regions["extension 2 s"][name]})
        return rows

    def training_curve(self) -> list[dict]:
        """Gap 2 s, extension 2 s and generation for every snapshot, by training time."""
        kept = [path for folder in self.config.snapshots for path in folder.glob("model-*-*s.safetensors")]
        rows = []
        for path in sorted(kept, key=lambda p: int(p.stem.split("-")[1])):
            named = re.match(r"model-(\d+)-(\d+)s", path.stem)
            if named is None:  # the glob above admits only such names
                continue
            steps, seconds = named.groups()
            pipeline = {"snapshot": Pipeline.from_checkpoint(path, self.config.device)}
            regions = self.regions(pipeline, gaps=(2.0,), extensions=(2.0,), guide=1.0)  # what training changes
            generated = self.generation(pipeline)["snapshot, no prompt"]
            rows.append({"steps": int(steps), "train_seconds": int(seconds),
                         "gap_2s": regions["gap 2 s"]["snapshot"], "extension_2s": regions["extension 2 s"]["snapshot"],
                         "generation_frechet_distance": generated["frechet_distance"]})
            log.info("snapshot at %s s: %s", seconds, rows[-1])
        return rows

    # -- output -----------------------------------------------------------------------------
    def run(self) -> dict:
        out = self.config.out_dir
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        results: dict[str, Any] = {"checkpoints": {self.name(p): str(p) for p in self.config.checkpoints},
                   "clips": [{"caption": t, "seconds": a.shape[-1] / RATE} for a, t in self.clips],
                   "settings": {name: {k: v for k, v in vars(self.settings(p)).items() if k != "prompt"}
                                for name, p in self.pipelines.items()}}
        for name in ("noise_levels", "regions", "generation", "style_transfer", "guide_curve", "training_curve"):
            log.info("evaluating %s", name)
            results[name] = getattr(self, name)()
        results["wall_seconds"] = round(time.perf_counter() - started, 1)
        (out / "metrics.json").write_text(json.dumps(results, indent=1))
        (out / "report.md").write_text(report(results))
        from engine.train.plots import plot_curves, plot_spectrograms

        plot_spectrograms(self.examples, self.clips[0][0], out / "spectrograms.png", log_mel)
        plot_curves(results, out / "curves.png")
        return results


def evaluate(config: EvalConfig) -> dict:
    results = Evaluation(config).run()
    model = next(iter(results["checkpoints"]))
    return {"ok": True, "metrics": str(config.out_dir / "metrics.json"), "model": model,
            "beats_loop_repeat_and_noise": {case: beats(results, model, case, ("loop-repeat", "shaped noise"))
                                            for case in results["regions"]},
            "model_alone_beats_loop_repeat_and_noise": {
                case: beats(results, f"{model}, model alone", case, ("loop-repeat", "shaped noise"))
                for case in results["regions"] if f"{model}, model alone" in results["regions"][case]}}
