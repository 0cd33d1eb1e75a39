"""Training end to end on a tiny scale, with the real parts: music21's corpus, FluidSynth, the
offline text encoder, checkpoints that resume, the pipeline, and the evaluation."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from signals import sine_mix

from engine.checkpoint import read_metadata
from engine.model import ModelConfig, MsaniiModel
from engine.pipeline import Pipeline
from engine.settings import RenderSettings
from engine.train.captions import RenderFacts, caption
from engine.train.config import TrainConfig
from engine.train.corpus import Collection
from engine.train.losses import diffusion_loss, magnitude_loss
from engine.train.manifest import read_manifest
from engine.train.prepare import prepare_data
from engine.train.trainer import Trainer

CLI = str(Path(sys.executable).with_name("daw-diffusion"))
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
TWO_CHORALES = (Collection("bach", "chorale", 3),)


def cli(*args: str) -> dict:
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_captions_are_deterministic_and_say_what_was_rendered():
    facts = RenderFacts("chorale", 4, ("violin", "viola", "cello", "contrabass"), 60.0, "G major")
    assert caption(facts) == caption(facts) == "four-part chorale on string ensemble, slow, G major"
    mixed = RenderFacts("madrigal", 2, ("piano", "flute"), 130.0, "")
    assert caption(mixed) == "two-part madrigal on piano and woodwinds, fast"
    flat = RenderFacts("folk tune", 1, ("flute",), 90.0, "B- minor")
    assert caption(flat) == "folk tune on flute, moderate tempo, Bb minor"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Three chorales rendered with FluidSynth, plus a folder of 'recordings' with problems."""
    root = tmp_path_factory.mktemp("data")
    recordings = root / "recordings"
    recordings.mkdir()
    sf.write(recordings / "groove.wav", sine_mix(6.0, 48_000).T, 48_000)
    (recordings / "groove.txt").write_text("my sine groove")
    sf.write(recordings / "blip.wav", sine_mix(0.5, 44_100).T, 44_100)
    (recordings / "broken.flac").write_bytes(b"fLaC this is not really flac")
    report = prepare_data(root / "set", audio_dirs=(recordings, root / "nowhere"), renders_per_piece=1,
                          max_seconds=12, held_out_fraction=0.3, soundfont=SOUNDFONT, collections=TWO_CHORALES)
    assert report.rendered == 3 and report.imported == 1
    assert report.skipped == {"too short": 1, "unreadable audio": 1, "missing folder": 1}
    return root / "set"


def test_prepared_data_is_stereo_44k_with_captions_and_a_held_out_piece(data):
    entries = read_manifest(data)
    assert {e["split"] for e in entries} == {"train", "heldout"}
    held_pieces = {e["piece"] for e in entries if e["split"] == "heldout"}
    assert not held_pieces & {e["piece"] for e in entries if e["split"] == "train"}
    for entry in entries:
        info = sf.info(entry["path"])
        assert (info.samplerate, info.channels) == (44_100, 2)
        assert info.duration == pytest.approx(entry["duration"], abs=0.01) and info.duration <= 12.01
    assert "my sine groove" in {e["caption"] for e in entries}
    assert all("chorale on " in e["caption"] for e in entries if e["source"] == "midi")


def test_same_seed_renders_the_same_captions(data, tmp_path):
    again = prepare_data(tmp_path / "again", renders_per_piece=1, max_seconds=12, held_out_fraction=0.3,
                         soundfont=SOUNDFONT, collections=TWO_CHORALES)
    assert again.rendered == 3
    first = sorted((e["piece"], e["caption"]) for e in read_manifest(data) if e["source"] == "midi")
    second = sorted((e["piece"], e["caption"]) for e in read_manifest(tmp_path / "again"))
    assert first == second


def test_missing_soundfont_is_explained_and_audio_still_imported(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "a.wav", sine_mix(5.0, 44_100).T, 44_100)
    report = prepare_data(tmp_path / "out", audio_dirs=(folder,), soundfont=tmp_path / "none.sf2",
                          collections=TWO_CHORALES)
    assert report.imported == 1 and report.skipped == {"no synthesizer": 1}
    assert "fluid-soundfont-gm" in report.warnings[0]


def test_empty_folder_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    report = prepare_data(tmp_path / "out", midi=False, audio_dirs=(tmp_path / "empty",))
    assert report.skipped == {"empty folder": 1}


def fixed_batch_loss_drops(loss_fn, module, steps=40) -> tuple[float, float]:
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return np.mean(losses[:5]), np.mean(losses[-5:])


def test_losses_go_down_on_a_fixed_batch():
    torch.manual_seed(0)
    model = MsaniiModel(ModelConfig.preset("tiny"))
    audio = torch.from_numpy(np.stack([sine_mix(1.0, 44_100), sine_mix(1.0, 44_100)[::-1].copy()]))
    magnitude_loss(model, audio)  # fits the scaler
    start, end = fixed_batch_loss_drops(lambda: magnitude_loss(model, audio, fit_scaler=False), model.magnitude_net)
    assert end < 0.7 * start
    gen = lambda: torch.Generator().manual_seed(0)  # same timesteps and noise every step
    start, end = fixed_batch_loss_drops(lambda: diffusion_loss(model.unet, model.spectral, model.schedule, audio, "v",
                                                               generator=gen()), model.unet, steps=120)
    assert end < 0.7 * start


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    common = ["--data", str(data), "--run-dir", str(run), "--preset", "tiny", "--batch-size", "2",
              "--crop-frames", "32", "--no-progress"]
    reply = cli("train", "magnitude", *common, "--max-steps", "3")
    assert reply["trained"] == {"unet": False, "magnitude": True} and reply["info"]["steps"] == 3
    reply = cli("train", "diffusion", *common, "--max-steps", "2")
    assert reply["trained"] == {"unet": True, "magnitude": True} and reply["info"]["steps"] == 2
    diffusion = Pipeline.from_checkpoint(run / "model.safetensors", "cpu").model.config.diffusion
    assert -1 < diffusion.data_mean < 1 and 0 < diffusion.data_std < 1  # measured, not the defaults
    return run


def test_an_interrupted_run_resumes_from_its_checkpoint(trained, data):
    state = torch.load(trained / "state-diffusion.pt", weights_only=True)
    assert state["step"] == 2
    reply = cli("train", "diffusion", "--data", str(data), "--run-dir", str(trained), "--preset", "tiny",
                "--batch-size", "2", "--crop-frames", "32", "--no-progress", "--max-steps", "4")
    assert reply["info"]["steps"] == 4  # went on from step 2, did not start over
    runs = reply["info"]["runs"]  # every invocation is on record, with its hardware
    assert [r["steps"] for r in runs] == [2, 2] and all("cores" in r["hardware"] for r in runs)
    assert len(torch.load(trained / "state-diffusion.pt", weights_only=True)["losses"]) == 4


def test_a_committed_checkpoint_without_its_state_trains_on(trained, data, tmp_path):
    """E.g. the bundled default copied into a fresh run folder: its U-Net, steps and history go on."""
    shutil.copyfile(trained / "model.safetensors", tmp_path / "model.safetensors")
    before = read_metadata(tmp_path / "model.safetensors")
    old = before["info"]["diffusion"]
    reply = cli("train", "diffusion", "--data", str(data), "--run-dir", str(tmp_path), "--preset", "tiny",
                "--batch-size", "2", "--crop-frames", "32", "--no-progress", "--max-steps", str(old["steps"] + 1))
    assert reply["info"]["steps"] == old["steps"] + 1  # counted on from the checkpoint's steps
    assert reply["info"]["runs"][:-1] == old["runs"] and reply["info"]["runs"][-1]["first_step"] == old["steps"]
    after = read_metadata(tmp_path / "model.safetensors")
    diffusion = lambda meta: (meta["config"]["diffusion"]["data_mean"], meta["config"]["diffusion"]["data_std"])
    assert diffusion(after) == diffusion(before)  # the U-Net's data statistics were not measured anew


def test_a_decaying_learning_rate_falls_linearly_to_zero_at_max_steps(trained, data, tmp_path):
    decaying, constant = tmp_path / "decaying", tmp_path / "constant"
    for run in (decaying, constant):
        run.mkdir()
        shutil.copyfile(trained / "model.safetensors", run / "model.safetensors")
    start = read_metadata(trained / "model.safetensors")["info"]["diffusion"]["steps"]
    common = ["--data", str(data), "--preset", "tiny", "--batch-size", "2", "--crop-frames", "32", "--no-progress",
              "--warmup-steps", "1", "--lr", "1e-3", "--max-steps", str(start + 3)]

    def lr(run: Path) -> float:
        return torch.load(run / "state-diffusion.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"]

    cli("train", "diffusion", *common, "--run-dir", str(decaying), "--decay-steps", "4")
    cli("train", "diffusion", *common, "--run-dir", str(constant))
    assert lr(decaying) == 0.0 and lr(constant) == pytest.approx(1e-3)
    # on the way: full until the last `decay_steps`, then linearly down, counted from max_steps
    config = TrainConfig(data_dir=data, run_dir=tmp_path, stage="diffusion", lr=1e-3, warmup_steps=1,
                         max_steps=100, decay_steps=40)
    for step, expected in ((10, 1e-3), (60, 1e-3), (80, 5e-4), (100, 0.0)):
        group = {"lr": 123.0}
        Trainer.decay_lr(SimpleNamespace(config=config, step=step, schedule=SimpleNamespace(last_epoch=step),
                                         optimizer=SimpleNamespace(param_groups=[group])))
        assert group["lr"] == pytest.approx(expected)


def test_a_copy_guess_for_a_model_without_context_is_refused_and_the_run_kept(trained, data, tmp_path):
    shutil.copyfile(trained / "model.safetensors", tmp_path / "model.safetensors")
    before = (tmp_path / "model.safetensors").read_bytes()
    done = subprocess.run([CLI, "train", "diffusion", "--data", str(data), "--run-dir", str(tmp_path), "--preset", "tiny",
                           "--max-steps", "1", "--context-guess", "copy", "--no-progress"], capture_output=True, text=True)
    assert done.returncode != 0 and "no context input" in done.stdout + done.stderr
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_diffusion_before_the_magnitude_network_is_refused(data, tmp_path):
    done = subprocess.run([CLI, "train", "diffusion", "--data", str(data), "--run-dir", str(tmp_path / "r"),
                           "--preset", "tiny", "--max-steps", "1"], capture_output=True, text=True)
    assert done.returncode == 2 and "train the magnitude network first" in done.stdout


def test_trained_checkpoint_renders_with_prompts(trained):
    pipeline = Pipeline.from_checkpoint(trained / "model.safetensors", "cpu")
    assert pipeline.model.config.conditioning.text_encoder == "all-MiniLM-L6-v2"
    clip = sine_mix(2.0, 44_100)
    settings = RenderSettings(steps=3, griffin_lim_iters=3)
    plain = pipeline.style_transfer(clip, 44_100, 0.7, seed=1, settings=settings).audio
    strings = pipeline.style_transfer(clip, 44_100, 0.7, seed=1, settings=RenderSettings(
        steps=3, griffin_lim_iters=3, prompt="chorale on string ensemble")).audio
    again = pipeline.style_transfer(clip, 44_100, 0.7, seed=1, settings=RenderSettings(
        steps=3, griffin_lim_iters=3, prompt="chorale on string ensemble")).audio
    assert np.array_equal(strings, again) and not np.allclose(plain, strings)


def test_evaluation_compares_models_with_the_baselines_and_plots(trained, data, tmp_path):
    previous = Path(__file__).parents[1] / "engine" / "models" / "default.safetensors"
    stages = []  # a run trained in two stages, each with its own snapshots folder
    for stage, name in (("first", "model-30-20s"), ("on", "model-10-7s")):
        (tmp_path / stage / "snapshots").mkdir(parents=True)
        shutil.copyfile(trained / "model.safetensors", tmp_path / stage / "snapshots" / f"{name}.safetensors")
        stages.append(str(tmp_path / stage / "snapshots"))
    reply = cli("evaluate", "--checkpoint", str(trained / "model.safetensors"), "--compare", str(previous),
                "--data", str(data), "--out", str(tmp_path / "eval"), "--clips", "1", "--clip-seconds", "6",
                "--gaps", "1", "--extensions", "1", "--snapshots", *stages)
    results = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(results["regions"]) == {"gap 1 s", "extension 1 s"}
    gap = results["regions"]["gap 1 s"]
    assert set(gap) == {"model", "model, model alone", "default", "default, model alone", "silence", "loop-repeat",
                        "shaped noise", "resynthesis floor (model)", "resynthesis floor (default)"}
    assert [row["guide"] for row in results["guide_curve"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert all(np.isfinite(row[case]["log_mel_l1_db"]) for row in results["guide_curve"] for case in ("gap_2s", "extension_2s"))
    assert gap["resynthesis floor (model)"]["log_mel_l1_db"] < gap["silence"]["log_mel_l1_db"]
    assert {r["strength"] for r in results["style_transfer"]["model"]} == {0.1, 0.3, 0.5, 0.7, 0.9}
    generation = results["generation"]
    assert all(np.isfinite(m["frechet_distance"]) and m["frechet_distance"] >= 0
               for name, m in {**generation["yardsticks"], **generation}.items() if "frechet_distance" in m)
    assert {"model, no prompt", "default, no prompt"} <= set(generation)
    assert [(row["steps"], row["train_seconds"]) for row in results["training_curve"]] == [(10, 7), (30, 20)]
    assert all(np.isfinite(row["gap_2s"]["log_mel_l1_db"]) for row in results["training_curve"])
    assert reply["beats_loop_repeat_and_noise"].keys() == {"gap 1 s", "extension 1 s"}
    assert "| gap 1 s | loop-repeat |" in (tmp_path / "eval" / "report.md").read_text()
    music = {**generation["yardsticks"], **{k: v for k, v in generation.items() if k != "yardsticks"}}
    assert all(0 <= music[name]["pitched"] <= 1 and np.isfinite(music[name]["periodicity"]) for name in music)
    assert all(music[name]["crepe_frechet_distance"] >= 0 for name in music if name != "held-out music")
    levels = results["noise_levels"]
    assert levels["levels"] == list(range(50, 1000, 100))
    assert all(len(levels[m][k]) == 10 and min(levels[m][k]) >= 0 for m in ("model", "default") for k in ("loss", "floor"))
    assert np.mean(levels["model"]["floor"]) > 0.1  # the tiny U-Net reaches 16 of the 128 bands: a floor
    for png in ("spectrograms.png", "curves.png"):
        assert (tmp_path / "eval" / png).stat().st_size > 10_000


def test_evaluation_names_a_missing_snapshots_folder(data, tmp_path):
    done = subprocess.run([CLI, "evaluate", "--checkpoint", str(Path(__file__).parents[1] / "engine" / "models" /
                                                                "default.safetensors"),
                           "--data", str(data), "--out", str(tmp_path / "e"), "--snapshots", str(tmp_path / "gone")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and f"{tmp_path / 'gone'}: no such snapshots folder" in done.stdout
    assert not (tmp_path / "e").exists()


def test_evaluation_without_held_out_tracks_says_so(data, tmp_path):
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    lines = [line for line in (data / "manifest.jsonl").read_text().splitlines() if '"heldout"' not in line]
    (lonely / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    done = subprocess.run([CLI, "evaluate", "--checkpoint", str(Path(__file__).parents[1] / "engine" / "models" /
                                                                "default.safetensors"),
                           "--data", str(lonely), "--out", str(tmp_path / "e")], capture_output=True, text=True)
    assert done.returncode == 2 and "no held-out tracks" in done.stdout


def test_torchrun_trains_with_two_processes(data, tmp_path):
    """DDP for real: two CPU processes (gloo) step together and rank 0 writes the checkpoint."""
    run = tmp_path / "ddp"
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    done = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "bridge.cli", "train", "magnitude",
                           "--data", str(data), "--run-dir", str(run), "--preset", "tiny", "--batch-size", "2",
                           "--crop-frames", "32", "--max-steps", "3", "--no-progress"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    info = Pipeline.from_checkpoint(run / "model.safetensors", "cpu").metadata["info"]["magnitude"]
    assert info["world_size"] == 2 and info["steps"] == 3


def test_an_outer_stage_grows_around_a_trained_unet_and_another_width_is_refused(trained, data, tmp_path):
    shutil.copyfile(trained / "model.safetensors", tmp_path / "model.safetensors")
    steps = read_metadata(trained / "model.safetensors")["info"]["diffusion"]["steps"]
    common = ["train", "diffusion", "--data", str(data), "--run-dir", str(tmp_path), "--preset", "tiny",
              "--batch-size", "2", "--crop-frames", "32", "--no-progress", "--outer-width", "128", "--outer-blocks", "1"]
    cli(*common, "--max-steps", str(steps))  # grown, not trained: the same model
    body = Pipeline.from_checkpoint(trained / "model.safetensors", "cpu").model.unet
    grown = Pipeline.from_checkpoint(tmp_path / "model.safetensors", "cpu").model.unet
    assert (grown.config.d_outer, grown.config.n_outer_blocks, grown.config.output_rank) == (128, 1, 128)
    x, t = torch.randn(1, 2, 128, 32), torch.tensor([300.0])
    assert torch.equal(grown(x, t), body(x, t))
    assert cli(*common, "--max-steps", str(steps + 2))["info"]["steps"] == steps + 2  # and it trains on
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    done = subprocess.run([CLI, *common[:-2], "--outer-width", "64", "--max-steps", str(steps + 3)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "outer stage of width 128 and 1 blocks, not 64" in done.stdout
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == kept


def test_a_local_stage_grows_onto_a_trained_unet_and_another_shape_is_refused(trained, data, tmp_path):
    shutil.copyfile(trained / "model.safetensors", tmp_path / "model.safetensors")
    steps = read_metadata(trained / "model.safetensors")["info"]["diffusion"]["steps"]
    common = ["train", "diffusion", "--data", str(data), "--run-dir", str(tmp_path), "--preset", "tiny",
              "--batch-size", "2", "--crop-frames", "32", "--no-progress", "--local-width", "8"]
    cli(*common, "--max-steps", str(steps))  # grown, not trained: the same model
    body = Pipeline.from_checkpoint(trained / "model.safetensors", "cpu").model.unet
    grown = Pipeline.from_checkpoint(tmp_path / "model.safetensors", "cpu").model.unet
    assert (grown.config.d_local, grown.config.n_local_layers, grown.config.output_rank) == (8, 3, 128)
    x, t = torch.randn(1, 2, 128, 32), torch.tensor([300.0])
    assert torch.equal(grown(x, t), body(x, t))
    assert cli(*common, "--max-steps", str(steps + 2))["info"]["steps"] == steps + 2  # and it trains on
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    done = subprocess.run([CLI, *common, "--local-layers", "2", "--max-steps", str(steps + 3)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "local stage of width 8 and 3 layers, not 8 and 2" in done.stdout
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == kept


def test_a_linear_path_learns_the_noise_level_in_a_new_folder_and_cannot_unlearn_it(trained, data, tmp_path):
    steps = read_metadata(trained / "model.safetensors")["info"]["diffusion"]["steps"]
    linear, scaled = tmp_path / "linear", tmp_path / "scaled"
    for run in (linear, scaled):
        run.mkdir()
    shutil.copyfile(trained / "model.safetensors", linear / "model.safetensors")
    common = ["train", "diffusion", "--data", str(data), "--preset", "tiny", "--batch-size", "2", "--crop-frames", "32",
              "--no-progress", "--outer-width", "32", "--outer-blocks", "0"]
    cli(*common, "--run-dir", str(linear), "--max-steps", str(steps + 2))  # a trained linear path
    shutil.copyfile(linear / "model.safetensors", scaled / "model.safetensors")
    cli(*common, "--run-dir", str(scaled), "--outer-timestep", "--max-steps", str(steps + 2))  # grown, not trained
    before = Pipeline.from_checkpoint(linear / "model.safetensors", "cpu").model.unet
    after = Pipeline.from_checkpoint(scaled / "model.safetensors", "cpu").model.unet
    assert after.config.outer_timestep and not before.config.outer_timestep
    x, t = torch.randn(1, 2, 128, 32), torch.tensor([900.0])
    assert torch.equal(after(x, t), before(x, t))
    kept = {p.name: p.read_bytes() for p in scaled.iterdir() if p.is_file()}
    done = subprocess.run([CLI, *common, "--run-dir", str(scaled), "--max-steps", str(steps + 3)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "scaled per noise level, not 32 and 0" in done.stdout
    assert {p.name: p.read_bytes() for p in scaled.iterdir() if p.is_file()} == kept


def test_a_run_folder_of_another_architecture_is_refused_naming_both(trained, data, tmp_path):
    grown = tmp_path / "grown"
    grown.mkdir()
    shutil.copyfile(trained / "model.safetensors", grown / "model.safetensors")
    steps = read_metadata(trained / "model.safetensors")["info"]["diffusion"]["steps"]
    cli("train", "diffusion", "--data", str(data), "--run-dir", str(grown), "--preset", "tiny", "--no-progress",
        "--outer-width", "32", "--max-steps", str(steps))
    mixed = tmp_path / "mixed"  # the grown model beside the narrow U-Net's training state
    mixed.mkdir()
    shutil.copyfile(grown / "model.safetensors", mixed / "model.safetensors")
    shutil.copyfile(trained / "state-diffusion.pt", mixed / "state-diffusion.pt")
    kept = {p.name: p.read_bytes() for p in mixed.iterdir()}
    done = subprocess.run([CLI, "train", "diffusion", "--data", str(data), "--run-dir", str(mixed), "--preset", "tiny",
                           "--no-progress", "--max-steps", str(steps + 5)], capture_output=True, text=True)
    assert done.returncode == 2 and "another architecture" in done.stdout
    assert "outer stage width 32" in done.stdout and "use another run folder" in done.stdout
    assert {p.name: p.read_bytes() for p in mixed.iterdir()} == kept


def test_packed_data_is_a_small_vorbis_copy_of_training_tracks_with_its_captions_embedded(data, tmp_path, monkeypatch):
    from engine.train import conditions
    from engine.train.conditions import Conditions
    from engine.train.pack import pack_data

    packed = pack_data(data, tmp_path / "packed", max_mib=1.0, seconds=5.0, encoder="all-MiniLM-L6-v2")
    entries = read_manifest(tmp_path / "packed")
    train = {e["file"]: e for e in read_manifest(data, "train")}
    assert packed.files == len(entries) > 0 and {e["packed_from"] for e in entries} <= set(train)  # none held out
    assert sum(Path(e["path"]).stat().st_size for e in entries) <= 2**20
    for entry in entries:
        info = sf.info(entry["path"])
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "VORBIS", 44_100, 2)
        assert info.duration == pytest.approx(entry["duration"], abs=0.05) and entry["duration"] <= 5.0
        assert entry["caption"] == train[entry["packed_from"]]["caption"]
    kept = (tmp_path / "packed" / "manifest.jsonl").read_bytes()
    with pytest.raises(FileExistsError, match="pack into a new one"):
        pack_data(data, tmp_path / "packed", max_mib=1.0)
    assert (tmp_path / "packed" / "manifest.jsonl").read_bytes() == kept
    captions = sorted({e["caption"] for e in entries})
    encoded = Conditions("all-MiniLM-L6-v2", captions, 0.0)
    monkeypatch.setattr(conditions, "text_encoder", lambda name: pytest.fail("the encoder was loaded"))
    stored = Conditions("all-MiniLM-L6-v2", captions, 0.0, tmp_path / "packed")
    for text in captions:
        assert stored.embedded[text][1] == encoded.embedded[text][1]
        assert torch.allclose(stored.embedded[text][0], encoded.embedded[text][0], rtol=1e-2, atol=2e-3)  # float16
