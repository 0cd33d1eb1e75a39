"""One checkpoint format: a single safetensors file whose metadata holds the format name and
version, the model's kind (`engine.kind.KINDS`; "msanii" when a file names none), its config
(JSON) and what has been trained. Every failure names the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine.errors import CheckpointError
from engine.kind import kind_class
from engine.model import RENAMED, RENAMED_WEIGHTS, MsaniiModel

FORMAT = "daw-diffusion"
FORMAT_VERSION = 1
PICKLE_STARTS = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive; an older bare pickle


def save_checkpoint(model: MsaniiModel, path: str | os.PathLike, *,
                    trained: dict[str, bool] | None = None, info: dict[str, Any] | None = None,
                    half: bool = False) -> Path:
    """Write atomically (temporary name, then rename). `trained` records which parts hold
    trained weights ("unet", "magnitude"); `info` is free-form (steps, data, wall time, ...)."""
    path = Path(path)
    tensors = {}
    for name, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        tensors[name] = value.half() if half and value.is_floating_point() and name.startswith(("unet.", "magnitude_net.")) else value
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": model.kind,
        "config": json.dumps(model.config.to_dict()),
        "trained": json.dumps(trained or {"unet": False, "magnitude": False}),
        "info": json.dumps(info or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # safetensors writes 0600; a model is for sharing, as the umask says
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)  # a full disk leaves nothing half-written behind
        if isinstance(exc, SafetensorError):  # (how safetensors reports a failed write)
            raise OSError(f"{path.name} cannot be written whole: {exc}") from None
        raise
    return path


def is_pickle(path: Path) -> bool:
    """A PyTorch pickle (`torch.save`), not a safetensors checkpoint."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head.startswith(PICKLE_STARTS)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Format, version, config, trained flags and info of a checkpoint, without its weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as exc:  # safetensors raises several types for corrupt files
        if is_pickle(path):
            raise CheckpointError(f"{path}: a PyTorch pickle, not a daw-diffusion checkpoint; a Msanii checkpoint "
                                  f"is converted once by `daw-diffusion models import {path}`") from None
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a daw-diffusion checkpoint (format {raw.get('format')!r})")
    try:
        version = int(raw["format_version"])
        meta = {key: json.loads(raw[key]) for key in ("config", "trained", "info")}
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this daw-diffusion "
            f"understands ({FORMAT_VERSION}); update daw-diffusion"
        )
    meta["format_version"] = version
    meta["kind"] = raw.get("kind", "msanii")
    meta["trained"] = {RENAMED.get(part, part): done for part, done in meta["trained"].items()}
    return meta


def renamed(key: str) -> str:
    """A weight's name as this version calls it (older files used other names for some parts)."""
    for old, new in RENAMED_WEIGHTS.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def load_checkpoint(path: str | os.PathLike) -> tuple[MsaniiModel, dict[str, Any]]:
    """Rebuild the model from the file alone; returns it (float32, eval mode) and its metadata."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        kind = kind_class(meta["kind"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}; update daw-diffusion") from None
    try:
        config = kind.config_type.from_dict(meta["config"])
    except (TypeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: config does not describe a {meta['kind']} model ({exc})") from None
    model = kind(config)
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = {renamed(key): f.get_tensor(key) for key in f.keys()}
    except Exception as exc:
        raise CheckpointError(f"{path}: weights cannot be read ({exc})") from None
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k].shape != stored[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointError(f"{path}: weights do not match the stored config ({detail})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in stored.items()})
    for name, tensor in stored.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: tensor {name} holds NaN or infinite values")
    return model.eval(), meta
