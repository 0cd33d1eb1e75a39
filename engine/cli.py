"""`daw-diffusion` command line: render (one task on files), init (a fresh checkpoint),
info and export (checkpoints), demo (every task on a synthetic clip), the service commands
engine, broker and keys, and the training commands prepare-data, train and evaluate."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from bridge.audiofile import AudioFileError, read_audio, refuse_existing, write_audio

# Exit codes, distinct so scripts (REAPER, Max) can tell what happened.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SOCKET, EXIT_CANCELLED = 0, 1, 2, 3, 4
TASK_NAMES = {"generate": "generate", "style": "style_transfer", "style_transfer": "style_transfer",
              "interpolate": "interpolate", "inpaint": "inpaint", "outpaint": "outpaint",
              "extend": "outpaint"}
log = logging.getLogger("daw-diffusion")


def parse_region(text: str) -> tuple[float, float]:
    try:
        start, end = text.split(":")
        return float(start), float(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a region is START:END in seconds, not {text!r}") from None


def add_render_settings(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("rendering (defaults: the engine's)")
    g.add_argument("--sampler", choices=["dpmpp_2m", "ddim"])
    g.add_argument("--steps", type=int)
    g.add_argument("--eta", type=float)
    g.add_argument("--griffin-lim-iters", type=int)
    g.add_argument("--crossfade", type=float, help="seconds at each seam (inpaint/outpaint)")
    g.add_argument("--context", type=float, dest="context_seconds", help="seconds of context around edits")
    g.add_argument("--prompt", help="text condition, e.g. 'string ensemble, slow' (text-trained models)")
    g.add_argument("--guidance", type=float, help="classifier-free guidance scale for --prompt")
    g.add_argument("--jump-length", type=int, help="RePaint jump length")
    g.add_argument("--resample", type=int, help="RePaint resample count")
    g.add_argument("--checkpoint", type=Path, help="model file (default: the bundled model)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daw-diffusion", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="run one task on audio files, write a new WAV")
    r.add_argument("--task", required=True, choices=sorted(TASK_NAMES))
    r.add_argument("--input", type=Path, help="source audio (all tasks but generate)")
    r.add_argument("--input-b", type=Path, help="second clip (interpolate)")
    r.add_argument("--offset", type=float, default=0.0, help="seconds into --input to start reading")
    r.add_argument("--length", type=float, help="seconds of --input to read (default: to the end)")
    r.add_argument("--output", type=Path, required=True, help="new WAV file (never overwritten)")
    r.add_argument("--seconds", type=float, help="length to generate / to extend by")
    r.add_argument("--channels", type=int, default=2, help="generate: channel count")
    r.add_argument("--sample-rate", type=int, help="generate: output sample rate")
    r.add_argument("--variations", type=int, default=1, help="generate: number of variations")
    r.add_argument("--strength", type=float, help="style/interpolate: 0..1 (how far from the source)")
    r.add_argument("--ratio", type=float, help="interpolate: 0 = first clip .. 1 = second")
    r.add_argument("--region", type=parse_region, action="append", help="inpaint: START:END seconds (repeatable)")
    r.add_argument("--mode", choices=["replace", "repaint"], help="inpaint/outpaint method")
    r.add_argument("--direction", choices=["right", "left"], help="outpaint direction")
    r.add_argument("--seed", type=int)
    r.add_argument("--progress-file", type=Path, help="keep 'fraction stage' up to date in this file")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    add_render_settings(r)

    i = sub.add_parser("init", help="write a freshly initialised (untrained) checkpoint")
    i.add_argument("output", type=Path)
    i.add_argument("--preset", choices=["cpu", "gpu", "tiny"], default="cpu")
    i.add_argument("--seed", type=int, default=0)

    n = sub.add_parser("info", help="show what a checkpoint holds")
    n.add_argument("checkpoint", type=Path)

    x = sub.add_parser("export", help="copy a checkpoint, optionally in half precision (to ship it)")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("output", type=Path)
    x.add_argument("--half", action="store_true", help="store network weights as float16")

    from engine.service import commands as service_commands
    from engine.train import commands as train_commands

    service_commands.add_commands(sub)
    train_commands.add_commands(sub)

    d = sub.add_parser("demo", help="render every task on a synthetic clip")
    d.add_argument("--out-dir", type=Path, default=Path("renders/demo"))
    d.add_argument("--seed", type=int, default=0)
    add_render_settings(d)
    return parser


def render_settings(args: argparse.Namespace):
    from engine.pipeline import RenderSettings

    names = ("sampler", "steps", "eta", "griffin_lim_iters", "crossfade", "context_seconds",
             "jump_length", "resample", "prompt", "guidance")
    return RenderSettings(**{k: getattr(args, k) for k in names if getattr(args, k) is not None})


class ProgressSink:
    """Terminal progress bar and/or a progress file rewritten atomically (throttled)."""

    def __init__(self, path: Path | None, bar: bool) -> None:
        from tqdm import tqdm

        self.path, self.last = path, 0.0
        self.bar = tqdm(total=100, unit="%", file=sys.stderr, leave=False) if bar else None

    def __call__(self, fraction: float, stage: str) -> None:
        if self.bar is not None:
            self.bar.set_description(stage)
            self.bar.update(round(100 * fraction) - self.bar.n)
        now = time.monotonic()
        if self.path is not None and (now - self.last > 0.1 or fraction >= 1):
            self.last = now
            self.write(f"{fraction:.4f} {stage}")

    def write(self, line: str) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(line + "\n")
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def output_paths(output: Path, count: int) -> list[Path]:
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-v{k + 1}{output.suffix}") for k in range(count)]


def render(args: argparse.Namespace) -> dict[str, Any]:
    from engine.pipeline import Pipeline

    task = TASK_NAMES[args.task]
    settings = render_settings(args)
    paths = output_paths(args.output, args.variations if task == "generate" else 1)
    for path in paths:  # refuse before spending minutes on a render
        refuse_existing(path)
    params: dict[str, Any] = {"seed": args.seed, "settings": settings}
    if task == "generate":
        params.update(seconds=args.seconds, channels=args.channels, sample_rate=args.sample_rate,
                      n_variations=args.variations)
    else:
        if args.input is None:
            raise AudioFileError(f"--input is needed for {args.task}")
        audio, rate = read_audio(args.input, args.offset, args.length)
        params.update(audio=audio, sample_rate=rate)
    if task == "interpolate":
        if args.input_b is None:
            raise AudioFileError("--input-b is needed for interpolate")
        b, rate_b = read_audio(args.input_b)
        params.update(a=params.pop("audio"), b=b, sample_rate_b=rate_b)
    optional = {"style_transfer": ("strength",), "interpolate": ("ratio", "strength"),
                "inpaint": ("mode",), "outpaint": ("seconds", "direction", "mode")}
    for name in optional.get(task, ()):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if task == "inpaint":
        params["regions"] = args.region
    sink = ProgressSink(args.progress_file, bar=not args.quiet and sys.stderr.isatty())
    try:
        pipeline = Pipeline.from_checkpoint(args.checkpoint, device=args.device)
        renders = pipeline.run(task, progress=sink, **params)
        written = [write_audio(path, r.audio, r.sample_rate) for path, r in zip(paths, renders)]
    except BaseException:
        sink.write("error")
        raise
    finally:
        sink.close()
    return {"ok": True, "task": task, "outputs": [
        {"path": str(path.resolve()), "seconds": round(r.seconds, 6), "seed": r.seed,
         "sample_rate": r.sample_rate, "channels": r.audio.shape[0]}
        for path, r in zip(written, renders)]}


def init(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from engine.checkpoint import save_checkpoint
    from engine.model import ModelConfig, MsaniiModel

    refuse_existing(args.output)
    torch.manual_seed(args.seed)
    model = MsaniiModel(ModelConfig.preset(args.preset))
    save_checkpoint(model, args.output, info={"preset": args.preset, "seed": args.seed})
    return {"ok": True, "checkpoint": str(args.output), "parameters": sum(p.numel() for p in model.parameters())}


def info(args: argparse.Namespace) -> dict[str, Any]:
    from engine.checkpoint import read_metadata

    return {"ok": True, **read_metadata(args.checkpoint)}


def export(args: argparse.Namespace) -> dict[str, Any]:
    from engine.checkpoint import load_checkpoint, save_checkpoint

    refuse_existing(args.output)
    model, meta = load_checkpoint(args.checkpoint)
    save_checkpoint(model, args.output, trained=meta["trained"], info=meta["info"], half=args.half)
    return {"ok": True, "checkpoint": str(args.output), "bytes": args.output.stat().st_size}


def main(argv: Sequence[str] | None = None) -> int:
    import zmq

    from engine.errors import Cancelled, EngineError
    from engine.service.security import SecurityError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    commands = {"render": render, "init": init, "info": info, "export": export}
    try:
        if args.command == "demo":
            from engine.demo import run_demo

            return run_demo(args, render_settings(args))
        handler = getattr(args, "handler", None) or commands[args.command]
        result = handler(args)
    except Cancelled as exc:
        return fail("cancelled", str(exc), EXIT_CANCELLED)
    except KeyboardInterrupt:
        return fail("cancelled", "interrupted", EXIT_CANCELLED)
    except (EngineError, AudioFileError) as exc:
        return fail(exc.code, str(exc), EXIT_BAD_INPUT)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:  # e.g. no manifest
        return fail("bad_input", str(exc), EXIT_BAD_INPUT)
    except SecurityError as exc:
        return fail(exc.code, str(exc), EXIT_BAD_INPUT)
    except zmq.ZMQError as exc:  # e.g. address already in use
        return fail("socket", f"{exc} ({getattr(args, 'bind', '')})", EXIT_SOCKET)
    except Exception as exc:  # a failure we did not foresee: still one clear line
        log.debug("render failed", exc_info=True)
        return fail("failed", f"{type(exc).__name__}: {exc}", EXIT_FAILED)
    print(json.dumps(result), flush=True)
    return EXIT_OK


def fail(code: str, message: str, status: int) -> int:
    print(json.dumps({"ok": False, "code": code, "message": message}), flush=True)
    print(f"daw-diffusion: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
