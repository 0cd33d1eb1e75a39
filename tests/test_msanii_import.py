"""The Msanii authors' own model kind (`msanii-original`): a checkpoint of the reference code is
imported once, reproduces the reference implementation's outputs (a fixture it wrote, see
fixtures/msanii_reference/SOURCE.md), and then works behind every task, over `render` and OSC.
Unpickling is safe: a file that asks to run code is refused, not run."""

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from processes import CLI, files, free_port, models
from safetensors.torch import load_file
from signals import sine_mix

from engine.client import EngineClient
from engine.diffusion.samplers import ddim_step
from engine.importer import SAFE_GLOBALS, convert
from engine.original import OriginalConfig, OriginalMsaniiModel

from osc_peers import BridgeProcess

FIXTURE = Path(__file__).parent / "fixtures" / "msanii_reference"
REFERENCE = FIXTURE / "reference.pt"
FAST = ["--steps", "3", "--griffin-lim-iters", "3"]


@pytest.fixture(scope="module")
def imported():
    model, _ = convert(REFERENCE)
    return model


@pytest.fixture(scope="module")
def expected():
    return load_file(str(FIXTURE / "outputs.safetensors"))


def reference_dict(path=REFERENCE) -> dict:
    """The reference file as plain dicts (read as safely as the importer reads it)."""
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return {key: dict(value) for key, value in checkpoint.items()}


def close(ours, theirs, tolerance=1e-5):
    return (ours - theirs).abs().max().item() <= tolerance * max(1.0, theirs.abs().max().item())


def test_the_imported_model_reproduces_the_reference_implementation(imported, expected):
    with torch.no_grad():
        mel = imported.encode(expected["audio"])
        assert close(mel, expected["mel"])
        analytic = imported.spectral.mel_to_magnitude(imported.spectral.decode_log_mel(expected["mel"]))
        assert close(analytic, expected["magnitude_analytic"], 1e-4)  # (the reference keeps the log floor's 1e-5)
        assert close(torch.exp(imported.log_magnitude(expected["mel"])), expected["magnitude_vocoder"])
        recovered = imported.spectral.griffin_lim(expected["magnitude_vocoder"], expected["audio"].shape[-1], n_iter=4,
                                                  momentum=0.99, start=expected["griffin_lim_start"], linked=False)
        assert close(recovered, expected["griffin_lim"])
        for eps, t in zip(expected["unet_eps"], expected["unet_timesteps"]):
            assert close(imported.unet(expected["unet_input"], t.float().reshape(1)), eps), int(t)
    assert close(imported.schedule.alphas_cumprod, expected["alphas_cumprod"])


def test_one_ddim_step_is_the_reference_schedulers_step(imported, expected):
    """The engine's DDIM takes its direction from the clipped estimate (diffusers'
    `use_clipped_model_output=True`, DDPM's clipped posterior); the reference's sampler leaves
    that flag off. The two agree exactly wherever the estimate stays within [-1, 1]."""
    alphas = imported.schedule.alphas_cumprod.double()
    denoiser = imported.denoiser(None, None, 1.0)
    x_vp = expected["ddim_input"]
    for i, t in enumerate(expected["ddim_timesteps"].tolist()):
        a, a_next = alphas[t], (alphas[t - 20] if t >= 20 else torch.tensor(1.0, dtype=torch.float64))
        sigma, sigma_next = (((1 - a) / a).sqrt().float().reshape(1), ((1 - a_next) / a_next).sqrt().float().reshape(1))
        with torch.no_grad():
            x, _ = ddim_step(denoiser, x_vp / a.sqrt().float(), sigma, sigma_next, 0.0, None)
            eps = imported.unet(x_vp, torch.tensor([float(t)]))
        stepped = x * a_next.sqrt().float()
        assert close(stepped, expected["ddim_step_clipped_1"][i]), t
        in_range = ((x_vp - (1 - a).sqrt().float() * eps) / a.sqrt().float()).abs() <= 1
        assert in_range.any()
        assert close(stepped[in_range], expected["ddim_step_clipped_0"][i][in_range]), t


def test_the_full_size_reference_configuration_runs_a_denoising_step_on_the_cpu():
    model = OriginalMsaniiModel(OriginalConfig()).eval()  # the reference's defaults: the paper's model
    assert sum(p.numel() for p in model.unet.parameters()) == 49_878_016
    assert sum(p.numel() for p in model.magnitude_net.parameters()) == 1_412_097
    assert (model.geometry.hop_length, model.geometry.n_mels, model.frame_multiple) == (1024, 128, 64)
    x = torch.randn(1, 2, 128, 64) * model.schedule.sigma_max
    sigma = torch.tensor([model.schedule.sigma_max])
    with torch.no_grad():
        stepped, denoised = ddim_step(model.denoiser(None, None, 1.0), x, sigma, sigma / 2, 0.0, None)
    assert stepped.shape == x.shape and torch.isfinite(stepped).all()
    assert denoised.abs().max() <= 1.0  # an estimate within the data's range


class RunsCode:
    """What a hostile file holds: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def test_a_pickle_that_tries_to_run_code_is_refused_and_never_run(tmp_path):
    folder, marker = tmp_path / "models", tmp_path / "it ran"
    zipped, bare = tmp_path / "evil.pt", tmp_path / "old-style.pt"
    torch.save({"transforms_config": RunsCode(marker), "unet_state_dict": {"w": torch.zeros(2)}}, zipped)
    torch.save({"unet_config": RunsCode(marker)}, bare, _use_new_zipfile_serialization=False)
    assert bare.read_bytes()[:1] == b"\x80" and zipped.read_bytes()[:2] == b"PK"
    for path in (zipped, bare):
        status, reply = models(folder, "import", str(path), "--name", "evil")
        assert status == 2 and reply["ok"] is False and str(path) in reply["message"], reply
        assert "refused, not run" in reply["message"] and "system" in reply["message"], reply
    engine = subprocess.run([CLI, "engine", "--bind", f"tcp://127.0.0.1:{free_port()}", "--model", str(zipped)],
                            capture_output=True, text=True, timeout=60)
    assert engine.returncode == 2 and "models import" in engine.stdout  # the engine never unpickles
    assert not marker.exists() and files(folder) == {}


def variant(tmp_path, name, change) -> Path:
    checkpoint = reference_dict()
    change(checkpoint)
    path = tmp_path / f"{name}.pt"
    torch.save(checkpoint, path)
    return path


def test_bad_reference_files_exit_2_naming_the_file_and_write_nothing(tmp_path):
    folder = tmp_path / "models"
    assert models(folder, "import", str(REFERENCE), "--name", "msanii-tiny")[0] == 0
    before = files(folder)
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(REFERENCE.read_bytes()[:200_000])
    cases = {
        truncated: "not a readable PyTorch checkpoint",
        variant(tmp_path, "weights-only", lambda c: c.pop("unet_config")): "not a Msanii checkpoint",
        variant(tmp_path, "knob", lambda c: c["unet_config"].update(mystery_knob=3)): "keys this version does not know: mystery_knob",
        variant(tmp_path, "linear", lambda c: c["scheduler_config"].update(beta_schedule="linear")): "noise schedule 'linear'",
        variant(tmp_path, "window", lambda c: c["transforms_config"].update(win_length=128)): "win_length 128",
        variant(tmp_path, "wider", lambda c: c["unet_config"].update(d_base=16)): "wrong shape",
        variant(tmp_path, "nan", lambda c: c["vocoder_state_dict"]["fn.2.0.bias"].fill_(float("nan"))): "NaN",
        # a rate the weights were not made for: its stored filterbank says so
        variant(tmp_path, "rate", lambda c: c["transforms_config"].update(sample_rate=22_050)): "mel filterbank",
    }
    for path, says in cases.items():
        status, reply = models(folder, "import", str(path), "--name", path.stem)
        assert status == 2 and reply["ok"] is False and str(path) in reply["message"] and says in reply["message"], reply
        assert files(folder) == before  # nothing half-written, no model touched
    status, reply = models(folder, "import", str(REFERENCE), "--name", "msanii-tiny")
    assert status == 2 and "exists" in reply["message"] and files(folder) == before


def test_a_disk_that_fills_during_an_import_leaves_nothing_behind(tmp_path):
    """A file-size limit stands in for a full disk: the converted model cannot be written whole."""
    import resource

    folder = tmp_path / "models"
    folder.mkdir()
    limit = REFERENCE.stat().st_size // 4
    done = subprocess.run([CLI, "models", "--models-dir", str(folder), "import", str(REFERENCE), "--name", "msanii"],
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 2 and "cannot store the model there" in reply["message"] and str(folder) in reply["message"]
    assert files(folder) == {}  # no partial file, no model under its name


def test_another_rate_and_hop_import_when_the_file_is_consistent(tmp_path):
    """The bundled model is 44.1 kHz, hop 512; a Msanii model made at 22.05 kHz, hop 128 runs too
    (the engine resamples to and from the model's rate)."""
    import torchaudio

    def at_22k(checkpoint):
        checkpoint["transforms_config"].update(sample_rate=22_050)
        checkpoint["transforms_state_dict"]["mel_scale.fb"] = torchaudio.functional.melscale_fbanks(
            129, 0.0, 11_025.0, 16, 22_050)

    status, reply = models(tmp_path / "models", "import", str(variant(tmp_path, "low", at_22k)), "--name", "low")
    assert status == 0, reply
    assert (reply["imported"]["sample_rate"], reply["imported"]["hop"], reply["imported"]["kind"]) == \
        (22_050, 128, "msanii-original")
    assert reply["imported"]["imported_from"] == "low.pt" and len(reply["imported"]["sha256"]) == 64


@pytest.fixture(scope="module")
def original_engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    assert models(folder, "import", str(REFERENCE), "--name", "msanii-tiny")[0] == 0
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--models-dir", str(folder), "--model", "msanii-tiny"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not EngineClient(endpoint).pinged(0.5):
        assert proc.poll() is None and time.monotonic() < deadline, "the engine did not start"
    yield endpoint
    proc.terminate()
    proc.wait(30)


def render(endpoint, *args):
    done = subprocess.run([CLI, "render", *args, "--engine", endpoint, *FAST], capture_output=True, text=True,
                          timeout=300)
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and reply["ok"], reply
    assert {o["model"] for o in reply["outputs"]} == {"msanii-tiny"}
    return [Path(o["path"]) for o in reply["outputs"]]


def test_every_task_renders_through_render_with_an_imported_msanii_model(original_engine, tmp_path):
    status = EngineClient(original_engine).status()["model"]
    assert (status["name"], status["kind"]) == ("msanii-tiny", "msanii-original")
    source = tmp_path / "take.wav"
    sf.write(source, sine_mix(3.0, 48_000).T, 48_000, subtype="PCM_24")
    original, _ = sf.read(source, dtype="float32")
    out = tmp_path / "out"
    first, second = render(original_engine, "--task", "generate", "--seconds", "1.5", "--seed", "5", "--variations",
                           "2", "--output", str(out / "gen.wav"))
    again, = render(original_engine, "--task", "generate", "--seconds", "1.5", "--seed", "5",
                    "--output", str(out / "again.wav"))
    assert sf.info(first).duration == pytest.approx(1.5, abs=1e-3)
    assert np.array_equal(sf.read(first)[0], sf.read(again)[0])  # same seed, same audio
    assert not np.array_equal(sf.read(first)[0], sf.read(second)[0])
    for task, extra in (("style", ["--strength", "0.5"]), ("vary", ["--strength", "0.4"]),
                        ("interpolate", ["--input-b", str(source), "--ratio", "0.5"])):
        rendered, = render(original_engine, "--task", task, "--input", str(source), *extra,
                           "--output", str(out / f"{task}.wav"))
        assert sf.info(rendered).frames == original.shape[0]
    for mode in ("replace", "repaint"):
        filled, = render(original_engine, "--task", "inpaint", "--input", str(source), "--region", "1:1.5",
                         "--mode", mode, "--output", str(out / f"inpaint-{mode}.wav"))
        audio, _ = sf.read(filled, dtype="float32")
        assert np.array_equal(audio[:48_000], original[:48_000]) and np.array_equal(audio[72_000:], original[72_000:])
        assert not np.array_equal(audio[48_000:72_000], original[48_000:72_000])
    extended, = render(original_engine, "--task", "extend", "--input", str(source), "--bars", "1", "--bpm", "120",
                       "--output", str(out / "bar.wav"))
    audio, _ = sf.read(extended, dtype="float32")
    assert audio.shape[0] == 144_000 + 96_000  # one 4/4 bar at 120 BPM, to the sample
    fade = round(0.05 * 48_000)  # the seam's crossfade
    assert np.array_equal(audio[:144_000 - fade], original[:-fade])


def test_render_pinned_to_a_model_is_refused_by_an_engine_running_another(original_engine, tmp_path):
    done = subprocess.run([CLI, "render", "--task", "generate", "--seconds", "1", "--model", "bundled",
                           "--engine", original_engine, "--output", str(tmp_path / "x.wav")],
                          capture_output=True, text=True, timeout=120)
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 2 and reply["code"] == "wrong_model" and "'msanii-tiny', not 'bundled'" in reply["message"]
    assert not (tmp_path / "x.wav").exists()
    pinned, = render(original_engine, "--task", "generate", "--seconds", "1", "--model", "msanii-tiny",
                     "--output", str(tmp_path / "y.wav"))
    assert pinned.exists()


def test_osc_jobs_run_on_an_imported_msanii_model_and_name_it(original_engine, tmp_path):
    take = tmp_path / "take.wav"
    sf.write(take, sine_mix(2.0, 44_100).T, 44_100, subtype="FLOAT")
    bridge = BridgeProcess(original_engine, tmp_path / "renders")
    peer = bridge.peer()
    try:
        peer.request("/diffusion/status", "who")
        status = peer.wait_for("/diffusion/status", "who")
        assert (status[1], status[7]) == ("ok", "msanii-tiny")  # the reply names the engine's model
        jobs = {"fill": ("/diffusion/inpaint", str(take), 0.5, 1.0), "gen": ("/diffusion/generate", 1.0),
                "sty": ("/diffusion/style", str(take), 0.5), "int": ("/diffusion/interpolate", str(take), str(take), 0.3),
                "var": ("/diffusion/vary", str(take), 0.4), "bar": ("/diffusion/outpaint", str(take), 0.0, "bars", 1,
                                                                 "bpm", 120.0)}
        for tag, (address, *args) in jobs.items():
            peer.request(address, tag, *args, "steps", 3, "griffin_lim_iters", 3)
        done = {tag: peer.final(tag, timeout=120) for tag in jobs}
        assert {kind for kind, _ in done.values()} == {"/diffusion/done"}, done
        seconds = {tag: sf.info(args[1]).frames / 44_100 for tag, (_, args) in done.items()}
        assert seconds == pytest.approx({"fill": 2.0, "gen": 1.0, "sty": 2.0, "int": 2.0, "var": 2.0, "bar": 4.0})
        filled, _ = sf.read(done["fill"][1][1], dtype="float32")
        original, _ = sf.read(take, dtype="float32")
        assert np.array_equal(filled[:22_050], original[:22_050]) and np.array_equal(filled[44_100:], original[44_100:])
    finally:
        peer.close()
        bridge.close()
