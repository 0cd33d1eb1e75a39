"""What the tests share besides fixtures: a tiny model, test signals, the CLI's path, free ports,
the system peers they need and a real engine process. Fixtures live in conftest.py."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.model import ModelConfig, MsaniiModel

CLI = str(Path(sys.executable).with_name("daw-diffusion"))


def tiny_model(seed: int = 0, d_cond: int = 0) -> MsaniiModel:
    torch.manual_seed(seed)
    return MsaniiModel(ModelConfig.preset("tiny", d_cond=d_cond))


def sine_mix(seconds: float, sample_rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rows = [0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
            for k in range(channels)]
    return np.stack(rows).astype(np.float32)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(tool: str) -> str:
    """An independent peer the tests need: missing means a broken CI, not a skip."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (.ci/run installs it); these tests need the real program")
    return path


def start_engine(checkpoint: Path, endpoint: str | None = None) -> tuple[subprocess.Popen, str]:
    """A real `daw-diffusion engine` process, once it answers: (process, endpoint)."""
    from engine.client import EngineClient

    endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--checkpoint", str(checkpoint)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not EngineClient(endpoint).pinged(0.5):
        assert proc.poll() is None and time.monotonic() < deadline, "the engine did not start"
    return proc, endpoint
