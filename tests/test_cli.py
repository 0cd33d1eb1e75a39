"""The real `daw-diffusion` command, as REAPER scripts will run it: files in, files out."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import sine_mix

CLI = str(Path(sys.executable).with_name("daw-diffusion"))
FAST = ["--steps", "3", "--griffin-lim-iters", "3"]


def run(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    status, reply = run("init", str(path), "--preset", "tiny")
    assert status == 0 and reply["ok"], reply
    return path


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "take 1.wav"  # a space, as in real project folders
    sf.write(path, sine_mix(3.0, 48_000).T, 48_000, subtype="PCM_24")
    return path


def test_style_transfer_of_a_slice_writes_a_matching_wav(checkpoint, source, tmp_path):
    out = tmp_path / "out" / "styled.wav"
    progress = tmp_path / "progress.txt"
    status, reply = run("render", "--task", "style", "--input", str(source), "--offset", "0.5",
                        "--length", "2", "--strength", "0.4", "--output", str(out), "--seed", "7",
                        "--checkpoint", str(checkpoint), "--progress-file", str(progress), *FAST)
    assert status == 0, reply
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (48_000, 2, 96_000)
    assert reply["outputs"][0]["path"] == str(out.resolve()) and reply["outputs"][0]["seed"] == 7
    assert progress.read_text().split()[0] == "1.0000"
    assert not [p for p in out.parent.iterdir() if p.name != "styled.wav"]  # no temporary left


def test_inpaint_via_cli_keeps_the_rest_of_the_slice(checkpoint, source, tmp_path):
    out = tmp_path / "inpainted.wav"
    status, reply = run("render", "--task", "inpaint", "--input", str(source), "--region", "1.0:1.5",
                        "--region", "2:2.5", "--output", str(out), "--checkpoint", str(checkpoint), *FAST)
    assert status == 0, reply
    original, _ = sf.read(source, dtype="float32")
    rendered, _ = sf.read(out, dtype="float32")
    # 24-bit source in, float out: outside the regions the decoded samples are equal
    assert np.array_equal(rendered[:48_000], original[:48_000])
    assert np.array_equal(rendered[120_000:], original[120_000:])


def test_generate_variations_and_extend(checkpoint, tmp_path):
    status, reply = run("render", "--task", "generate", "--seconds", "1.5", "--variations", "2",
                        "--output", str(tmp_path / "gen.wav"), "--checkpoint", str(checkpoint), "--seed", "3", *FAST)
    assert status == 0, reply
    assert [Path(o["path"]).name for o in reply["outputs"]] == ["gen-v1.wav", "gen-v2.wav"]
    assert [o["seed"] for o in reply["outputs"]] == [3, 4]
    status, reply = run("render", "--task", "extend", "--input", reply["outputs"][0]["path"], "--seconds", "1",
                        "--direction", "left", "--output", str(tmp_path / "ext.wav"),
                        "--checkpoint", str(checkpoint), *FAST)
    assert status == 0, reply
    assert sf.info(tmp_path / "ext.wav").frames == round(2.5 * 44_100)


def test_an_existing_output_is_never_overwritten(checkpoint, source, tmp_path):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(out),
                        "--checkpoint", str(checkpoint), *FAST)
    assert status == 2 and "already exists" in reply["message"]
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("args, words", [
    (["--task", "style", "--input", "{corrupt}"], "not a readable audio file"),
    (["--task", "style", "--input", "{missing}"], "no such file"),
    (["--task", "style", "--input", "{source}", "--offset", "60"], "past the end"),
    (["--task", "style", "--input", "{source}", "--strength", "3"], "strength"),
    (["--task", "inpaint", "--input", "{source}", "--region", "2:1"], "start must come before end"),
    (["--task", "inpaint", "--input", "{source}", "--region", "1:99"], "outside the audio"),
    (["--task", "generate", "--seconds", "-2"], "seconds"),
    (["--task", "generate", "--seconds", "1", "--checkpoint", "{missing}"], "no such checkpoint"),
    (["--task", "outpaint", "--input", "{source}", "--seconds", "1", "--steps", "0"], "steps"),
])
def test_bad_input_exits_2_with_one_json_line(checkpoint, source, tmp_path, args, words):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    names = {"corrupt": corrupt, "missing": tmp_path / "missing.wav", "source": source}
    args = [a.format(**names) for a in args]
    if "--checkpoint" not in args:
        args += ["--checkpoint", str(checkpoint)]
    status, reply = run("render", *args, "--output", str(tmp_path / "o.wav"))
    assert status == 2 and reply["ok"] is False
    assert words in reply["message"]
    assert not (tmp_path / "o.wav").exists()


def test_info_reports_the_checkpoint(checkpoint):
    status, reply = run("info", str(checkpoint))
    assert status == 0 and reply["format_version"] == 1 and reply["config"]["unet"]["d_base"] == 16
