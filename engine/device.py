"""Where the model runs and at what precision: the device named or found (cuda, mps, cpu), and
the context every forward pass runs in (inference mode; bf16 autocast on CUDA, fp16 on MPS,
float32 on the CPU)."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import torch

from engine.cores import lower_priority
from engine.errors import BadParameter


def pick_device(device: str = "auto") -> torch.device:
    """`device` by name, or the best there is for "auto"."""
    if device != "auto":
        try:
            return torch.device(device)
        except RuntimeError as exc:
            raise BadParameter(f"unknown device {device!r} ({exc})") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_compute(threads: int | None, nice: int = 0) -> None:
    """This process's compute threads (None: torch's choice) and scheduling priority (`nice`,
    for this thread and every thread it starts later)."""
    if threads is not None:
        torch.set_num_threads(threads)
    lower_priority(nice)


def compute() -> dict[str, Any]:
    """What this process computes with, as `status` reports it: torch's threads and the nice level."""
    return {"threads": torch.get_num_threads(), "nice": os.nice(0)}


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """The reduced precision this device computes in (none on the CPU)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "mps":
        return torch.autocast("mps", dtype=torch.float16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def inference(device: torch.device) -> Iterator[None]:
    """Inference mode at the device's precision."""
    with torch.inference_mode(), autocast(device):
        yield
