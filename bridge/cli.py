"""`daw-diffusion` command line: the model's commands (init, info, export), the bridge's (render,
bridge, serve, doctor, demo), the service's (engine, cluster, broker, keys) and training's (prepare-data,
train, evaluate). Each command's module adds its own parser; torch loads only in the handlers
that need it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from bridge.audiofile import write_text_atomic
from bridge.errors import BridgeError
from bridge.render import EXIT, exit_code

log = logging.getLogger("daw-diffusion")


class Parser(argparse.ArgumentParser):
    """Argument errors end like every other exit: one JSON line on stdout (a REAPER script
    parses it), code `bad_arguments`, exit 2, and a one-line hint on stderr, not the usage page."""

    def error(self, message: str) -> NoReturn:
        emit({"ok": False, "code": "bad_arguments", "message": message})
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT["bad_input"])


ABOUT = """Edit music with a diffusion model from your DAW: fill a gap, extend a clip, re-imagine it
(style transfer), vary a loop, blend two clips or make something new. Start it once with
`daw-diffusion serve` (the engine and the OSC bridge, with the bundled model), then work from
REAPER, Max, Max for Live, Pure Data or a MIDI controller, or run one edit here with `render`."""


def examples() -> str:
    from engine.tasks import TASKS  # torch-free: the task table

    named = "; ".join(t.name + (f" (also {', '.join(t.aliases)})" if t.aliases else "") for t in TASKS.values())
    return f"""examples:
  daw-diffusion serve
  daw-diffusion render --task inpaint --input take.wav --region 4:5 --output fixed.wav
  daw-diffusion render --task extend --input loop.wav --bars 2 --bpm 120 --output longer.flac
  daw-diffusion render --task style --input take.wav --strength 0.4 --output styled.wav

tasks: {named}.
`daw-diffusion render --help` lists every option with its unit and default; results are new
files, never written over anything."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="daw-diffusion", description=ABOUT, epilog=examples(),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the command does")
    sub = parser.add_subparsers(dest="command", required=True)

    from bridge import commands as bridge_commands
    from bridge import demo, install, status
    from engine import commands as model_commands
    from engine.service import commands as service_commands
    from engine.train import commands as train_commands

    model_commands.add_commands(sub)
    bridge_commands.add_commands(sub)
    service_commands.add_commands(sub)
    train_commands.add_commands(sub)
    demo.add_command(sub)
    status.add_command(sub)
    install.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import zmq

    from engine.errors import EngineError, JobCancelled
    from engine.service.security import SecurityError

    args = build_parser().parse_args(argv)
    result_file = getattr(args, "result_file", None)
    if result_file is not None and (result_file.exists() or result_file.is_symlink()):  # someone's file: left alone
        return fail("bad_file", f"--result-file {result_file}: a file of that name exists; give a new name (a "
                                "render never replaces a file)", EXIT["bad_input"])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        result = args.handler(args)
    except BridgeError as exc:  # a job's error, or an unreadable or unwritable file
        return fail(exc.code, str(exc), exit_code(exc.code), result_file)
    except JobCancelled as exc:
        return fail("cancelled", str(exc), EXIT["cancelled"], result_file)
    except KeyboardInterrupt:
        return fail("cancelled", "interrupted", EXIT["cancelled"], result_file)
    except EngineError as exc:
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
