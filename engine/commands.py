"""Command-line entry points for checkpoints: init (a fresh model), info, export, and the
models folder (`models list|info|import|default|remove`, `engine.store`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.errors import BadParameter, EngineError


def add_commands(sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("init", help="write a freshly initialised (untrained) checkpoint")
    i.add_argument("output", type=Path)
    i.add_argument("--preset", default="real",
                   help="real (the default model's), real-large (for a GPU), cpu, gpu, tiny, tiny-context")
    i.add_argument("--seed", type=int, default=0)
    i.set_defaults(handler=init)

    n = sub.add_parser("info", help="show what a checkpoint holds")
    n.add_argument("checkpoint", type=Path)
    n.set_defaults(handler=info)

    x = sub.add_parser("export", help="copy a checkpoint, optionally in half precision (to ship it)")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("output", type=Path)
    x.add_argument("--half", action="store_true", help="store network weights as float16")
    x.add_argument("--default", action="append", default=[], metavar="SETTING=VALUE",
                   help="a render setting this model should use unless told otherwise, e.g. context_seconds=3")
    x.set_defaults(handler=export)

    m = sub.add_parser("models", help="the models you have: list, info, import, default, remove")
    m.add_argument("--models-dir", type=Path, help="where models live (default: $DAW_DIFFUSION_MODELS, else the "
                                                   "platform's folder for application data)")
    verbs = m.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="every model: name, kind, size, rate and hop, what it learned from")
    for verb, helps in (("info", "one model in full"), ("default", "the model the engine loads when told none"),
                        ("remove", "delete a model you imported")):
        verbs.add_parser(verb, help=helps).add_argument("name")
    imp = verbs.add_parser("import", help="add a checkpoint, or convert a Msanii reference .pt such as the authors' "
                                          "msanii.pt (checked whole before anything is written)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", help="its name here (default: the file's name)")
    m.set_defaults(handler=models)


def refuse_existing(path: Path) -> None:
    if path.exists():
        raise BadParameter(f"{path}: already exists; daw-diffusion never overwrites files")


def models(args: argparse.Namespace) -> dict[str, Any]:
    from engine.store import ModelStore

    store = ModelStore(args.models_dir)
    if args.verb == "list":
        return {"ok": True, "folder": str(store.folder), "models": [described(store, n) for n in store.names()]}
    if args.verb == "import":
        return {"ok": True, "imported": store.add(args.file, args.name)}
    if args.verb == "default":
        store.set_default(args.name)
        return {"ok": True, "default": args.name}
    if args.verb == "remove":
        return {"ok": True, "removed": str(store.remove(args.name))}
    return {"ok": True, **store.describe(args.name)}


def described(store: Any, name: str) -> dict[str, Any]:
    """A model for the list; one that cannot be read is listed with why, not hidden, never fatal."""
    try:
        return store.describe(name)
    except EngineError as exc:
        return {"name": name, "error": str(exc)}


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
    from engine.settings import RenderSettings

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
