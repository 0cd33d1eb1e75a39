import numpy as np
import pytest
import torch
from signals import sine_mix

from engine.spectral import MelSpectral, SpectralConfig


@pytest.fixture(scope="module")
def spectral() -> MelSpectral:
    return MelSpectral(SpectralConfig())


@pytest.mark.parametrize("shape", [(1, 44_100), (2, 44_100), (6, 30_001), (2, 2, 12_345)])
def test_mel_shape_follows_any_channel_count_and_length(spectral, shape):
    mel = spectral.log_mel(torch.randn(shape) * 0.1)
    assert mel.shape == (*shape[:-1], 128, shape[-1] // 1024 + 1)
    assert SpectralConfig().frames_for(shape[-1]) == mel.shape[-1]


def test_channels_are_analysed_independently(spectral):
    audio = torch.from_numpy(sine_mix(1.0, 44_100, 2))
    both = spectral.log_mel(audio)
    assert torch.allclose(both[1], spectral.log_mel(audio[1]), atol=1e-5)


def test_a_sine_lands_in_the_mel_band_around_its_frequency(spectral):
    t = torch.arange(44_100) / 44_100
    mel = spectral.log_mel(0.5 * torch.sin(2 * torch.pi * 1000 * t))
    band = int(mel[:, 5:-5].mean(-1).argmax())
    band_peak_hz = float(spectral.mel_basis[band].argmax()) * 44_100 / 2048
    assert abs(band_peak_hz - 1000) < 60


def log_mel_error(spectral, audio, n_iter):
    audio = torch.from_numpy(audio)
    log_mel = spectral.log_mel(audio)
    magnitude = spectral.mel_to_magnitude(log_mel)
    rebuilt = spectral.griffin_lim(magnitude, audio.shape[-1], n_iter=n_iter,
                                   generator=torch.Generator().manual_seed(0))
    return float((spectral.log_mel(rebuilt) - log_mel)[..., 2:-2].abs().mean())


def test_mel_to_magnitude_to_griffin_lim_round_trip_is_close(spectral):
    chord = sine_mix(2.0, 44_100)
    error_32 = log_mel_error(spectral, chord, 32)
    # mean absolute log-mel error (natural log): 0.35 is about 3 dB
    assert error_32 < 0.35
    assert log_mel_error(spectral, chord, 100) <= error_32 + 1e-3  # more iterations never hurt
    assert log_mel_error(spectral, chord, 2) > error_32  # and the iterations do the work


def test_griffin_lim_is_reproducible_with_a_generator(spectral):
    magnitude = spectral.stft(torch.from_numpy(sine_mix(0.5, 44_100))).abs()
    runs = [spectral.griffin_lim(magnitude, 22_050, n_iter=4, generator=torch.Generator().manual_seed(5))
            for _ in range(2)]
    assert torch.equal(*runs)


def test_scaler_fits_to_minus_one_one_and_inverts(spectral):
    scaler = MelSpectral(SpectralConfig()).scaler
    log_mel = spectral.log_mel(torch.from_numpy(sine_mix(1.0, 44_100)))
    scaler.update(log_mel)
    scaled = scaler(log_mel)
    assert float(scaled.min()) == pytest.approx(-1, abs=1e-4) and float(scaled.max()) == pytest.approx(1, abs=1e-4)
    assert torch.allclose(scaler.inverse(scaled), log_mel, atol=1e-3)


def test_scaler_statistics_move_with_momentum_that_decays():
    scaler = MelSpectral(SpectralConfig()).scaler
    scaler.update(torch.zeros(100).normal_(0, 1))
    mean_before, momentum_before = float(scaler.mean), float(scaler.momentum)
    scaler.update(torch.full((100,), 10.0) + torch.randn(100))
    moved = float(scaler.mean) - mean_before
    assert 0 < moved < 1  # a small step towards the new batch, not a jump
    scaler.step()
    assert float(scaler.momentum) == pytest.approx(momentum_before * 0.999)


def test_fast_stft_matches_torch_and_inverts_exactly(spectral):
    audio = torch.from_numpy(sine_mix(1.01, 44_100)) + 0.01 * torch.randn(2, 44_541)
    reference = torch.stft(audio, 2048, 1024, window=torch.hann_window(2048), center=True,
                           pad_mode="reflect", return_complex=True)
    ours = spectral.stft(audio)
    assert ours.shape == reference.shape
    assert torch.allclose(ours, reference, atol=1e-3, rtol=1e-4)
    assert torch.allclose(spectral.istft(ours, audio.shape[-1]), audio, atol=1e-5)


def lr_correlation(audio: torch.Tensor) -> float:
    left, right = audio - audio.mean(-1, keepdim=True)
    return float((left * right).sum() / (left.norm() * right.norm()))


def panned_mix(seconds: float = 2.0, rate: int = 44_100) -> torch.Tensor:
    """A centred chord (the same in both channels) plus a quieter sound only on the left: a
    stereo image a listener would notice losing."""
    centre = torch.from_numpy(sine_mix(seconds, rate, 1))[0]
    t = torch.arange(centre.shape[-1]) / rate
    side = 0.15 * torch.sin(2 * torch.pi * 1500 * t) * (torch.sin(2 * torch.pi * 3 * t) > 0)
    return torch.stack((centre + side, centre))


@pytest.mark.parametrize("from_source", [False, True])
def test_linked_phase_recovery_keeps_the_stereo_image(spectral, from_source):
    audio = panned_mix()
    magnitude = spectral.stft(audio).abs()
    start = audio if from_source else None
    kept = spectral.griffin_lim(magnitude, audio.shape[-1], n_iter=32, generator=torch.Generator().manual_seed(0),
                                start=start, linked=True)
    apart = spectral.griffin_lim(magnitude, audio.shape[-1], n_iter=32, generator=torch.Generator().manual_seed(0),
                                 start=start)
    source = lr_correlation(audio)
    assert source > 0.9
    assert abs(lr_correlation(kept) - source) < 0.05  # the centre stays in the centre
    if not from_source:  # from random phase, each channel on its own drifts apart
        assert lr_correlation(apart) < source - 0.2
    rebuilt = spectral.stft(kept).abs()  # and the magnitudes still come back
    assert float((rebuilt - magnitude).norm() / magnitude.norm()) < 0.35


@pytest.mark.parametrize("strength", [0.3, 0.8])
def test_style_transfer_keeps_the_source_stereo_image(pipeline, strength):
    """Whatever the model makes of it, a sound panned left stays panned left, by the same
    amount: each channel keeps the source's share and phase of every bin and frame."""
    centre = panned_mix()[1]
    source = torch.stack((centre, 0.5 * centre)).numpy()  # the right channel 6 dB down
    out = pipeline.style_transfer(source, 44_100, strength, seed=0).audio
    assert not np.allclose(out, source, atol=1e-3)  # the model did change it
    ratio = float(np.dot(out[1], out[0]) / np.dot(out[0], out[0]))
    assert abs(ratio - 0.5) < 0.02 and lr_correlation(torch.from_numpy(out)) > 0.999
