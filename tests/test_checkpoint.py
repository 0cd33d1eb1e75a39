import json

import numpy as np
import pytest
from safetensors.torch import save_file
from signals import sine_mix, tiny_model

from engine.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from engine.errors import CheckpointError
from engine.model import ModelConfig
from engine.pipeline import Pipeline
from engine.settings import RenderSettings


def test_round_trip_rebuilds_the_same_model_from_the_file_alone(tmp_path, chord):
    model = tiny_model(seed=3)
    model.spectral.scaler.update(model.spectral.log_mel(__import__("torch").from_numpy(chord)))
    path = save_checkpoint(model, tmp_path / "m.safetensors", trained={"unet": True, "magnitude": False},
                           info={"steps": 12})
    loaded = Pipeline.from_checkpoint(path, device="cpu")
    assert loaded.model.config == model.config
    assert loaded.metadata["trained"] == {"unet": True, "magnitude": False} and loaded.metadata["info"]["steps"] == 12
    settings = RenderSettings(steps=3, griffin_lim_iters=3)
    original = Pipeline(model).style_transfer(chord, 44_100, 0.5, seed=1, settings=settings).audio
    assert np.array_equal(loaded.style_transfer(chord, 44_100, 0.5, seed=1, settings=settings).audio, original)


def test_a_file_from_before_the_magnitude_network_was_renamed_loads_as_the_same_model(tmp_path, chord):
    """Older files called the magnitude network "vocoder": config section, trained flag, weights."""
    model = tiny_model(seed=4)
    config = model.config.to_dict()
    config["vocoder"] = config.pop("magnitude")
    tensors = {key.replace("magnitude_net.", "vocoder.", 1): value.contiguous() for key, value in model.state_dict().items()}
    assert any(key.startswith("vocoder.") for key in tensors)
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={
        "format": "daw-diffusion", "format_version": "1", "config": json.dumps(config),
        "trained": json.dumps({"unet": True, "vocoder": True}), "info": "{}"})
    loaded = Pipeline.from_checkpoint(tmp_path / "old.safetensors", device="cpu")
    assert loaded.model.config == model.config and loaded.metadata["trained"] == {"unet": True, "magnitude": True}
    assert loaded.trained_network
    settings = RenderSettings(steps=3, griffin_lim_iters=3)
    original = Pipeline(model, metadata={"trained": {"magnitude": True}}).style_transfer(
        chord, 44_100, 0.5, seed=1, settings=settings).audio
    assert np.array_equal(loaded.style_transfer(chord, 44_100, 0.5, seed=1, settings=settings).audio, original)


def test_saving_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(tiny_model(1), path)
    save_checkpoint(tiny_model(2), path)  # training overwrites its own checkpoint
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_a_saved_model_is_readable_as_the_umask_says(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        save_checkpoint(tiny_model(1), tmp_path / "shared.safetensors")
        os.umask(0o077)
        save_checkpoint(tiny_model(1), tmp_path / "private.safetensors")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.safetensors").stat().st_mode & 0o777 == 0o644  # not safetensors' own 0600
    assert (tmp_path / "private.safetensors").stat().st_mode & 0o777 == 0o600


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="nothere.safetensors: no such"):
        Pipeline.from_checkpoint(tmp_path / "nothere.safetensors")


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="broken.safetensors: not a readable"):
        load_checkpoint(path)


def test_truncated_file(tmp_path):
    path = save_checkpoint(tiny_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="m.safetensors"):
        load_checkpoint(path)


def test_other_safetensors_file_is_not_a_checkpoint(tmp_path):
    import torch

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a daw-diffusion checkpoint"):
        load_checkpoint(path)


def rewrite_metadata(path, **changes):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta.update(changes)
    save_file(tensors, str(path), metadata=meta)


def test_newer_format_version_asks_for_an_update(tmp_path):
    path = save_checkpoint(tiny_model(), tmp_path / "m.safetensors")
    rewrite_metadata(path, format_version="99")
    with pytest.raises(CheckpointError, match="newer"):
        read_metadata(path)


@pytest.mark.parametrize("field, value, words", [
    ("d_base", 24, "do not match"),  # a config the weights were not built from
    ("wings", 2, "config does not describe"),  # a field no config has
])
def test_a_config_that_does_not_fit_is_named(tmp_path, field, value, words):
    path = save_checkpoint(tiny_model(), tmp_path / "m.safetensors")
    config = ModelConfig.preset("tiny").to_dict()
    config["unet"][field] = value
    rewrite_metadata(path, config=json.dumps(config))
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(path)


def test_a_checkpoint_names_its_model_kind_and_an_unknown_kind_is_named(tmp_path):
    path = save_checkpoint(tiny_model(), tmp_path / "m.safetensors")
    assert read_metadata(path)["kind"] == "msanii"
    rewrite_metadata(path, kind="flowmatch")
    with pytest.raises(CheckpointError, match=r"m.safetensors: unknown model kind 'flowmatch' \(this version knows msanii, msanii-original\)"):
        load_checkpoint(path)


def test_half_precision_checkpoint_loads_and_renders(tmp_path):
    path = save_checkpoint(tiny_model(), tmp_path / "half.safetensors", half=True)
    full = save_checkpoint(tiny_model(), tmp_path / "full.safetensors")
    assert path.stat().st_size < 0.7 * full.stat().st_size
    render = Pipeline.from_checkpoint(path, "cpu").style_transfer(sine_mix(1.0, 44_100), 44_100, 0.5, seed=0,
                                                                 settings=RenderSettings(steps=2))
    assert np.isfinite(render.audio).all()


def test_a_checkpoint_carries_the_render_settings_measured_best_for_it(tmp_path):
    import subprocess

    from processes import CLI

    source = save_checkpoint(tiny_model(), tmp_path / "m.safetensors")
    shipped = tmp_path / "shipped.safetensors"
    done = subprocess.run([CLI, "export", str(source), str(shipped), "--half", "--default", "context_seconds=3",
                           "--default", "sampler=ddim"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    settings = Pipeline.from_checkpoint(shipped, device="cpu").settings
    assert (settings.context_seconds, settings.sampler, settings.steps) == (3, "ddim", RenderSettings().steps)
    assert Pipeline.from_checkpoint(shipped, device="cpu", settings=RenderSettings()).settings.sampler == "dpmpp_2m"
    for bad in ("context_seconds=9999", "colour=blue"):
        done = subprocess.run([CLI, "export", str(source), str(tmp_path / f"{bad[:3]}.safetensors"), "--default", bad],
                              capture_output=True, text=True)
        assert done.returncode == 2 and not (tmp_path / f"{bad[:3]}.safetensors").exists()
