"""The tests' shared fixtures; the plain helpers they use are in signals.py (what they compute
with) and processes.py (what they run beside them)."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from processes import CLI, start_engine
from signals import tiny_model

from engine.demo import chord_progression
from engine.pipeline import Pipeline

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """A tiny, randomly initialised model: fast, and every property below must hold for any
    weights (identity outside edits, seeds, shapes), not only for a trained model."""
    return Pipeline(tiny_model())


@pytest.fixture(scope="session")
def chord() -> np.ndarray:
    """3 s of a stereo chord progression at 44.1 kHz, `[2, samples]`."""
    return chord_progression(3.0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    subprocess.run([CLI, "init", str(path), "--preset", "tiny"], check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def engine_endpoint(tiny_checkpoint) -> str:
    """A real engine process with the tiny model, for the whole session."""
    proc, endpoint = start_engine(tiny_checkpoint)
    yield endpoint
    proc.terminate()
    proc.wait(30)
