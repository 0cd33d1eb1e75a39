"""`daw-diffusion render`: one task on a slice of a file, through the engine service; what REAPER
scripts run. Prints one JSON line; the exit code says how it ended (see `EXIT`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from bridge.audiofile import SUBTYPES, write_text_atomic
from bridge.events import Accepted, Cancelled, Done, Event, Failed, Progress
from bridge.jobs import JobError, Jobs, Request, Source, check_engine, summary
from bridge.store import RenderStore
from engine.client import CurveKeys, EngineClient
from engine.protocol import ProtocolError, check_text
from engine.settings import SETTINGS as RENDER_SETTINGS
from engine.tasks import NAMES, REQUIRED, TASKS, parameters, task_named

# exit codes, distinct so that scripts can tell what happened
EXIT = {"ok": 0, "failed": 1, "bad_input": 2, "unreachable": 3, "cancelled": 4, "busy": 5}
CODE_EXITS = {"failed": 1, "engine_lost": 1, "problems": 1, "unreachable": 3, "shutting_down": 3,
              "port_in_use": 3, "cancelled": 4, "busy": 5}  # every other code is bad input (2)
SETTING_FLAGS = tuple(RENDER_SETTINGS)  # the settings table's names, each a flag (`Param.key`)
METAVARS = {int: "N", float: "X", str: "TEXT"}
INPUT_FLAGS = (("input", "offset", "length"), ("input_b", "offset_b", "length_b"))  # a task's audio inputs, in order


def exit_code(code: str) -> int:
    return CODE_EXITS.get(code, EXIT["bad_input"])


def parse_region(text: str) -> tuple[float, float]:
    try:
        start, end = text.split(":")
        return float(start), float(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a region is START:END in seconds, not {text!r}") from None


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_task_parameters(parser: argparse.ArgumentParser) -> None:
    """One flag per parameter of the task table, its help saying which tasks take it."""
    g = parser.add_argument_group("task parameters (each task takes those named for it)")
    for entries in parameters().values():
        p = entries[0][1]
        helps: dict[str, list[str]] = {}
        for task, entry in entries:
            helps.setdefault(entry.describe(), []).append(task.name)
        text = "; ".join(f"{'/'.join(tasks)}: {h}" for h, tasks in helps.items())
        if p.kind is list:
            g.add_argument(flag(p.key), dest=p.key, type=parse_region, action="append", help=f"{text}: START:END, repeatable")
        else:
            g.add_argument(flag(p.key), dest=p.key, type=p.kind, choices=p.choices or None, help=text)


def add_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per row of the settings table."""
    g = parser.add_argument_group("rendering (the defaults shown are the engine's; a model may bring its own)")
    for p in RENDER_SETTINGS.values():
        g.add_argument(flag(p.key), dest=p.name, type=p.kind, choices=p.choices or None, help=p.describe(),
                       metavar=None if p.choices else "SECONDS" if p.unit == "s" else METAVARS[p.kind])


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine connection")
    g.add_argument("--engine", default="tcp://127.0.0.1:5557", help="the engine's (or broker's) endpoint")
    g.add_argument("--timeout", type=float, default=10.0, help="seconds of silence before the engine counts as gone")
    g.add_argument("--curve-server-key", type=Path, help="the engine's public key file (remote engines)")
    g.add_argument("--curve-secret", type=Path, help="this client's secret key file (remote engines)")


def engine_client(args: argparse.Namespace) -> EngineClient:
    curve = None
    if args.curve_server_key or args.curve_secret:
        if not (args.curve_server_key and args.curve_secret):
            raise JobError("bad_arguments", "CURVE needs both --curve-server-key and --curve-secret")
        curve = CurveKeys.from_files(args.curve_server_key, args.curve_secret)
    return EngineClient(args.engine, timeout=args.timeout, retries=1, curve=curve)


def add_command(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("render", help="run one task on audio files through the engine, write a new WAV")
    r.add_argument("--task", required=True, choices=sorted(NAMES))
    for k, (path, offset, length) in enumerate(INPUT_FLAGS):  # each task's inputs, by position
        takers = ", ".join(f"{t.name}: {t.inputs[k]}" for t in TASKS.values() if len(t.inputs) > k)
        r.add_argument(flag(path), type=Path, help=f"audio file ({takers})")
        r.add_argument(flag(offset), type=float, default=0.0, help=f"seconds into {flag(path)} to start reading")
        r.add_argument(flag(length), type=float, help=f"seconds of {flag(path)} to read (default: to the end)")
    out = r.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", type=Path, help="new audio file, never overwritten; its extension picks the format "
                                                 "(.wav, .flac, .aif, .aiff, .ogg)")
    out.add_argument("--out-dir", type=Path, help="folder for a new, uniquely named WAV (time_task_tag.wav)")
    r.add_argument("--subtype", choices=SUBTYPES, type=str.upper,
                   help="sample format of the result: FLOAT (32-bit), PCM_24 or PCM_16 (default: the source's, "
                        "else float; FLAC 24-bit, OGG Vorbis)")
    r.add_argument("--tag", default="", help="names the result in --out-dir")
    r.add_argument("--model", metavar="NAME", help="the model the take must come from: refused, before any audio is "
                                                   "sent, when the engine runs another (default: whichever it runs)")
    add_task_parameters(r)
    r.add_argument("--seed", type=int)
    r.add_argument("--progress-file", type=Path, help="keep 'fraction stage' up to date in this file")
    r.add_argument("--cancel-file", type=Path, help="cancel the job as soon as this file exists")
    r.add_argument("--result-file", type=Path, help="also write the JSON result line here (atomically, at the end)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings(r)
    add_engine_options(r)
    r.set_defaults(handler=render)


def check_arguments_text(args: argparse.Namespace) -> None:
    """Text that travels to the engine (a prompt, a sampler name) must be what the engine
    accepts (`engine.protocol.check_text`: bytes that are not valid Unicode reach Python as
    lone surrogates). File names stay here and may be any bytes the file system allows."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                check_text(value)
            except ProtocolError:
                shown = value.encode("utf-8", "backslashreplace").decode()[:80]
                raise JobError("bad_arguments", f"--{name.replace('_', '-')} is not valid text ({shown})") from None


def request_from(args: argparse.Namespace) -> Request:
    check_arguments_text(args)
    task = task_named(args.task)
    takes = {p.key for p in task.params}
    every = sorted({p.key for entries in parameters().values() for _, p in entries})
    unused = [flag(key) for key in every if key not in takes and getattr(args, key, None) is not None]
    unused += [flag(name) for names in INPUT_FLAGS[len(task.inputs):] for name in names
               if getattr(args, name) not in (None, 0.0)]
    if unused:
        what = ", ".join(flag(k) for k in sorted(takes)) or "no task parameters"
        raise JobError("bad_arguments", f"{task.name} does not use {', '.join(unused)} (it takes {what}); "
                                        "leave them out")
    params = {k: getattr(args, k) for k in ("seed", *SETTING_FLAGS) if getattr(args, k) is not None}
    for p in task.params:
        value = getattr(args, p.key)
        if value is None and p.default is REQUIRED:
            raise JobError("bad_arguments", f"{args.task} needs {'at least one ' if p.kind is list else ''}{flag(p.key)}")
        if value is not None:
            params[p.name] = [list(v) for v in value] if p.kind is list else value
    names = {p.name for p in task.params}
    if {"seconds", "bars"} <= names and "seconds" in params and "bars" in params:
        raise JobError("bad_arguments", f"{args.task} takes its length once: --seconds or --bars, not both")
    if {"seconds", "bars"} <= names and "seconds" not in params and "bars" not in params:
        raise JobError("bad_arguments", f"{args.task} needs its length: --seconds or --bars (one of the two)")
    sources = []
    for (path, offset, length), name in zip(INPUT_FLAGS, task.inputs):
        if getattr(args, path) is None:
            raise JobError("bad_arguments", f"{flag(path)} is needed for {args.task} (its {name})")
        sources.append(Source(getattr(args, path), getattr(args, offset), getattr(args, length)))
    return Request(task.name, params, tuple(sources), tag=args.tag, out_dir=args.out_dir, output=args.output,
                   subtype=args.subtype)


# each event as the progress file's line: "fraction stage", "1.0000 done" or "error code"
PROGRESS_LINES: dict[type, Callable[[Any], str]] = {
    Accepted: lambda e: "0.0000 queued", Progress: lambda e: f"{e.fraction:.4f} {e.stage}",
    Done: lambda e: "1.0000 done", Cancelled: lambda e: "error cancelled", Failed: lambda e: f"error {e.code}"}


class ProgressSink:
    """Terminal progress bar and/or a progress file rewritten atomically (progress throttled);
    its second line says which engine runs the job (`about`)."""

    def __init__(self, path: Path | None, bar: bool, about: str = "") -> None:
        from tqdm import tqdm

        self.path, self.last, self.about = path, 0.0, about
        self.bar = tqdm(total=100, unit="%", file=sys.stderr, leave=False) if bar else None

    def __call__(self, event: Event) -> None:
        if self.bar is not None and isinstance(event, (Accepted, Progress)):
            fraction, stage = (event.fraction, event.stage) if isinstance(event, Progress) else (0.0, "queued")
            self.bar.set_description(stage)
            self.bar.update(round(100 * fraction) - self.bar.n)
        now = time.monotonic()
        if isinstance(event, Progress) and event.fraction < 1 and now - self.last <= 0.1:
            return
        self.last = now
        self.write(PROGRESS_LINES[type(event)](event))

    def write(self, line: str) -> None:
        if self.path is None:
            return
        write_text_atomic(self.path, line + "\n" + (self.about + "\n" if self.about else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def watch_for_cancel(jobs: Jobs, tag: str, cancel_file: Path | None, done: threading.Event) -> None:
    """SIGINT/SIGTERM and the cancel file ask the engine to stop the job (exit code 4)."""
    def on_signal(signum: int, _frame: Any) -> None:
        threading.Thread(target=jobs.cancel, args=(tag,), daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    if cancel_file is not None:
        def poll() -> None:
            while not done.wait(0.1):
                if cancel_file.exists():
                    jobs.cancel(tag)
                    return
        threading.Thread(target=poll, daemon=True).start()


def check_local_files(args: argparse.Namespace) -> None:
    """The files this command keeps up to date must be new and writable before a job is
    submitted: a render whose progress cannot be reported is refused, not run for nobody, and a
    file someone already has is never replaced."""
    for flag_name in ("progress_file", "result_file"):
        path = getattr(args, flag_name)
        if path is None:
            continue
        flag = f"--{flag_name.replace('_', '-')}"
        if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise JobError("bad_file", f"{flag} {path}: cannot be written there "
                                       "(a folder that does not exist or is not writable, or a folder's name)")
        if path.exists() or path.is_symlink():  # (the result file is checked first, in bridge.cli)
            raise JobError("bad_file", f"{flag} {path}: a file of that name exists; give a new name (a render "
                                       "never replaces a file)")


def render(args: argparse.Namespace) -> dict[str, Any]:
    request = request_from(args)
    check_local_files(args)
    client = engine_client(args)
    state = check_engine(client, args.engine)  # before any audio goes: there, and speaking our protocol
    if args.model and state["model"] != args.model:
        raise JobError("wrong_model", f"the engine at {args.engine} runs model {state['model']!r}, not {args.model!r}; "
                                      f"start one on it: daw-diffusion serve --model {args.model}")
    engine = summary(state)
    jobs = Jobs(client, RenderStore(args.out_dir or Path.cwd()))
    sink = ProgressSink(args.progress_file, bar=not args.quiet and sys.stderr.isatty(), about=engine)
    done = threading.Event()
    watch_for_cancel(jobs, request.tag, args.cancel_file, done)
    try:
        outcome = jobs.run(request, sink)  # the sink hears how it ended, too
    finally:
        done.set()
        sink.close()
    return {"ok": True, "task": request.task, "job": outcome.job, "compute_seconds": round(outcome.compute_seconds, 4),
            "outputs": [{"path": str(r.path), "seconds": round(r.clip.seconds, 6), "frames": r.clip.frames, "seed": r.seed,
                         "sample_rate": r.clip.rate, "channels": r.clip.channels, **r.info} for r in outcome.renders]}
