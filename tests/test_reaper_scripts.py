"""The REAPER action scripts: busted under Lua 5.4 with a mock `reaper` table (tests/reaper/),
including specs that run the real `render` command against a real engine."""

import os
import re
import subprocess
from pathlib import Path

import soundfile as sf
from processes import CLI, require
from signals import sine_mix

ROOT = Path(__file__).resolve().parents[1]


def busted(spec: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([require("lua5.4"), require("busted"), "--output", "TAP", f"tests/reaper/{spec}"],
                          cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)


def test_actions_under_the_mock_reaper():
    done = busted("actions_spec.lua")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not ok" not in done.stdout and len(re.findall(r"^ok ", done.stdout, re.M)) >= 30


def test_the_daw_neutral_core_under_a_fake_host():
    done = busted("core_spec.lua")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not ok" not in done.stdout and len(re.findall(r"^ok ", done.stdout, re.M)) >= 6


def test_no_lua_file_is_over_about_300_lines_and_only_the_adapter_and_actions_call_reaper():
    scripts = {p.name: p.read_text() for p in (ROOT / "reaper_scripts").glob("*.lua")}
    assert max(text.count("\n") for text in scripts.values()) <= 300
    calling = sorted(name for name, text in scripts.items() if "reaper." in text and not name.startswith("daw-diffusion - "))
    assert calling == ["daw-diffusion_actions.lua", "daw-diffusion_lib.lua"]


def test_actions_run_the_real_cli_against_a_real_engine(engine_endpoint, tmp_path):
    wav = tmp_path / "take 1.wav"
    sf.write(wav, sine_mix(3.0, 48_000).T, 48_000, subtype="PCM_24")
    out = tmp_path / "Media Files"
    out.mkdir()
    done = busted("integration_spec.lua", {"DD_CLI": CLI, "DD_ENGINE": engine_endpoint, "DD_WAV": str(wav),
                                           "DD_OUT": str(out)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(re.findall(r"^ok ", done.stdout, re.M)) == 7
    assert sf.read(wav)[0].shape == (144_000, 2)  # the source is untouched
