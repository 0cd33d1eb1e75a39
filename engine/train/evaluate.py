"""`daw-diffusion evaluate`: how good a checkpoint is, on the held-out split, against baselines.

Writes `metrics.json` and PNG plots into the output folder:
- vocoder: spectral convergence / log-spectral distance after Griffin-Lim, neural magnitudes
  against the analytic pseudo-inverse at the same iterations;
- generation: Fréchet distance of log-mel frame statistics to held-out music, against white
  noise and against the training split itself;
- inpainting: log-mel error inside the filled region, and the seam discontinuity of each mode
  against a hard splice and against the untouched clip;
- style transfer: structure kept (chroma and onset correlation with the source) against
  distance to the training distribution, for strengths 0.1-0.9;
- sampler: distance to a 200-step DDIM result from the same noise, and Fréchet distance, for
  DPM-Solver++ and DDIM at several step counts.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from engine import metrics, tasks
from engine.pipeline import Pipeline, RenderSettings, RenderJob
from engine.train.prepare import read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    checkpoint: Path
    data_dir: Path
    out_dir: Path
    clips: int = 6
    seconds: float = 5.0
    sampler_steps: tuple[int, ...] = (10, 20, 50, 100, 200)
    strengths: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    seed: int = 0
    device: str = "auto"


def load_clips(entries: list[dict], count: int, seconds: float, seed: int) -> list[tuple[np.ndarray, str]]:
    """`count` clips of `seconds` from different files (a fixed choice for a seed)."""
    rng = np.random.default_rng(seed)
    usable = [e for e in entries if e["duration"] >= seconds + 0.5]
    if not usable:
        raise ValueError(f"no file of at least {seconds + 0.5:g} s in this split")
    picks = rng.choice(len(usable), size=min(count, len(usable)), replace=False)
    clips = []
    for index in picks:
        entry = usable[int(index)]
        info = sf.info(entry["path"])
        start = int(rng.integers(0, info.frames - round(seconds * info.samplerate)))
        audio, _ = sf.read(entry["path"], start=start, frames=round(seconds * info.samplerate),
                           dtype="float32", always_2d=True)
        clips.append((np.ascontiguousarray(audio.T), entry["caption"]))
    return clips


class Evaluation:
    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.pipeline = Pipeline.from_checkpoint(config.checkpoint, config.device)
        self.spectral = self.pipeline.model.spectral
        self.rate = self.pipeline.sample_rate
        self.held_out = load_clips(read_manifest(config.data_dir, "heldout"), config.clips, config.seconds, config.seed)
        self.train = load_clips(read_manifest(config.data_dir, "train"), config.clips, config.seconds, config.seed + 1)
        self.settings = RenderSettings()
        self.examples: dict[str, np.ndarray] = {}

    # -- features -----------------------------------------------------------------------------
    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        return self.spectral.log_mel(torch.from_numpy(audio)).numpy()

    def frames(self, audios: list[np.ndarray]) -> np.ndarray:
        """Per-frame log-mel vectors `[N, 128]` of every channel of every clip."""
        mels = [self.log_mel(a) for a in audios]
        return np.concatenate([m.reshape(-1, 128, m.shape[-1]).transpose(0, 2, 1).reshape(-1, 128) for m in mels])

    def magnitude(self, audio: np.ndarray) -> np.ndarray:
        return self.spectral.stft(torch.from_numpy(audio)).abs().numpy()

    # -- measurements -------------------------------------------------------------------------
    def vocoder(self) -> dict:
        iters = self.settings.griffin_lim_iters
        result = {}
        for name, magnitude in (("neural", "vocoder"), ("analytic", "pseudo_inverse")):
            job = RenderJob(self.pipeline, seed=0, settings=replace(self.settings, magnitude=magnitude))
            sc, lsd = [], []
            for audio, _ in self.held_out:
                wave = torch.from_numpy(audio)[None]
                rebuilt = self.pipeline.vocode(self.spectral.encode(wave), wave.shape[-1], job)[0].numpy()
                sc.append(metrics.spectral_convergence(self.magnitude(audio), self.magnitude(rebuilt)))
                lsd.append(metrics.log_spectral_distance(self.magnitude(audio), self.magnitude(rebuilt)))
                self.examples.setdefault(f"vocoder_{name}", rebuilt)
            result[name] = {"spectral_convergence": float(np.mean(sc)), "log_spectral_distance_db": float(np.mean(lsd))}
        result["griffin_lim_iters"] = iters
        result["neural_beats_analytic"] = result["neural"]["spectral_convergence"] < result["analytic"]["spectral_convergence"]
        return result

    def generation(self) -> dict:
        c = self.config
        reference = self.frames([a for a, _ in self.held_out])
        generated = [self.pipeline.generate(c.seconds, seed=c.seed + k, settings=self.settings)[0].audio
                     for k in range(len(self.held_out))]
        self.examples["generated"] = generated[0]
        rng = np.random.default_rng(c.seed)
        level = float(np.mean([np.sqrt((a**2).mean()) for a, _ in self.held_out]))
        noise = [(rng.standard_normal(a.shape) * level).astype(np.float32) for a, _ in self.held_out]
        result = {
            "generated": metrics.frechet_distance(self.frames(generated), reference),
            "white_noise": metrics.frechet_distance(self.frames(noise), reference),
            "training_split": metrics.frechet_distance(self.frames([a for a, _ in self.train]), reference),
        }
        if self.pipeline.model.config.conditioning.text_encoder:
            prompted = [self.pipeline.generate(c.seconds, seed=c.seed + k, settings=replace(self.settings, prompt=text))[0].audio
                        for k, (_, text) in enumerate(self.held_out)]
            result["generated_with_held_out_captions"] = metrics.frechet_distance(self.frames(prompted), reference)
        result["closer_than_noise"] = result["generated"] < result["white_noise"]
        return {"frechet_distance_log_mel": result}

    def inpainting(self) -> dict:
        start, end = 0.4 * self.config.seconds, 0.6 * self.config.seconds
        seams = [round(start * self.rate), round(end * self.rate)]
        region = slice(round(start * self.rate / 1024) + 2, round(end * self.rate / 1024) - 1)
        result = {}
        for mode in ("replace", "repaint"):
            errors, seam, hard = [], [], []
            for k, (audio, _) in enumerate(self.held_out):
                out = self.pipeline.inpaint(audio, self.rate, [(start, end)], mode=mode, seed=k, settings=self.settings).audio
                cut = self.pipeline.inpaint(audio, self.rate, [(start, end)], mode=mode, seed=k,
                                            settings=replace(self.settings, crossfade=0.0)).audio
                errors.append(float(np.abs(self.log_mel(out)[..., region] - self.log_mel(audio)[..., region]).mean()))
                seam += [metrics.seam_discontinuity(out, s) for s in seams]
                hard += [metrics.seam_discontinuity(cut, s) for s in seams]
                self.examples.setdefault(f"inpaint_{mode}", out)
            result[mode] = {"log_mel_error_in_region": float(np.mean(errors)),
                            "seam_discontinuity": float(np.mean(seam)),
                            "seam_discontinuity_hard_splice": float(np.mean(hard))}
            result[mode]["seam_below_hard_splice"] = result[mode]["seam_discontinuity"] < result[mode]["seam_discontinuity_hard_splice"]
        result["seam_discontinuity_untouched_clip"] = float(np.mean(
            [metrics.seam_discontinuity(a, s) for a, _ in self.held_out for s in seams]))
        result["region_seconds"] = [start, end]
        return result

    def style_transfer(self) -> dict:
        train_frames = self.frames([a for a, _ in self.train])
        rows = []
        for strength in self.config.strengths:
            outs, chroma_corr, onset_corr = [], [], []
            for k, (audio, _) in enumerate(self.held_out):
                out = self.pipeline.style_transfer(audio, self.rate, strength, seed=k, settings=self.settings).audio
                outs.append(out)
                chroma_corr.append(metrics.correlation(
                    metrics.chroma(self.magnitude(audio).mean(0), self.rate, 2048),
                    metrics.chroma(self.magnitude(out).mean(0), self.rate, 2048)))
                onset_corr.append(metrics.correlation(metrics.onset_envelope(self.log_mel(audio).mean(0)),
                                                      metrics.onset_envelope(self.log_mel(out).mean(0))))
            if strength == 0.5:
                self.examples["style_0.5"] = outs[0]
            rows.append({"strength": strength, "chroma_correlation": float(np.mean(chroma_corr)),
                         "onset_correlation": float(np.mean(onset_corr)),
                         "frechet_distance_to_training": metrics.frechet_distance(self.frames(outs), train_frames)})
        return {"curve": rows}

    def sampler(self) -> dict:
        """In the mel domain (no Griffin-Lim): the sampler is what is measured."""
        c = self.config
        frames = self.spectral.config.frames_for(round(c.seconds * self.rate))
        shape = (1, 2, self.spectral.config.n_mels, frames)
        reference_frames = self.frames([a for a, _ in self.held_out])

        def sample(sampler: str, steps: int, seed: int) -> torch.Tensor:
            job = RenderJob(self.pipeline, seed=seed, settings=replace(self.settings, sampler=sampler, steps=steps))
            return job.sample(tasks.generate, shape, self.pipeline.device).cpu()

        seeds = range(len(self.held_out))
        start = time.perf_counter()
        references = {s: sample("ddim", 200, s) for s in seeds}
        reference_seconds = (time.perf_counter() - start) / len(references)
        rows = []
        for sampler in ("dpmpp_2m", "ddim"):
            for steps in c.sampler_steps:
                start = time.perf_counter()
                mels = {s: references[s] if (sampler, steps) == ("ddim", 200) else sample(sampler, steps, s) for s in seeds}
                seconds = reference_seconds if (sampler, steps) == ("ddim", 200) else (time.perf_counter() - start) / len(mels)
                distance = float(np.mean([(mels[s] - references[s]).abs().mean() for s in seeds]))
                log_mels = [self.spectral.decode_log_mel(m)[0].numpy() for m in mels.values()]
                feats = np.concatenate([m.transpose(0, 2, 1).reshape(-1, 128) for m in log_mels])
                rows.append({"sampler": sampler, "steps": steps, "distance_to_ddim_200": distance,
                             "frechet_distance_log_mel": metrics.frechet_distance(feats, reference_frames),
                             "seconds_per_clip": seconds})
        return {"curve": rows}

    # -- output -------------------------------------------------------------------------------
    def run(self) -> dict:
        out = self.config.out_dir
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        results = {"checkpoint": str(self.config.checkpoint), "clips": len(self.held_out),
                   "clip_seconds": self.config.seconds, "defaults": {"sampler": self.settings.sampler,
                   "steps": self.settings.steps, "griffin_lim_iters": self.settings.griffin_lim_iters}}
        for name in ("vocoder", "generation", "inpainting", "style_transfer", "sampler"):
            log.info("evaluating %s", name)
            results[name] = getattr(self, name)()
        results["wall_seconds"] = round(time.perf_counter() - started, 1)
        (out / "metrics.json").write_text(json.dumps(results, indent=1))
        (out / "report.md").write_text(report(results))
        self.plot(results)
        return results

    def plot(self, results: dict) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = self.config.out_dir
        source = self.held_out[0][0]
        panels = [("held-out clip", source)] + [(name, audio) for name, audio in self.examples.items()]
        fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.0 * len(panels)), squeeze=False)
        top = float(self.log_mel(source).max())
        for ax, (name, audio) in zip(axes[:, 0], panels):  # one colour scale for all panels
            ax.imshow(self.log_mel(audio)[0], origin="lower", aspect="auto", cmap="magma", vmin=top - 14, vmax=top)
            ax.set_title(name, fontsize=9)
            ax.set_ylabel("mel band")
        axes[-1, 0].set_xlabel("frame (23 ms)")
        fig.tight_layout()
        fig.savefig(out / "spectrograms.png", dpi=80)
        plt.close(fig)

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        curve = results["style_transfer"]["curve"]
        left.plot([r["frechet_distance_to_training"] for r in curve], [r["chroma_correlation"] for r in curve], "o-", label="chroma")
        left.plot([r["frechet_distance_to_training"] for r in curve], [r["onset_correlation"] for r in curve], "s-", label="onsets")
        for r in curve:
            left.annotate(f"{r['strength']:.1f}", (r["frechet_distance_to_training"], r["chroma_correlation"]), fontsize=8)
        left.set_xlabel("Fréchet distance to training data (lower = more like it)")
        left.set_ylabel("correlation with the source")
        left.set_title("style transfer: structure kept vs. style taken")
        left.legend()
        for sampler in ("dpmpp_2m", "ddim"):
            rows = [r for r in results["sampler"]["curve"] if r["sampler"] == sampler]
            right.plot([r["steps"] for r in rows], [r["distance_to_ddim_200"] for r in rows], "o-", label=sampler)
        right.set_xscale("log")
        right.set_xlabel("steps")
        right.set_ylabel("mean |mel - DDIM 200 steps|")
        right.set_title("sampler convergence")
        right.legend()
        fig.tight_layout()
        fig.savefig(out / "curves.png", dpi=80)
        plt.close(fig)


def report(r: dict) -> str:
    """The numbers of `metrics.json` as readable markdown tables."""
    v, g, i = r["vocoder"], r["generation"]["frechet_distance_log_mel"], r["inpainting"]
    lines = [f"Held-out clips: {r['clips']} × {r['clip_seconds']:g} s. Defaults: {r['defaults']['sampler']} "
             f"{r['defaults']['steps']} steps, {r['defaults']['griffin_lim_iters']} Griffin-Lim iterations.", "",
             "| vocoder (after Griffin-Lim) | spectral convergence | log-spectral distance (dB) |", "|---|---:|---:|"]
    for name in ("neural", "analytic"):
        lines.append(f"| {name} | {v[name]['spectral_convergence']:.3f} | {v[name]['log_spectral_distance_db']:.2f} |")
    lines += ["", "| generation: Fréchet distance of log-mel frames to held-out music | value |", "|---|---:|"]
    lines += [f"| {name.replace('_', ' ')} | {value:.1f} |" for name, value in g.items() if not isinstance(value, bool)]
    lines += ["", "| inpainting | error in region (log-mel) | seam | hard-splice seam |", "|---|---:|---:|---:|"]
    for mode in ("replace", "repaint"):
        m = i[mode]
        lines.append(f"| {mode} | {m['log_mel_error_in_region']:.3f} | {m['seam_discontinuity']:.2f} | {m['seam_discontinuity_hard_splice']:.2f} |")
    lines.append(f"| untouched clip at the same places | | {i['seam_discontinuity_untouched_clip']:.2f} | |")
    lines += ["", "| style strength | chroma corr. | onset corr. | Fréchet distance to training |", "|---:|---:|---:|---:|"]
    lines += [f"| {row['strength']:.1f} | {row['chroma_correlation']:.3f} | {row['onset_correlation']:.3f} | "
              f"{row['frechet_distance_to_training']:.1f} |" for row in r["style_transfer"]["curve"]]
    lines += ["", "| sampler | steps | distance to DDIM 200 | Fréchet distance | s per clip |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {row['sampler']} | {row['steps']} | {row['distance_to_ddim_200']:.4f} | "
              f"{row['frechet_distance_log_mel']:.1f} | {row['seconds_per_clip']:.2f} |" for row in r["sampler"]["curve"]]
    return "\n".join(lines) + "\n"


def evaluate(config: EvalConfig) -> dict:
    results = Evaluation(config).run()
    return {"ok": True, "metrics": str(config.out_dir / "metrics.json"),
            "vocoder_beats_analytic": results["vocoder"]["neural_beats_analytic"],
            "generation_closer_than_noise": results["generation"]["frechet_distance_log_mel"]["closer_than_noise"],
            "seams_below_hard_splice": all(results["inpainting"][m]["seam_below_hard_splice"] for m in ("replace", "repaint"))}
