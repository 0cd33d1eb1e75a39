"""`daw-diffusion status`: is the engine there, does it speak this protocol, what model and queue
does it have? One JSON line, as `render` prints, for a front end to show (REAPER's Status action)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bridge.jobs import JobError
from bridge.render import add_engine_options, engine_client
from engine.client import EngineClient, EngineUnreachable
from engine.protocol import VERSION

START_HINT = "start it with `daw-diffusion serve` (or check the engine endpoint)"


def add_command(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("status", help="the engine's state in one JSON line: version, model, device, queue")
    s.add_argument("--result-file", type=Path, help="also write the JSON line here (atomically)")
    add_engine_options(s)
    s.set_defaults(handler=status)


def status(args: argparse.Namespace) -> dict[str, Any]:
    return {"ok": True, **check_engine(engine_client(args), args.engine)}


def check_engine(client: EngineClient, endpoint: str) -> dict[str, Any]:
    """The engine's state, or a JobError when it does not answer or speaks another protocol."""
    try:
        header = client.status()
    except EngineUnreachable as exc:
        raise JobError("unreachable", f"the engine at {endpoint} is not answering ({exc}); {START_HINT}") from None
    if header.get("protocol") != VERSION:
        raise JobError("bad_version", f"the engine at {endpoint} speaks protocol {header.get('protocol')!r}, this "
                                      f"daw-diffusion {VERSION!r}: install the same version of both")
    queue, model = header.get("queue"), header.get("model") or {}
    if not isinstance(queue, dict):  # a broker: its own queue, and no one model
        queue = {"queued": queue, "running": header.get("running")}
    return {"engine": endpoint, "version": header.get("version"), "protocol": VERSION,
            "model": model.get("name"), "device": header.get("device"), "queued": queue.get("queued"),
            "running": queue.get("running"), "capacity": queue.get("capacity")}


def summary(state: dict[str, Any]) -> str:
    """One line for a job window: what runs the job and what is ahead of it."""
    runs = " on ".join(str(state[k]) for k in ("model", "device") if state.get(k) is not None)
    of = f" (of {state['capacity']})" if state.get("capacity") is not None else ""
    return (f"engine {state['version']}{', model ' + runs if runs else ''}; "
            f"{state['queued']} queued{of}, {state['running']} running")
