"""`daw-diffusion status`: is the engine there, does it speak this protocol, what model and queue
does it have? One JSON line, as `render` prints, for a front end to show (REAPER's Status action)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bridge.jobs import check_engine
from bridge.render import add_engine_options, engine_client


def add_command(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("status", help="the engine's state in one JSON line: version, model, device, queue")
    s.add_argument("--result-file", type=Path, help="also write the JSON line here (atomically)")
    add_engine_options(s)
    s.set_defaults(handler=status)


def status(args: argparse.Namespace) -> dict[str, Any]:
    return {"ok": True, **check_engine(engine_client(args), args.engine)}
