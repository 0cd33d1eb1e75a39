import pytest
import torch
from signals import tiny_model

from engine.diffusion import Denoiser, Diffuser, SamplerSettings, Schedule, sample_ddim, sample_dpmpp_2m
from engine.diffusion.samplers import repaint_path
from engine.errors import BadParameter, UnknownSampler

SCHEDULE = Schedule(1000)


class GaussianData:
    """Exact denoiser for data ~ N(mean, std^2) per element: x0 = E[x0 | x]. Its probability
    flow ODE is known, so sampler accuracy can be checked against many-step DDIM."""

    def __init__(self, mean: torch.Tensor, std: float) -> None:
        self.mean, self.var = mean, std**2

    def __call__(self, x, sigma):
        s2 = sigma.reshape(-1, *[1] * (x.ndim - 1)) ** 2
        return self.mean + self.var / (self.var + s2) * (x - self.mean)


def test_schedule_is_monotone_and_invertible():
    t = torch.linspace(0, 999, 300)
    sigmas = SCHEDULE.t_to_sigma(t)
    assert (sigmas.diff() > 0).all()
    assert torch.allclose(SCHEDULE.sigma_to_t(sigmas), t, atol=1e-2)
    steps = SCHEDULE.sigmas(20)
    assert len(steps) == 21 and steps[-1] == 0 and (steps.diff() < 0).all()


def test_partial_schedule_starts_lower():
    assert SCHEDULE.sigmas(10, start=0.5)[0] < SCHEDULE.sigmas(10)[0] / 100


def test_ddim_with_eta_zero_is_deterministic():
    denoiser = GaussianData(torch.tensor(0.3), 0.5)
    x = torch.randn(2, 1, 8, 8) * SCHEDULE.sigma_max
    sigmas = SCHEDULE.sigmas(10)
    assert torch.equal(sample_ddim(denoiser, x, sigmas), sample_ddim(denoiser, x, sigmas))


def test_ddim_with_eta_draws_fresh_noise_from_the_generator():
    denoiser = GaussianData(torch.tensor(0.3), 0.5)
    x, sigmas = torch.randn(1, 1, 8, 8) * 10, SCHEDULE.sigmas(10, start=0.6)
    run = lambda seed: sample_ddim(denoiser, x, sigmas, eta=1.0, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_dpm_solver_at_few_steps_is_closer_to_the_converged_answer_than_ddim():
    torch.manual_seed(0)
    denoiser = GaussianData(torch.randn(1, 1, 16, 16) * 0.3, 0.4)
    x = torch.randn(1, 1, 16, 16)
    reference = sample_ddim(denoiser, x * SCHEDULE.sigmas(500)[0], SCHEDULE.sigmas(500))
    for steps in (10, 20):
        sigmas = SCHEDULE.sigmas(steps)
        error = lambda sampler: float((sampler(denoiser, x * sigmas[0], sigmas) - reference).abs().mean())
        assert error(sample_dpmpp_2m) < 0.75 * error(sample_ddim)


def test_callback_sees_every_step_and_can_stop_sampling():
    denoiser = GaussianData(torch.tensor(0.0), 0.5)
    seen = []

    def stop_after_three(info):
        seen.append(info["i"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_dpmpp_2m(denoiser, torch.randn(1, 4), SCHEDULE.sigmas(10), callback=stop_after_three)
    assert seen == [0, 1, 2]


def test_repaint_path_goes_down_and_jumps_back_resample_times():
    path = repaint_path(20, jump_length=5, resample=3)
    assert path[0] == 0 and path[-1] == 20
    moves = [b - a for a, b in zip(path, path[1:])]
    assert set(moves) == {1, -5}
    assert moves.count(-5) == 3 * 2  # jump points 5, 10, 15; two extra passes each
    assert moves.count(1) == 20 + 6 * 5


@pytest.mark.parametrize("mode", ["replace", "repaint"])
@pytest.mark.parametrize("data", [(0.0, 1.0), (0.3, 0.25)])
def test_known_frames_come_back_exactly(mode, data):
    model = tiny_model()
    diffuser = Diffuser(Denoiser(model.unet, SCHEDULE, "v"), SCHEDULE,
                        SamplerSettings(steps=6, jump_length=2, resample=2), model.config.unet.frame_multiple,
                        torch.Generator().manual_seed(0), data=data)
    known = torch.rand(1, 2, 128, 13) * 2 - 1
    unknown = torch.zeros(13, dtype=torch.bool)
    unknown[4:9] = True
    with torch.no_grad():
        out = diffuser.sample(tuple(known.shape), known=known, unknown=unknown, mode=mode)
    assert torch.equal(out[..., ~unknown], known[..., ~unknown])
    assert not torch.allclose(out[..., unknown], known[..., unknown])


def test_guidance_one_is_the_conditional_model_and_zero_the_unconditional():
    model = tiny_model(d_cond=8)
    torch.nn.init.normal_(model.unet.null_cond)
    x, sigma, cond = torch.randn(1, 1, 128, 8), torch.tensor([2.0]), torch.randn(1, 2, 8)
    with torch.no_grad():
        plain = Denoiser(model.unet, SCHEDULE, "v")(x, sigma)
        conditional = Denoiser(model.unet, SCHEDULE, "v", cond=cond)(x, sigma)
        guided_1 = Denoiser(model.unet, SCHEDULE, "v", cond=cond, guidance=1.0)(x, sigma)
        guided_0 = Denoiser(model.unet, SCHEDULE, "v", cond=cond, guidance=0.0)(x, sigma)
        guided_3 = Denoiser(model.unet, SCHEDULE, "v", cond=cond, guidance=3.0)(x, sigma)
    assert torch.equal(guided_1, conditional)
    assert torch.allclose(guided_0, plain, atol=1e-5)
    assert not torch.allclose(guided_3, conditional)


def test_epsilon_and_v_predictions_agree_on_the_clean_estimate():
    class Oracle(torch.nn.Module):  # knows x0 and the noise; answers in either parameterisation
        def __init__(self, prediction, x0):
            super().__init__()
            self.prediction, self.x0 = prediction, x0

        def forward(self, x_vp, t, cond=None, mask=None):
            sigma = SCHEDULE.t_to_sigma(t).reshape(-1, 1)
            alpha, s = 1 / (1 + sigma**2).sqrt(), sigma / (1 + sigma**2).sqrt()
            eps = (x_vp - alpha * self.x0) / s
            return eps if self.prediction == "eps" else alpha * eps - s * self.x0

    x0, sigma = torch.rand(1, 6) - 0.5, torch.tensor([1.7])
    x = x0 + sigma * torch.randn(1, 6)
    for prediction in ("eps", "v"):
        estimate = Denoiser(Oracle(prediction, x0), SCHEDULE, prediction)(x, sigma)
        assert torch.allclose(estimate, x0, atol=2e-3)


def test_sampler_settings_reject_nonsense():
    with pytest.raises(UnknownSampler):
        SamplerSettings(sampler="euler_magic")
    for bad in ({"steps": 0}, {"steps": 5000}, {"eta": 2.0}, {"resample": 0}):
        with pytest.raises(BadParameter):
            SamplerSettings(**bad)


def test_noise_is_unit_variance_and_correlated_between_audio_channels():
    from engine.diffusion.samplers import randn_like

    x = torch.zeros(2, 2, 64, 512)
    for coherence in (0.0, 0.75):
        noise = randn_like(x, torch.Generator().manual_seed(0), coherence)
        assert torch.equal(noise, randn_like(x, torch.Generator().manual_seed(0), coherence))  # same seed, same noise
        assert abs(float(noise.std()) - 1) < 0.01
        left, right = noise[:, 0].flatten(), noise[:, 1].flatten()
        assert abs(float(torch.corrcoef(torch.stack((left, right)))[0, 1]) - coherence) < 0.02
    mono = randn_like(torch.zeros(2, 1, 64, 512), torch.Generator().manual_seed(0), 0.75)
    assert abs(float(mono.std()) - 1) < 0.01
