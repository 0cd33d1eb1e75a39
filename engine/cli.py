"""`daw-diffusion` command line: init (a fresh checkpoint), info and export (checkpoints), demo
(every task on a synthetic clip), plus the bridge's commands (render, bridge, serve, doctor),
the service's (engine, broker, keys) and training's (prepare-data, train, evaluate)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from bridge.audiofile import AudioFileError, refuse_existing, write_text_atomic
from bridge.jobs import JobError
from bridge.render import EXIT, SETTINGS, add_settings, exit_code

log = logging.getLogger("daw-diffusion")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="model file (default: the bundled model)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daw-diffusion", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    i = sub.add_parser("init", help="write a freshly initialised (untrained) checkpoint")
    i.add_argument("output", type=Path)
    i.add_argument("--preset", default="real", help="real (the default model's), real-large (for a GPU), cpu, gpu, tiny, tiny-context")
    i.add_argument("--seed", type=int, default=0)

    n = sub.add_parser("info", help="show what a checkpoint holds")
    n.add_argument("checkpoint", type=Path)

    x = sub.add_parser("export", help="copy a checkpoint, optionally in half precision (to ship it)")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("output", type=Path)
    x.add_argument("--half", action="store_true", help="store network weights as float16")
    x.add_argument("--default", action="append", default=[], metavar="SETTING=VALUE",
                   help="a render setting this model should use unless told otherwise, e.g. context_seconds=3")

    from bridge import commands as bridge_commands
    from engine.service import commands as service_commands
    from engine.train import commands as train_commands

    bridge_commands.add_commands(sub)
    service_commands.add_commands(sub)
    train_commands.add_commands(sub)

    d = sub.add_parser("demo", help="render every task on a synthetic clip")
    d.add_argument("--out-dir", type=Path, default=Path("renders/demo"))
    d.add_argument("--seed", type=int, default=0)
    add_settings(d)
    add_model_options(d)
    return parser


def render_settings(args: argparse.Namespace):
    from engine.pipeline import RenderSettings

    return RenderSettings(**{k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None})


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
    from engine.errors import BadParameter
    from engine.pipeline import RenderSettings

    refuse_existing(args.output)
    model, meta = load_checkpoint(args.checkpoint)
    info = dict(meta["info"])
    if args.default:
        defaults = dict(info.get("render_defaults", {}))
        for item in args.default:
            name, _, value = item.partition("=")
            defaults[name] = json.loads(value) if value[:1].isdigit() or value[:1] in "-[{" else value
        try:
            RenderSettings(**defaults)  # refuse what the engine would refuse
        except TypeError as exc:
            raise BadParameter(f"--default: {exc}") from None
        info["render_defaults"] = defaults
    save_checkpoint(model, args.output, trained=meta["trained"], info=info, half=args.half)
    return {"ok": True, "checkpoint": str(args.output), "bytes": args.output.stat().st_size}


def main(argv: Sequence[str] | None = None) -> int:
    import zmq

    from engine.errors import Cancelled, EngineError
    from engine.service.security import SecurityError

    args = build_parser().parse_args(argv)
    result_file = getattr(args, "result_file", None)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    commands = {"init": init, "info": info, "export": export}
    try:
        if args.command == "demo":
            from engine.demo import run_demo

            return run_demo(args, render_settings(args))
        handler = getattr(args, "handler", None) or commands[args.command]
        result = handler(args)
    except JobError as exc:
        return fail(exc.code, str(exc), exit_code(exc.code), result_file)
    except Cancelled as exc:
        return fail("cancelled", str(exc), EXIT["cancelled"], result_file)
    except KeyboardInterrupt:
        return fail("cancelled", "interrupted", EXIT["cancelled"], result_file)
    except (EngineError, AudioFileError) as exc:
        return fail(exc.code, str(exc), EXIT["bad_input"], result_file)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:  # e.g. no manifest
        return fail("bad_input", str(exc), EXIT["bad_input"], result_file)
    except SecurityError as exc:
        return fail(exc.code, str(exc), EXIT["bad_input"], result_file)
    except zmq.ZMQError as exc:  # e.g. address already in use
        return fail("socket", f"{exc} ({getattr(args, 'bind', '')})", EXIT["unreachable"], result_file)
    except Exception as exc:  # a failure we did not foresee: still one clear line
        log.debug("render failed", exc_info=True)
        return fail("failed", f"{type(exc).__name__}: {exc}", EXIT["failed"], result_file)
    emit(result, result_file)
    return EXIT["ok"]


def emit(result: dict[str, Any], result_file: Path | None = None) -> None:
    """The one JSON line: on stdout, and (atomically) in `--result-file` for scripts that poll."""
    line = json.dumps(result)
    print(line, flush=True)
    if result_file is not None:
        write_text_atomic(result_file, line + "\n")


def fail(code: str, message: str, status: int, result_file: Path | None = None) -> int:
    emit({"ok": False, "code": code, "message": message}, result_file)
    print(f"daw-diffusion: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
