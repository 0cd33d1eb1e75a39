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
    assert meta["trained"] == {"unet": True, "magnitude": True}
    assert meta["config"]["conditioning"]["text_encoder"] == "all-MiniLM-L6-v2"
    assert meta["info"]["diffusion"]["steps"] > 1000


def test_no_checkpoint_means_the_default_model():
    pipeline = Pipeline.from_checkpoint(None, device="cpu")
    render = pipeline.generate(2.0, seed=0, settings=RenderSettings(steps=4, griffin_lim_iters=4))[0]
    assert render.audio.shape == (2, 88_200)
    assert np.isfinite(render.audio).all() and 1e-3 < np.abs(render.audio).max() <= 1.0


def test_the_default_model_generates_a_stereo_image_like_music():
    """Channels neither mono nor two unrelated pieces: L/R correlation where real music's lies
    (0.5-0.9 on the held-out tracks; the issue's target 0.6-0.95)."""
    pipeline = Pipeline.from_checkpoint(None, device="cpu")
    renders = pipeline.generate(4.0, seed=0, n_variations=3)
    correlations = [float(np.corrcoef(r.audio[0], r.audio[1])[0, 1]) for r in renders]
    assert all(0.6 < c < 0.95 for c in correlations), correlations


def test_the_default_model_keeps_a_sources_stereo_image(chord):
    """Style transfer at 0.3 on a stereo source: L/R correlation within 0.1 of the source's."""
    pipeline = Pipeline.from_checkpoint(None, device="cpu")
    source = chord.copy()
    source[1] = 0.6 * chord[1] + 0.4 * np.roll(chord[0], 441)  # a wider image than the chord has
    out = pipeline.style_transfer(source, 44_100, 0.3, seed=0).audio
    before, after = (float(np.corrcoef(a[0], a[1])[0, 1]) for a in (source, out))
    assert abs(after - before) < 0.1, (before, after)


def test_the_default_models_output_map_reaches_every_mel_band():
    """The model issue's floor: a U-Net whose output lies in fewer directions than the mel bands
    leaves the rest of every frame as noise. The bundled one reaches all 128."""
    from engine.train.noise_levels import output_basis

    unet = Pipeline.from_checkpoint(None, device="cpu").model.unet
    assert output_basis(unet).shape == (128, 128)
