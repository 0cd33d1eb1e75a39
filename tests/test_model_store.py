"""`daw-diffusion models` and `--model NAME`: the user's models folder, for real (the CLI,
engine processes, files on disk)."""

import json
import shutil
import subprocess
import time

import soundfile as sf
from processes import CLI, files, free_port, models
from signals import sine_mix

from engine.client import EngineClient


def test_the_bundled_model_is_always_there_and_an_import_becomes_a_name(tiny_checkpoint, tmp_path):
    folder = tmp_path / "models"
    status, listed = models(folder, "list")
    assert status == 0 and [m["name"] for m in listed["models"]] == ["bundled"]
    [bundled] = listed["models"]
    assert (bundled["kind"], bundled["sample_rate"], bundled["hop"], bundled["default"]) == ("msanii", 44_100, 512, True)
    assert "data/real" in bundled["trained_on"]
    status, imported = models(folder, "import", str(tiny_checkpoint), "--name", "tiny")
    assert status == 0 and imported["imported"]["name"] == "tiny" and not imported["imported"]["default"]
    assert (folder / "tiny.safetensors").read_bytes() == tiny_checkpoint.read_bytes()
    assert models(folder, "default", "tiny")[0] == 0
    listed = {m["name"]: m for m in models(folder, "list")[1]["models"]}
    assert listed["tiny"]["default"] and not listed["bundled"]["default"]
    assert models(folder, "info", "tiny")[1]["bytes"] == tiny_checkpoint.stat().st_size
    status, removed = models(folder, "remove", "tiny")
    assert status == 0 and not (folder / "tiny.safetensors").exists()
    assert [m["name"] for m in models(folder, "list")[1]["models"] if m["default"]] == ["bundled"]


def test_bad_imports_and_removals_exit_2_naming_the_file_and_change_nothing(tiny_checkpoint, tmp_path):
    folder = tmp_path / "models"
    assert models(folder, "import", str(tiny_checkpoint), "--name", "tiny")[0] == 0
    before = files(folder)
    truncated, text = tmp_path / "cut.safetensors", tmp_path / "notes.safetensors"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    text.write_text("not a model")
    cases = [(("import", str(tiny_checkpoint), "--name", "tiny"), "a model named 'tiny' exists"),
             (("import", str(truncated), "--name", "cut"), "cut.safetensors"),
             (("import", str(text)), "notes.safetensors"),
             (("import", str(tiny_checkpoint), "--name", "../evil"), "cannot name a model"),
             (("remove", "bundled"), "cannot be removed"),
             (("default", "nothing"), "no model named 'nothing'")]
    for args, says in cases:
        status, reply = models(folder, *args)
        assert status == 2 and reply["ok"] is False and says in reply["message"], (args, reply)
        assert files(folder) == before  # nothing half-written, no model touched
    assert files(folder) == before


def test_a_read_only_models_folder_is_refused_with_a_clear_message(tiny_checkpoint, tmp_path):
    """(As root a mode cannot stop a write: a file where the folder should be does.)"""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    status, reply = models(blocked, "import", str(tiny_checkpoint), "--name", "tiny")
    assert status == 2 and "cannot store the model there" in reply["message"]
    assert blocked.read_text() == "a file, not a folder"


def test_two_engines_on_two_models_at_once_each_say_which_model_made_a_render(tiny_checkpoint, tmp_path):
    folder = tmp_path / "models"
    other = tmp_path / "elsewhere" / "second.safetensors"
    other.parent.mkdir()
    shutil.copyfile(tiny_checkpoint, other)
    assert models(folder, "import", str(tiny_checkpoint), "--name", "first")[0] == 0
    assert models(folder, "default", "first")[0] == 0
    engines = {}
    try:
        for label, choice in (("first", []), ("second", ["--model", str(other)])):  # the default, and a file
            endpoint = f"tcp://127.0.0.1:{free_port()}"
            engines[label] = (subprocess.Popen([CLI, "engine", "--bind", endpoint, "--models-dir", str(folder),
                                                *choice], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                              endpoint)
        source = tmp_path / "take.wav"
        sf.write(source, sine_mix(1.0, 44_100).T, 44_100)
        for label, (proc, endpoint) in engines.items():
            deadline = time.monotonic() + 60
            while not EngineClient(endpoint).pinged(0.5):
                assert proc.poll() is None and time.monotonic() < deadline
            assert EngineClient(endpoint).status()["model"]["name"] == label
            done = subprocess.run([CLI, "render", "--task", "style", "--input", str(source), "--strength", "0.3",
                                   "--steps", "2", "--engine", endpoint, "--output", str(tmp_path / f"{label}.wav")],
                                  capture_output=True, text=True, timeout=120)
            assert json.loads(done.stdout.splitlines()[-1])["outputs"][0]["model"] == label
        status, reply = models(folder, "list")
        assert status == 0 and {m["name"] for m in reply["models"]} == {"bundled", "first"}
    finally:
        for proc, _ in engines.values():
            proc.kill()
            proc.wait()


def test_an_unknown_model_name_is_refused_before_the_engine_loads(tmp_path):
    done = subprocess.run([CLI, "engine", "--bind", f"tcp://127.0.0.1:{free_port()}", "--models-dir", str(tmp_path),
                           "--model", "nonesuch"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no model named 'nonesuch'" in done.stdout
