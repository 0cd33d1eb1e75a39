"""What a training run is asked to do (`TrainConfig`, the command line's `train` flags), and
what it ran on (`hardware`, recorded per run in the checkpoint)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

STAGES = ("magnitude", "diffusion")


@dataclass(frozen=True)
class TrainConfig:
    stage: str
    data_dir: Path
    run_dir: Path
    preset: str = "real"
    text_encoder: str = "all-MiniLM-L6-v2"  # "" trains an unconditional model
    batch_size: int = 8
    crop_frames: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    warmup_steps: int = 500  # lr rises linearly from a third to full over these steps
    ema_decay: float = 0.995
    ema_start: int = 1000
    ema_every: int = 10
    grad_clip: float = 1.0
    max_steps: int = 1_000_000
    decay_steps: int = 0  # lr falls linearly to 0 over the last of these before max_steps (0: constant)
    time_budget: float | None = None  # seconds of training in this invocation
    checkpoint_every: float = 300.0  # seconds between checkpoints
    snapshot_every: float | None = None  # seconds of training between kept copies (quality-vs-time curve)
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    fresh: bool = False  # start this stage's network from scratch (keeping the rest of the run)
    context_guess: str | None = None  # switch a context U-Net's second guess ("repeat", "copy"), weights kept
    outer_width: int | None = None  # grow a full-rank outer stage of this width around a trained U-Net (body kept)
    outer_blocks: int = 2  # the grown stage's residual blocks (0: a linear path)
    outer_timestep: bool = False  # the grown stage's features scaled and shifted per noise level
    local_width: int | None = None  # grow a frequency-local stage of this width (engine.nn.local)
    local_layers: int = 3  # its dilated convolutions

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {self.stage!r}")


def hardware() -> str:
    """What trained: CPU architecture and cores, and the GPU when there is one."""
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{platform.machine()} {os.cpu_count()} cores{gpu}"
