import numpy as np
import pytest
import torch

from engine.demo import chord_progression
from engine.model import ModelConfig, MsaniiModel
from engine.pipeline import Pipeline

torch.set_num_threads(2)


def tiny_model(seed: int = 0, d_cond: int = 0) -> MsaniiModel:
    torch.manual_seed(seed)
    return MsaniiModel(ModelConfig.preset("tiny", d_cond=d_cond))


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """A tiny, randomly initialised model: fast, and every property below must hold for any
    weights (identity outside edits, seeds, shapes), not only for a trained model."""
    return Pipeline(tiny_model())


@pytest.fixture(scope="session")
def chord() -> np.ndarray:
    """3 s of a stereo chord progression at 44.1 kHz, `[2, samples]`."""
    return chord_progression(3.0)


def sine_mix(seconds: float, sample_rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rows = [0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
            for k in range(channels)]
    return np.stack(rows).astype(np.float32)
