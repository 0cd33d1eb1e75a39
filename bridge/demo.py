"""`daw-diffusion demo`: its command line. The demo runs the model in this process
(`engine.demo`, loaded only when the command runs; the bridge itself never loads torch)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bridge.render import SETTING_FLAGS, add_settings
from engine.store import add_model_options, chosen


def add_command(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="render every task on a synthetic clip")
    d.add_argument("--out-dir", type=Path, default=Path("renders/demo"))
    d.add_argument("--seed", type=int, default=0)
    add_model_options(d)
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    add_settings(d)
    d.set_defaults(handler=demo)


def demo(args: argparse.Namespace) -> dict[str, Any]:
    from engine.demo import run_demo
    from engine.settings import RenderSettings

    settings = RenderSettings(**{k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k) is not None})
    return run_demo(args.out_dir, settings, chosen(args), args.device, args.seed)
