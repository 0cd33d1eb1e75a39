"""Where models live: one folder of the user's (`DAW_DIFFUSION_MODELS`, or `--models-dir`; by
default the platform's place for an application's data), one checkpoint per model as
`NAME.safetensors`, and a `default` file naming the one the engine loads when told none. The
bundled model is always there as `bundled`, and cannot be removed. A checkpoint of the reference
Msanii code (the authors' released `msanii.pt`) is converted once on import (`engine.importer`).

A model is named wherever a model is chosen (`--model NAME`, or a path to a file), and every
render and `status` reports the name of the model that made it. Imports are checked (the file is
loaded whole, as the engine would) before anything is written, and written atomically: a
half-copied model is never there under its name, and a name never changes its model."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from engine.errors import CheckpointError

BUNDLED = "bundled"
BUNDLED_PATH = Path(__file__).parent / "models" / "default.safetensors"
SUFFIX = ".safetensors"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def add_model_options(parser: argparse.ArgumentParser, what: str = "model to load") -> None:
    parser.add_argument("--model", "--checkpoint", dest="model", metavar="NAME|FILE",
                        help=f"{what}: a name from `daw-diffusion models list`, or a checkpoint file "
                             "(default: the default model, `bundled` until you choose another)")
    parser.add_argument("--models-dir", type=Path, help="where models live (default: $DAW_DIFFUSION_MODELS, "
                                                        "else the platform's folder for application data)")


def chosen(args: argparse.Namespace) -> Path | None:
    """The checkpoint file `--model` and `--models-dir` name; None for the bundled model, which
    each process (each node of a cluster) finds in its own installation."""
    path, name = ModelStore(args.models_dir).resolve(args.model)
    return None if name == BUNDLED else path


def models_dir() -> Path:
    """`DAW_DIFFUSION_MODELS`, else the platform's folder for an application's data."""
    if os.environ.get("DAW_DIFFUSION_MODELS"):
        return Path(os.environ["DAW_DIFFUSION_MODELS"]).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "daw-diffusion" / "models"


def prepared(source: Path) -> Callable[[Path], Any]:
    """What writes `source` into the folder, once it is known to load: a copy of a checkpoint, or
    the conversion of a Msanii reference checkpoint (`engine.importer`)."""
    from engine.checkpoint import is_pickle, load_checkpoint, save_checkpoint
    from engine.importer import convert

    if is_pickle(source):
        model, info = convert(source)
        return lambda path: save_checkpoint(model, path, trained={"unet": True, "magnitude": True}, info=info)
    load_checkpoint(source)
    return lambda path: shutil.copyfile(source, path)


class ModelStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or models_dir()

    def names(self) -> list[str]:
        found = sorted(p.name[:-len(SUFFIX)] for p in self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []
        return [BUNDLED, *(n for n in found if n != BUNDLED)]

    def path(self, name: str) -> Path:
        """The file of model `name`."""
        if name == BUNDLED:
            return BUNDLED_PATH
        path = self.folder / f"{name}{SUFFIX}"
        if not NAME.fullmatch(name) or not path.is_file():
            raise CheckpointError(f"no model named {name!r} in {self.folder} (models: {', '.join(self.names())}); "
                                  "`daw-diffusion models import FILE --name NAME` adds one")
        return path

    def resolve(self, choice: str | Path | None) -> tuple[Path, str]:
        """(file, name) of what `--model` says: a name here, a checkpoint's path, or (None) the
        default model."""
        if choice is None:
            choice = self.default()
        text = str(choice)
        if NAME.fullmatch(text) and not text.endswith(SUFFIX) and (text in self.names() or not Path(text).is_file()):
            return self.path(text), text
        path = Path(text).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: no such model file, and no model of that name "
                                  f"(models: {', '.join(self.names())})")
        return path, BUNDLED if path.resolve() == BUNDLED_PATH.resolve() else path.stem

    def default(self) -> str:
        """The model the engine loads when told none: the `default` file's, if it still names one."""
        marker = self.folder / "default"
        name = marker.read_text().strip() if marker.is_file() else BUNDLED
        return name if name in self.names() else BUNDLED

    def describe(self, name: str) -> dict[str, Any]:
        """What a musician asks of a model: its kind, size, rate and hop, what it learned from."""
        from engine.checkpoint import read_metadata

        path = self.path(name)
        meta = read_metadata(path)
        spectral, info = meta["config"].get("spectral", {}), meta["info"]
        diffusion = info.get("diffusion", {})
        return {"name": name, "kind": meta["kind"], "file": str(path), "bytes": path.stat().st_size,
                "sample_rate": spectral.get("sample_rate", 44_100), "hop": spectral.get("hop_length"),
                "trained_on": diffusion.get("data") or info.get("trained_on", ""),
                "steps": diffusion.get("steps"), "default": name == self.default(),
                **{key: info[key] for key in ("imported_from", "sha256") if key in info}}

    def add(self, source: Path, name: str | None = None) -> dict[str, Any]:
        """Copy checkpoint `source` in as `name` (default: its file's stem), once it loads; a Msanii
        reference checkpoint is converted."""
        name = name or source.stem
        if not NAME.fullmatch(name) or name.endswith(SUFFIX):
            raise CheckpointError(f"{name!r} cannot name a model: letters, digits, '.', '_' and '-', "
                                  "at most 64, starting with a letter or digit")
        if name in self.names():
            raise CheckpointError(f"a model named {name!r} exists ({self.path(name)}); remove it first or "
                                  "choose another --name")
        write = prepared(source)  # every failure names the file; nothing is written before this
        target = self.folder / f"{name}{SUFFIX}"
        partial = self.folder / f".{name}{SUFFIX}.partial-{os.getpid()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write(partial)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise CheckpointError(f"{self.folder}: cannot store the model there ({exc.strerror or exc}); "
                                  "set DAW_DIFFUSION_MODELS or --models-dir to another folder") from None
        try:
            os.link(partial, target)  # fails if another import took the name meanwhile: never replaces
        except FileExistsError:
            raise CheckpointError(f"a model named {name!r} exists ({target}); remove it first or choose "
                                  "another --name") from None
        except OSError as exc:
            raise CheckpointError(f"{self.folder}: cannot store the model there ({exc.strerror or exc})") from None
        finally:
            partial.unlink(missing_ok=True)
        return self.describe(name)

    def set_default(self, name: str) -> None:
        self.path(name)  # it exists
        self.write(self.folder / "default", name + "\n")

    def remove(self, name: str) -> Path:
        if name == BUNDLED:
            raise CheckpointError("the bundled model cannot be removed (it is part of daw-diffusion)")
        path = self.path(name)
        try:
            if self.default() == name:
                (self.folder / "default").unlink()  # back to the bundled model
            path.unlink()
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot remove it ({exc.strerror or exc})") from None
        return path

    def write(self, path: Path, text: str) -> None:
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_text(text)
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise CheckpointError(f"{self.folder}: cannot write there ({exc.strerror or exc})") from None
