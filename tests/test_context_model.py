"""The context-conditioned model: it sees the known mel and the mask, learns only the frames it
must make, and every task runs on it; older (unconditioned) checkpoints keep working."""

import numpy as np
import pytest
import torch
from signals import sine_mix

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.diffusion.context import known_context
from engine.model import ModelConfig, MsaniiModel
from engine.pipeline import Pipeline
from engine.settings import RenderSettings
from engine.train.losses import diffusion_loss
from engine.train.masks import draw_unknown

FAST = RenderSettings(steps=3, griffin_lim_iters=2)


@pytest.fixture(scope="module")
def context_model() -> MsaniiModel:
    torch.manual_seed(0)
    model = MsaniiModel(ModelConfig.preset("tiny-context"))
    with torch.no_grad():  # an untrained context model ignores its extra input; make it look
        model.unet.input.weight.normal_(0, 0.3)
    return model.eval()


def test_the_context_input_changes_the_prediction_and_nothing_known_is_zeros(context_model):
    x = torch.randn(1, 2, 128, 16)
    t = torch.tensor([500.0])
    known = torch.randn(1, 2, 128, 16)
    is_known = torch.zeros(16, dtype=torch.bool)
    is_known[:8] = True
    with torch.no_grad():
        blind = context_model.unet(x, t)
        empty = context_model.unet(x, t, context=known_context(known, torch.zeros(16, dtype=torch.bool)))
        seeing = context_model.unet(x, t, context=known_context(known, is_known))
    assert torch.allclose(blind, empty)  # "no context" is exactly "nothing known"
    assert not torch.allclose(blind, seeing, atol=1e-4)


def test_known_context_keeps_the_known_frames_and_never_shows_the_unknown():
    known = torch.randn(2, 2, 128, 20)
    is_known = (torch.arange(20) < 6) | (torch.arange(20) >= 10)
    context = known_context(known, is_known)
    assert context.shape == (2, 2, 257, 20)
    for guess in (context[:, :, :128], context[:, :, 128:256]):
        assert torch.equal(guess[..., is_known], known[..., is_known])
    assert torch.equal(context[0, 0, 256], is_known.float())
    changed = known.clone()
    changed[..., 6:10] = 99  # what lies in the gap cannot reach the context
    assert torch.equal(known_context(changed, is_known), context)


def test_the_first_guesses_are_a_smooth_bridge_and_a_repeat():
    known = torch.arange(12, dtype=torch.float32).reshape(1, 1, 1, 12).expand(1, 1, 2, 12).contiguous()
    is_known = torch.ones(12, dtype=torch.bool)
    is_known[4:8] = False
    context = known_context(known, is_known)
    smooth, repeat = context[0, 0, 0], context[0, 0, 2]
    assert torch.all(torch.diff(smooth[4:8]) > 0)  # rises from the left side's level to the right's
    assert smooth[4] > known[0, 0, 0, 0:4].mean() and smooth[7] < known[0, 0, 0, 8:12].mean()
    assert torch.equal(repeat[4:8], known[0, 0, 0, 0:4])  # what came just before
    right = known_context(known, torch.arange(12) < 9)[0, 0, 2]
    assert torch.equal(right[9:12], known[0, 0, 0, 6:9])  # an extension repeats the last frames
    nothing = known_context(known, torch.zeros(12, dtype=torch.bool))
    assert not nothing.any()


def test_the_copy_guess_fills_a_gap_from_the_matching_period_and_never_sees_the_gap():
    period = 100  # frames (1.16 s at hop 512): a loop the search can find
    known = torch.randn(1, 2, 128, period).repeat(1, 1, 1, 5)[..., :448].contiguous()
    is_known = torch.ones(448, dtype=torch.bool)
    is_known[320:360] = False
    rate = 44_100 / 512  # frames per second at hop 512
    with pytest.raises(ValueError, match="frame rate"):
        known_context(known, is_known, "copy")
    copy = known_context(known, is_known, "copy", rate)[0, :, 128:256]
    repeat = known_context(known, is_known, "repeat")[0, :, 128:256]
    assert torch.equal(copy[..., 320:360], known[0, ..., 320:360])  # the loop, continued exactly
    assert not torch.equal(repeat[..., 320:360], known[0, ..., 320:360])  # loop-repeat misses the period
    changed = known.clone()
    changed[..., 320:360] = 99
    assert torch.equal(known_context(changed, is_known, "copy", rate)[0, :, 128:256], copy)


def test_a_model_trained_with_the_copy_guess_says_so_in_its_checkpoint(tmp_path):
    from dataclasses import replace
    config = ModelConfig.preset("tiny-context")
    config = replace(config, unet=replace(config.unet, context_guess="copy"))
    path = save_checkpoint(MsaniiModel(config), tmp_path / "copy.safetensors")
    model, _ = load_checkpoint(path)
    assert model.unet.config.context_guess == "copy"
    with pytest.raises(ValueError, match="context_guess"):
        replace(config.unet, context_guess="noise")


def test_training_masks_mix_every_edit_and_leave_context():
    generator = torch.Generator().manual_seed(0)
    unknown = draw_unknown(400, 448, 86.13, generator)
    fraction = unknown.float().mean(1)
    assert (fraction == 1).float().mean() == pytest.approx(0.25, abs=0.07)  # generation rows
    partial = fraction[fraction < 1]
    assert partial.min() > 0 and partial.max() <= 0.71  # an edit always keeps 30 % as context
    right = unknown[:, -1] & ~unknown[:, 0] & (fraction < 1)
    left = unknown[:, 0] & ~unknown[:, -1] & (fraction < 1)
    assert right.any() and left.any()


def test_the_loss_counts_only_frames_to_generate(context_model):
    audio = torch.from_numpy(np.stack([sine_mix(0.5, 44_100)] * 2))
    frames = context_model.config.spectral.frames_for(audio.shape[-1])
    unknown = torch.zeros(2, frames, dtype=torch.bool)
    unknown[:, frames // 2:] = True

    def loss(net):
        return diffusion_loss(net, context_model.spectral, context_model.schedule, audio, "v",
                              generator=torch.Generator().manual_seed(0), unknown=unknown)

    def scrambled(*args):  # the same prediction, except garbage on the known frames
        out = context_model.unet(*args).clone()
        out[..., : frames // 2] = 1e3
        return out

    with torch.no_grad():
        assert float(loss(context_model.unet)) == pytest.approx(float(loss(scrambled)), rel=1e-6)


def test_every_task_runs_on_a_context_checkpoint_and_keeps_what_it_must(context_model, tmp_path):
    path = save_checkpoint(context_model, tmp_path / "context.safetensors", trained={"unet": True, "magnitude": False})
    model, meta = load_checkpoint(path)
    assert meta["config"]["unet"]["context"] is True and model.config.spectral.hop_length == 512
    pipeline = Pipeline(model)
    clip = sine_mix(3.0, 48_000)
    fixed = pipeline.inpaint(clip, 48_000, [(1.0, 1.5)], seed=4, settings=FAST).audio
    assert np.array_equal(fixed[:, :48_000], clip[:, :48_000])
    assert np.array_equal(fixed[:, 72_000:], clip[:, 72_000:])
    assert np.array_equal(fixed, pipeline.inpaint(clip, 48_000, [(1.0, 1.5)], seed=4, settings=FAST).audio)
    extended = pipeline.outpaint(clip, 48_000, 1.0, seed=4, settings=FAST).audio
    fade = round(FAST.crossfade * 48_000)
    assert extended.shape == (2, 192_000) and np.array_equal(extended[:, :144_000 - fade], clip[:, :144_000 - fade])
    assert pipeline.generate(1.0, seed=1, settings=FAST)[0].audio.shape == (2, 44_100)
    assert pipeline.style_transfer(clip, 48_000, 0.4, seed=1, settings=FAST).audio.shape == clip.shape
    assert pipeline.interpolate(clip, clip[::-1].copy(), 48_000, 0.5, seed=1, settings=FAST).audio.shape == clip.shape


def test_older_checkpoints_without_a_context_load_as_such(tmp_path):
    model = MsaniiModel(ModelConfig.preset("tiny"))
    path = save_checkpoint(model, tmp_path / "old.safetensors")
    loaded, meta = load_checkpoint(path)
    assert loaded.config.unet.context is False and loaded.config.spectral.hop_length == 1024
    with pytest.raises(ValueError, match="without a context input"):
        loaded.unet(torch.zeros(1, 2, 128, 4), torch.tensor([1.0]), context=torch.zeros(1, 2, 257, 4))
