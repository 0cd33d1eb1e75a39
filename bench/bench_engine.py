"""Engine speed: the project's defaults against the defaults before phase recovery started from
the source (32 Griffin-Lim iterations everywhere) and Msanii's published settings (200 DDIM
steps, 200 iterations), same model, same run, 10 s of stereo with the bundled model.

    .venv/bin/python bench/bench_engine.py --out docs/benchmarks.md

Times are medians over interleaved repeats; the machine is shared, so read the ratios.
"Msanii reference" runs Griffin-Lim with torchaudio's implementation, as Msanii did;
"Msanii, our GL" isolates what the settings alone buy.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from types import MethodType

import torch
import torchaudio

from engine.demo import chord_progression
from engine.pipeline import Pipeline
from engine.resynthesis import Keep
from engine.settings import MSANII_SETTINGS, RenderSettings

from report import median_time, publish


def reference_griffin_lim(self, magnitude, length, *, n_iter=32, momentum=0.99, generator=None, start=None,
                          linked=False):
    """torchaudio's Griffin-Lim, the implementation Msanii's settings were published with (from
    random phase, channels on their own: it has no `start` or `linked`)."""
    c = self.config
    return torchaudio.functional.griffinlim(
        magnitude, torch.hann_window(c.n_fft), c.n_fft, c.hop_length, c.n_fft, 1.0, n_iter,
        momentum, length, True)



PHASE_RECOVERY = ((32, False, "32 iterations, random phase"), (4, True, "4, source phase"), (0, True, "0, source phase"))


def vocoding_times(checkpoint: Path | None, repeats: int, reuse: bool) -> list[list[float]]:
    """Mel -> audio (the magnitude network, then phase recovery) for 10, 30 and 60 s of stereo,
    each way of `PHASE_RECOVERY`; `reuse`: with engine.allocator's malloc tuning (the engine's
    way), else glibc's defaults. Run in a fresh process: the tuning cannot be undone."""
    import engine.pipeline

    if not reuse:
        engine.pipeline.reuse_freed_memory = lambda: False
    pipeline = Pipeline.from_checkpoint(checkpoint, "cpu")
    rows = []
    for seconds in (10.0, 30.0, 60.0):
        wave = torch.from_numpy(chord_progression(seconds, pipeline.sample_rate))[None]
        mel = pipeline.encode(wave)
        for iterations, from_source, _ in PHASE_RECOVERY:
            job = pipeline.job(seed=0)
            keep = Keep(wave if from_source else None, iterations=iterations)
            run = lambda: pipeline.resynthesize(mel, wave.shape[-1], job, keep)
            run()  # warm-up
            rows.append([seconds, median_time(run, repeats)])
    return rows


def vocoding(checkpoint: Path | None, repeats: int) -> list[str]:
    """The vocoding table: glibc's malloc against freed memory reused, a fresh process for each
    and the two alternating, so drift on a shared machine hits both alike."""
    spawn = multiprocessing.get_context("spawn")
    rounds: dict[bool, list[list[list[float]]]] = {False: [], True: []}
    for _ in range(repeats):
        for reuse in (False, True):
            with spawn.Pool(1) as pool:
                rounds[reuse].append(pool.apply(vocoding_times, (checkpoint, 1, reuse)))
    plain, reused = ([[rows[0][i][0], statistics.median(r[i][1] for r in rows)] for i in range(len(rows[0]))]
                     for rows in (rounds[False], rounds[True]))
    lines = ["", f"Resynthesis (the magnitude network and phase recovery), stereo, median of {repeats} alternating "
             "processes; malloc as glibc sets it against freed memory kept for reuse (engine/allocator.py):", "",
             "| audio | phase recovery | glibc's malloc (s) | memory reused (s) | speed-up |", "|---|---|---:|---:|---:|"]
    ways = [label for _, _, label in PHASE_RECOVERY] * 3
    for label, (seconds, before), (_, after) in zip(ways, plain, reused):
        lines.append(f"| {seconds:g} s | {label} | {before:.3f} | {after:.3f} | {before / after:.1f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="default: the bundled model")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    args = parser.parse_args()

    pipeline = Pipeline.from_checkpoint(args.checkpoint, "cpu")
    spectral, sr, seconds = pipeline.model.spectral, pipeline.sample_rate, args.seconds
    clip = chord_progression(seconds, sr)
    other = chord_progression(seconds, sr)[::-1].copy()
    defaults, before = RenderSettings(), RenderSettings(griffin_lim_iters=32)
    ours_gl = spectral.griffin_lim

    def use_reference_gl(on: bool) -> None:
        spectral.griffin_lim = MethodType(reference_griffin_lim, spectral) if on else ours_gl

    frames = spectral.config.frames_for(len(clip[0]))
    frames += -frames % pipeline.model.config.unet.frame_multiple
    x, t = torch.randn(1, 2, 128, frames), torch.tensor([500.0])
    context = torch.zeros(1, 2, 2 * 128 + 1, frames) if pipeline.model.config.unet.context else None
    magnitude = spectral.stft(torch.from_numpy(clip)).abs()
    tasks = {
        "generate": lambda s: pipeline.generate(seconds, seed=0, settings=s),
        "style transfer (0.5)": lambda s: pipeline.style_transfer(clip, sr, 0.5, seed=0, settings=s),
        "interpolate (0.5, 0.6)": lambda s: pipeline.interpolate(clip, other, sr, 0.5, 0.6, seed=0, settings=s),
        "inpaint 2 s (replace)": lambda s: pipeline.inpaint(clip, sr, [(4.0, 6.0)], seed=0, settings=s),
        "outpaint +5 s": lambda s: pipeline.outpaint(clip, sr, 5.0, seed=0, settings=s),
        # the same edits with the model doing them in both columns (the defaults above copy)
        "inpaint 2 s, model alone": lambda s: pipeline.inpaint(clip, sr, [(4.0, 6.0)], seed=0,
                                                               settings=replace(s, guide=1.0)),
        "outpaint +5 s, model alone": lambda s: pipeline.outpaint(clip, sr, 5.0, seed=0, settings=replace(s, guide=1.0)),
    }
    with torch.inference_mode():
        forward = median_time(lambda: pipeline.model.unet(x, t, context=context), 10 * args.repeats)
    rows = [("U-Net, one forward", forward, forward, forward, forward)]
    rows.append(("U-Net, all steps of a generation", defaults.steps * forward, defaults.steps * forward,
                 MSANII_SETTINGS.steps * forward, MSANII_SETTINGS.steps * forward))
    gl = {}
    for name, n_iter, reference in (("default", 32, False), ("msanii_ref", 200, True), ("msanii_ours", 200, False)):
        use_reference_gl(reference)
        run_gl = lambda: spectral.griffin_lim(magnitude, len(clip[0]), n_iter=n_iter)
        run_gl()  # warm-up
        gl[name] = median_time(run_gl, args.repeats)
    use_reference_gl(False)
    rows.append(("Griffin-Lim, 32 iterations from random phase", gl["default"], gl["default"], gl["msanii_ref"],
                 gl["msanii_ours"]))
    for name, task in tasks.items():
        task(defaults)  # warm-up
        measured: dict[str, list[float]] = {"default": [], "before": [], "msanii_ref": [], "msanii_ours": []}
        for _ in range(args.repeats):  # interleaved, so drift hits all columns alike
            for key, settings, reference in (("default", defaults, False), ("before", before, False),
                                             ("msanii_ref", MSANII_SETTINGS, True),
                                             ("msanii_ours", MSANII_SETTINGS, False)):
                use_reference_gl(reference)
                start = time.perf_counter()
                task(settings)
                measured[key].append(time.perf_counter() - start)
        use_reference_gl(False)
        rows.append((name, *(statistics.median(measured[k]) for k in ("default", "before", "msanii_ref", "msanii_ours"))))

    model = args.checkpoint or "bundled"
    header = (f"Defaults: {defaults.sampler} {defaults.steps} steps, Griffin-Lim iterations by task (engine/resynthesis/keep.py). "
              f"Before: 32 iterations everywhere. Msanii: ddim 200 steps, 200 iterations. {seconds:g} s stereo, "
              f"{model} model, CPU ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()}), "
              f"torch {torch.__version__}, median of {args.repeats}.")
    lines = [header, "",
             "| stage / task | defaults (s) | before (s) | speed-up | Msanii reference (s) | speed-up | "
             "Msanii, our GL (s) | speed-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, ours, old, ref, same in rows:
        lines.append(f"| {name} | {ours:.3f} | {old:.3f} | {old / ours:.1f}x | {ref:.3f} | {ref / ours:.1f}x | "
                     f"{same:.3f} | {same / ours:.1f}x |")
    table = "\n".join(lines + vocoding(args.checkpoint, args.repeats))
    print(json.dumps({name: {"defaults_s": ours, "before_s": old, "msanii_reference_s": ref, "msanii_our_gl_s": same}
                      for name, ours, old, ref, same in rows}))
    publish(table, args.out, "bench_engine")


if __name__ == "__main__":
    main()
