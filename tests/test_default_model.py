"""The bundled default model: present, small enough to ship, trained, and used when no
checkpoint is named."""

import numpy as np

from engine.checkpoint import read_metadata
from engine.pipeline import DEFAULT_CHECKPOINT, Pipeline
from engine.settings import RenderSettings


def test_the_default_model_ships_trained_and_small():
    assert DEFAULT_CHECKPOINT.is_file()
    assert DEFAULT_CHECKPOINT.stat().st_size < 25 * 2**20
    meta = read_metadata(DEFAULT_CHECKPOINT)
    assert meta["trained"] == {"unet": True, "vocoder": True}
    assert meta["config"]["conditioning"]["text_encoder"] == "all-MiniLM-L6-v2"
    assert meta["info"]["diffusion"]["steps"] > 1000


def test_no_checkpoint_means_the_default_model():
    pipeline = Pipeline.from_checkpoint(None, device="cpu")
    render = pipeline.generate(2.0, seed=0, settings=RenderSettings(steps=4, griffin_lim_iters=4))[0]
    assert render.audio.shape == (2, 88_200)
    assert np.isfinite(render.audio).all() and 1e-3 < np.abs(render.audio).max() <= 1.0
