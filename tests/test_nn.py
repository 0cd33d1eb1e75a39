import pytest
import torch

from engine.nn import MagnitudeConfig, MagnitudeNet, UNet, UNetConfig


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_gpu_preset_is_paper_sized_and_cpu_preset_is_laptop_sized():
    assert 45e6 < params(UNet(UNetConfig.gpu())) < 55e6
    assert params(UNet(UNetConfig.cpu())) < 6e6


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("frames", [4, 32, 100])
def test_unet_keeps_the_shape(channels, frames):
    torch.manual_seed(0)
    config = UNetConfig.tiny()
    frames -= frames % config.frame_multiple
    x = torch.randn(2, channels, 128, frames)
    assert UNet(config)(x, torch.tensor([10.0, 900.0])).shape == x.shape


def test_a_batch_gives_the_same_result_as_its_items():
    torch.manual_seed(0)
    net = UNet(UNetConfig.tiny()).eval()
    x, t = torch.randn(3, 2, 128, 16), torch.tensor([1.0, 400.0, 999.0])
    batched = net(x, t)
    single = torch.cat([net(x[i:i + 1], t[i:i + 1]) for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_condition_changes_the_output_and_an_empty_mask_means_no_condition():
    torch.manual_seed(0)
    net = UNet(UNetConfig.tiny(d_cond=8)).eval()
    torch.nn.init.normal_(net.null_cond)
    x, t, cond = torch.randn(1, 1, 128, 8), torch.tensor([500.0]), torch.randn(1, 3, 8)
    plain = net(x, t)
    assert not torch.allclose(net(x, t, cond), plain)
    assert torch.allclose(net(x, t, cond, torch.zeros(1, 3, dtype=torch.bool)), plain)


def test_unconditional_model_refuses_a_condition():
    with pytest.raises(ValueError, match="without a conditioning input"):
        UNet(UNetConfig.tiny())(torch.randn(1, 1, 128, 4), torch.tensor([1.0]), torch.randn(1, 2, 4))


def test_mismatched_config_lists_fail_fast():
    with pytest.raises(ValueError, match="has_attention"):
        UNetConfig(d_multipliers=(1, 1), has_attention=(True,), has_resampling=(True, False), n_block_layers=(1, 1))


def test_the_magnitude_network_maps_mels_to_stft_bins():
    network = MagnitudeNet(MagnitudeConfig(d_model=16, d_hidden_factor=1, residual=False))
    assert network(torch.randn(1, 2, 128, 10)).shape == (1, 2, 1025, 10)


def test_an_untrained_residual_magnitude_network_is_the_analytic_inversion():
    from engine.model import ModelConfig, MsaniiModel

    model = MsaniiModel(ModelConfig.preset("tiny"))
    mel = torch.rand(1, 2, 128, 10) * 2 - 1
    analytic = model.spectral.mel_to_magnitude(model.spectral.decode_log_mel(mel))
    assert torch.allclose(torch.exp(model.log_magnitude(mel)), analytic + 1e-5, rtol=1e-4, atol=1e-6)


def test_a_unet_narrower_than_the_mel_bands_cannot_reach_them_all_and_an_outer_stage_can():
    from dataclasses import replace

    from engine.train.noise_levels import output_basis

    assert UNetConfig.real().output_rank == 64 < 128  # the bundled layout: half the bands out of reach
    assert UNetConfig.real_full().output_rank == 128
    torch.manual_seed(0)
    narrow = UNet(UNetConfig.tiny())
    full = UNet(replace(UNetConfig.tiny(), d_outer=128, n_outer_blocks=1))
    assert output_basis(narrow).shape == (128, 16)
    assert output_basis(full).shape == (128, 16)  # its outer stage starts silent (zero output) ...
    torch.nn.init.normal_(full.outer_output.weight)
    assert output_basis(full).shape == (128, 128)  # ... and can reach every band once trained


def test_an_outer_stage_with_a_zero_output_leaves_the_unet_unchanged():
    from dataclasses import replace

    torch.manual_seed(0)
    body = UNet(UNetConfig.tiny(context=True)).eval()
    grown = UNet(replace(body.config, d_outer=32, n_outer_blocks=2)).eval()
    missing, unexpected = grown.load_state_dict(body.state_dict(), strict=False)
    assert not unexpected and missing and all(key.startswith("outer") for key in missing)
    x, t = torch.randn(2, 2, 128, 16), torch.tensor([5.0, 700.0])
    assert torch.equal(grown(x, t), body(x, t))


def test_an_outer_stage_scaled_per_noise_level_starts_as_the_stage_without_it_and_can_switch_it_off():
    import copy
    from dataclasses import replace

    torch.manual_seed(0)
    plain = UNet(replace(UNetConfig.tiny(context=True), d_outer=32, n_outer_blocks=0)).eval()
    torch.nn.init.normal_(plain.outer_output.weight)  # a trained linear path
    scaled = UNet(replace(plain.config, outer_timestep=True)).eval()
    missing, unexpected = scaled.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing == ["outer_film.weight", "outer_film.bias"]
    x, t = torch.randn(2, 2, 128, 16), torch.tensor([5.0, 900.0])
    assert torch.equal(scaled(x, t), plain(x, t))
    body = copy.deepcopy(plain)  # the same U-Net without what the linear path adds
    torch.nn.init.zeros_(body.outer_output.weight)
    assert not torch.allclose(plain(x, t), body(x, t), atol=1e-3)
    with torch.no_grad():  # a scale of -1 (what almost-pure noise asks for) silences the path
        scaled.outer_film.bias[:32] = -1
    assert torch.allclose(scaled(x, t), body(x, t), atol=1e-5)


def test_a_local_stage_starts_silent_then_corrects_every_band_with_kernels_shared_across_pitch():
    from dataclasses import replace

    torch.manual_seed(0)
    body = UNet(UNetConfig.tiny(context=True)).eval()
    grown = UNet(replace(body.config, d_local=8, n_local_layers=2)).eval()
    assert (body.config.output_rank, grown.config.output_rank) == (16, 128)
    missing, unexpected = grown.load_state_dict(body.state_dict(), strict=False)
    assert not unexpected and missing and all(key.startswith("local.") for key in missing)
    x, t = torch.randn(2, 2, 128, 16), torch.tensor([5.0, 700.0])
    context = torch.randn(2, 2, 257, 16)
    assert torch.equal(grown(x, t, context=context), body(x, t, context=context))
    for weights in grown.local.parameters():
        torch.nn.init.normal_(weights, std=0.1)
    with torch.no_grad():
        grown.local.input.weight[:, -1] = 0  # blind to the band's height: the same kernels at every pitch
        assert (grown(x, t, context=context) - body(x, t, context=context)).abs().mean() > 1e-3
        planes, emb = grown.planes(x, body(x, t, context=context), context), grown.embedding(t, None, None)
        correction = grown.local(planes, emb)
        # a pattern moved up by 12 bands gets the same correction, moved up (away from the edges)
        shifted = grown.local(planes.roll(12, dims=3), emb)
        assert torch.allclose(shifted[:, :, 30:100], correction.roll(12, dims=2)[:, :, 30:100], atol=1e-5)
        # each audio channel is corrected from its own planes only
        planes[:, 1] += 1
        moved = grown.local(planes, emb)
    assert torch.equal(moved[:, 0], correction[:, 0]) and not torch.allclose(moved[:, 1], correction[:, 1])


def test_outer_stage_settings_fail_fast():
    with pytest.raises(ValueError, match="d_outer"):
        UNetConfig(d_outer=-1)
    with pytest.raises(ValueError, match="outer_timestep needs an outer stage"):
        UNetConfig(outer_timestep=True)
    with pytest.raises(ValueError, match="d_local"):
        UNetConfig(d_local=-1)
    with pytest.raises(ValueError, match="n_local_layers"):
        UNetConfig(d_local=8, n_local_layers=0)
