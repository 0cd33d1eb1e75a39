"""What the tests compute with: a tiny model and a test signal."""

import numpy as np
import torch

from engine.model import ModelConfig, MsaniiModel


def tiny_model(seed: int = 0, d_cond: int = 0) -> MsaniiModel:
    torch.manual_seed(seed)
    return MsaniiModel(ModelConfig.preset("tiny", d_cond=d_cond))


def sine_mix(seconds: float, sample_rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rows = [0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
            for k in range(channels)]
    return np.stack(rows).astype(np.float32)
