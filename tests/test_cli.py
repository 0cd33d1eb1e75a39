"""The real `daw-diffusion` command, as REAPER scripts run it: files in, a real engine process,
files out; one JSON line and a distinct exit code for every way it can end."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from processes import CLI, free_port, start_engine
from signals import sine_mix

from engine.client import EngineClient

FAST = ["--steps", "3", "--griffin-lim-iters", "3"]


def run(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> Path:
    return tiny_checkpoint


@pytest.fixture
def engine(engine_endpoint) -> list[str]:
    return ["--engine", engine_endpoint]


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "take 1.wav"  # a space, as in real project folders
    sf.write(path, sine_mix(3.0, 48_000).T, 48_000, subtype="PCM_24")
    return path


def test_style_transfer_of_a_slice_writes_a_matching_wav(engine, source, tmp_path):
    out = tmp_path / "out" / "styled.wav"
    progress = tmp_path / "progress.txt"
    status, reply = run("render", "--task", "style", "--input", str(source), "--offset", "0.5",
                        "--length", "2", "--strength", "0.4", "--output", str(out), "--seed", "7",
                        *engine, "--progress-file", str(progress), *FAST)
    assert status == 0, reply
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (48_000, 2, 96_000)
    assert reply["outputs"][0]["path"] == str(out.resolve()) and reply["outputs"][0]["seed"] == 7
    assert progress.read_text().split()[0] == "1.0000"
    assert not [p for p in out.parent.iterdir() if p.name != "styled.wav"]  # no temporary left


@pytest.mark.parametrize("guide", ["0", "0.5", "1"])
def test_inpaint_via_cli_keeps_the_rest_of_the_slice(engine, source, tmp_path, guide):
    out = tmp_path / "inpainted.wav"
    status, reply = run("render", "--task", "inpaint", "--input", str(source), "--region", "1.0:1.5",
                        "--region", "2:2.5", "--guide", guide, "--output", str(out), *engine, *FAST)
    assert status == 0, reply
    original, _ = sf.read(source, dtype="float32")
    rendered, _ = sf.read(out, dtype="float32")
    # 24-bit source in, float out: outside the regions the decoded samples are equal
    assert np.array_equal(rendered[:48_000], original[:48_000])
    assert np.array_equal(rendered[120_000:], original[120_000:])


def test_generate_variations_and_extend(engine, tmp_path):
    status, reply = run("render", "--task", "generate", "--seconds", "1.5", "--variations", "2",
                        "--output", str(tmp_path / "gen.wav"), *engine, "--seed", "3", *FAST)
    assert status == 0, reply
    assert [Path(o["path"]).name for o in reply["outputs"]] == ["gen-v1.wav", "gen-v2.wav"]
    assert [o["seed"] for o in reply["outputs"]] == [3, 4]
    status, reply = run("render", "--task", "extend", "--input", reply["outputs"][0]["path"], "--seconds", "1",
                        "--direction", "left", "--output", str(tmp_path / "ext.wav"),
                        *engine, *FAST)
    assert status == 0, reply
    assert sf.info(tmp_path / "ext.wav").frames == round(2.5 * 44_100)


def test_bars_and_snapping_from_the_command_line(engine, source, tmp_path):
    status, reply = run("render", "--task", "extend", "--input", str(source), "--bars", "2", "--bpm", "97",
                        "--output", str(tmp_path / "bars.wav"), *engine, *FAST)
    assert status == 0, reply
    assert sf.info(tmp_path / "bars.wav").frames == 144_000 + round(8 * 60 * 48_000 / 97)
    out = reply["outputs"][0]
    assert (out["bars"], out["bpm"], out["beats_per_bar"], out["tempo"]) == (2, 97, 4, "given")
    status, reply = run("render", "--task", "inpaint", "--input", str(source), "--region", "0.9:1.7", "--snap", "bar",
                        "--bpm", "120", "--beats-per-bar", "2", "--beat-offset", "0", "--output", str(tmp_path / "s.wav"),
                        *engine, *FAST)
    assert status == 0, reply
    assert reply["outputs"][0]["regions"] == [[1.0, 2.0]] and reply["outputs"][0]["downbeat"] == "given"


def test_an_existing_output_is_never_overwritten(engine, source, tmp_path):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(out), *engine, *FAST)
    assert status == 2 and "already exists" in reply["message"]
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("args, words", [
    (["--task", "style", "--input", "{corrupt}"], "not a readable audio file"),
    (["--task", "style", "--input", "{missing}"], "no such file"),
    (["--task", "style", "--input", "{fifo}"], "is a FIFO (named pipe), not an audio file"),  # never opened: no hang
    (["--task", "style", "--input", "{folder}"], "is a folder, not an audio file"),
    (["--task", "style", "--input", "{source}", "--offset", "60"], "past the end"),
    (["--task", "style", "--input", "{source}", "--strength", "3"], "strength"),
    (["--task", "inpaint", "--input", "{source}", "--region", "1:2", "--guide", "2"], "guide must be a number from 0 to 1"),
    (["--task", "inpaint", "--input", "{source}", "--region", "2:1"], "start must come before end"),
    (["--task", "inpaint", "--input", "{source}", "--region", "1:99"], "outside the audio"),
    (["--task", "generate", "--seconds", "-2"], "seconds"),
    (["--task", "inpaint", "--input", "{source}"], "at least one --region"),
    (["--task", "interpolate", "--input", "{source}", "--ratio", "0.5"], "--input-b is needed"),
    (["--task", "outpaint", "--input", "{source}", "--seconds", "1", "--steps", "0"], "steps"),
    (["--task", "extend", "--input", "{source}"], "needs its length: --seconds or --bars"),
    (["--task", "extend", "--input", "{source}", "--bars", "2", "--seconds", "3", "--bpm", "90"], "not both"),
    (["--task", "styl", "--input", "{source}"], "invalid choice: 'styl'"),  # argument errors: JSON too
    (["--task", "inpaint", "--input", "{source}", "--region", "4-5"], "a region is START:END in seconds"),
    (["--task", "extend", "--input", "{source}", "--bars", "2", "--bpm", "900"], "bpm must be a number from 20 to 400"),
    (["--task", "extend", "--input", "{source}", "--bars", "1e6", "--bpm", "97"], "1e+06 bars at 97 BPM"),
    (["--task", "generate", "--bars", "2"], "a length in bars needs a tempo"),
    (["--task", "generate", "--seconds", "0.00001"], "seconds must be from 0.01"),
    (["--task", "generate", "--seconds", "2", "--prompt", "piano \udcff"], "--prompt is not valid text"),
    (["--task", "style", "--input", "{source}", "--length", "1e-9"], "shorter than one sample"),
    (["--task", "style", "--input", "{source}", "--length", "inf"], "length one > 0"),
    (["--task", "style", "--input", "{source}", "--offset", "nan"], "offset must be a number"),
    (["--task", "style", "--input", "/" + "x" * 5000 + ".wav"], "cannot be read"),
    (["--task", "generate", "--seconds", "2", "--seed", str(2**63 - 1), "--variations", "2"], "leaves no room for 2"),
    (["--task", "style", "--input", "{source}", "--curve-server-key", "{missing}", "--curve-secret", "{missing}"],
     "cannot read the secret key"),
    (["--task", "inpaint", "--input", "{source}", "--region", "1:2", "--snap", "bar"], "no steady beat"),
    (["--task", "style", "--input", "{source}", "--progress-file", "{missing}/p.txt"], "--progress-file"),
    (["--task", "style", "--input", "{source}", "--region", "1:2"], "style_transfer does not use --region"),
    (["--task", "generate", "--seconds", "2", "--input", "{source}"], "generate does not use --input"),
])
def test_bad_input_exits_2_with_one_json_line(engine, source, tmp_path, args, words):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    os.mkfifo(tmp_path / "pipe.wav")
    names = {"corrupt": corrupt, "missing": tmp_path / "missing.wav", "source": source, "fifo": tmp_path / "pipe.wav",
             "folder": tmp_path}
    args = [a.format(**names) for a in args]
    status, reply = run("render", *args, *engine, "--output", str(tmp_path / "o.wav"))
    assert status == 2 and reply["ok"] is False
    assert words in reply["message"]
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("flag", ["--progress-file", "--result-file"])
def test_an_existing_progress_or_result_file_is_never_replaced(engine, source, tmp_path, flag):
    theirs = tmp_path / "notes.txt"
    theirs.write_text("someone's notes")
    status, reply = run("render", "--task", "style", "--input", str(source), "--strength", "0.3", flag, str(theirs),
                        *engine, "--output", str(tmp_path / "o.wav"))
    assert status == 2 and reply["code"] == "bad_file" and "a file of that name exists" in reply["message"]
    assert theirs.read_text() == "someone's notes" and not (tmp_path / "o.wav").exists()


def test_vary_from_the_command_line_keeps_the_loops_length(engine, source, tmp_path):
    status, reply = run("render", "--task", "vary", "--input", str(source), "--strength", "0.4", "--seed", "2",
                        "--output", str(tmp_path / "varied.wav"), *engine, *FAST)
    assert status == 0, reply
    assert sf.info(tmp_path / "varied.wav").frames == sf.info(source).frames


def test_an_output_name_the_file_system_cannot_hold_is_bad_input(engine, source, tmp_path):
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(tmp_path / ("a" * 300 + ".wav")),
                        *engine)
    assert (status, reply["code"]) == (2, "bad_file") and "file name too long" in reply["message"], reply


def sparse_wav(path: Path, seconds: float, rate: int = 48_000, channels: int = 2) -> Path:
    """A 16-bit WAV whose header declares `seconds` of audio, the data a sparse hole (no disk used)."""
    import struct

    data = round(seconds * rate) * channels * 2
    header = (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) +
              b"data" + struct.pack("<I", data))
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data)
    return path


def test_audio_over_the_engines_message_limit_is_refused_before_it_is_decoded(engine, tmp_path):
    big = sparse_wav(tmp_path / "twelve minutes.wav", 12 * 60)  # 276 MB as float32: over the 256 MiB limit
    started = time.monotonic()
    status, reply = run("render", "--task", "style", "--input", str(big), "--output", str(tmp_path / "o.wav"), *engine)
    assert (status, reply["code"]) == (2, "too_large") and "select a shorter part" in reply["message"], reply
    assert time.monotonic() - started < 20  # refused from the header, not after decoding 276 MB
    status, reply = run("render", "--task", "style", "--input", str(big), "--length", "20", "--steps", "2",
                        "--output", str(tmp_path / "o.wav"), *engine)
    assert reply["code"] == "bad_audio" and "silent" in reply["message"]  # a slice reaches the engine (the hole is silence)


@pytest.fixture
def small_mount(tmp_path):
    """A 2 MiB tmpfs (root only): `small_mount(read_only)` -> its folder."""
    mounted = []

    def make(read_only: bool) -> Path:
        folder = tmp_path / f"mount{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m" + (",ro" if read_only else ""), "tmpfs",
                               str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)])


@pytest.mark.parametrize("read_only", [True, False])
def test_an_unwritable_or_full_output_folder_is_refused_before_the_render(engine, source, tmp_path,
                                                                          small_mount, read_only):
    folder = small_mount(read_only)
    started = time.monotonic()
    status, reply = run("render", "--task", "style", "--input", str(source), "--strength", "1", "--steps", "1000",
                        "--output", str(folder / "styled.wav"), *engine)
    assert (status, reply["code"]) == (2, "bad_file"), reply
    words = "Read-only file system" if read_only else "MiB free; this render needs about"
    assert words in reply["message"] and str(folder) in reply["message"]
    assert time.monotonic() - started < 15  # told at once, not after 1000 steps
    assert not list(folder.iterdir())


def test_info_reports_the_checkpoint(checkpoint):
    status, reply = run("info", str(checkpoint))
    assert status == 0 and reply["format_version"] == 1 and reply["config"]["unet"]["d_base"] == 16


def test_an_absent_engine_exits_3_quickly(source, tmp_path):
    started = time.monotonic()
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(tmp_path / "o.wav"),
                        "--engine", f"tcp://127.0.0.1:{free_port()}", "--timeout", "2")
    assert status == 3 and reply["code"] == "unreachable" and "daw-diffusion serve" in reply["message"]
    assert time.monotonic() - started < 30
    assert not (tmp_path / "o.wav").exists()


def slow_render(engine, source, tmp_path, *extra):
    progress = tmp_path / "progress.txt"
    proc = subprocess.Popen([CLI, "render", "--task", "style", "--input", str(source), "--out-dir", str(tmp_path / "out"),
                             "--steps", "1000", "--strength", "1", "--progress-file", str(progress), *engine, *extra],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (progress.exists() and progress.read_text().split()[0] not in ("0.0000",)):
        assert time.monotonic() < deadline and proc.poll() is None, "the job never started"
        time.sleep(0.05)
    return proc, progress


@pytest.fixture
def own_engine(checkpoint):
    """An engine process of this test's own, to kill."""
    proc, endpoint = start_engine(checkpoint)
    yield proc, endpoint
    proc.kill()


@pytest.mark.parametrize("then", ["wait", "sigterm", "restart"])
def test_a_render_whose_engine_dies_mid_job_still_ends_with_its_json_line(own_engine, checkpoint, source,
                                                                          tmp_path, then):
    proc, endpoint = own_engine
    render, _ = slow_render(["--engine", endpoint, "--timeout", "2"], source, tmp_path)
    proc.kill()
    proc.wait()
    killed = time.monotonic()
    if then == "sigterm":
        render.send_signal(signal.SIGTERM)
    elif then == "restart":  # another engine on the same port, which never heard of the job
        restarted = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--checkpoint", str(checkpoint)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out, _ = render.communicate(timeout=60)
    finally:
        if then == "restart":
            restarted.kill()
    reply = json.loads(out.strip().splitlines()[-1])
    expected = {"wait": (3, "unreachable"), "sigterm": (4, "cancelled"), "restart": (1, "engine_lost")}[then]
    assert (render.returncode, reply["code"]) == expected, reply
    assert time.monotonic() - killed < 30
    assert not list((tmp_path / "out").glob("*"))


def test_a_job_given_up_on_a_stalled_engine_is_cancelled_there_and_the_next_job_runs_promptly(own_engine, source,
                                                                                                tmp_path):
    proc, endpoint = own_engine
    long = tmp_path / "long.wav"  # 1000 steps on 60 s: far longer than the wait below
    sf.write(long, np.tile(sf.read(source, dtype="float32")[0], (20, 1)), sf.info(source).samplerate)
    render, _ = slow_render(["--engine", endpoint, "--timeout", "2"], long, tmp_path)
    proc.send_signal(signal.SIGSTOP)  # hung, not dead: the socket stays open
    try:
        out, _ = render.communicate(timeout=60)
    finally:
        proc.send_signal(signal.SIGCONT)
    assert (render.returncode, json.loads(out.strip().splitlines()[-1])["code"]) == (3, "unreachable")
    client = EngineClient(endpoint, timeout=5)
    deadline = time.monotonic() + 10
    while client.status()["queue"]["running"]:  # the cancel it left behind stops the 1000-step job
        assert time.monotonic() < deadline, "the orphaned job kept running"
        time.sleep(0.1)
    status, reply = run("render", "--task", "style", "--input", str(source), "--strength", "0.3", "--steps", "2",
                        "--output", str(tmp_path / "next.wav"), "--engine", endpoint)
    assert status == 0 and (tmp_path / "next.wav").exists()
    assert not list((tmp_path / "out").glob("*"))


@pytest.mark.parametrize("how", ["cancel-file", "sigterm"])
def test_a_cancelled_render_exits_4_and_writes_nothing(engine, source, tmp_path, how):
    cancel = tmp_path / "cancel"
    proc, progress = slow_render(engine, source, tmp_path, "--cancel-file", str(cancel))
    if how == "cancel-file":
        cancel.touch()
    else:
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    reply = json.loads(out.strip().splitlines()[-1])
    assert proc.returncode == 4 and reply["code"] == "cancelled"
    assert progress.read_text().startswith("error cancelled")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_out_dir_names_are_unique_and_keep_the_source_format(engine, source, tmp_path):
    paths = []
    for _ in range(2):
        status, reply = run("render", "--task", "style", "--input", str(source), "--out-dir", str(tmp_path / "renders"),
                            "--tag", "take 1/v?", *engine, *FAST)
        assert status == 0, reply
        paths.append(Path(reply["outputs"][0]["path"]))
    assert paths[0] != paths[1] and all(p.exists() for p in paths)
    assert all("_style_take-1-v" in p.name and p.suffix == ".wav" for p in paths)
    assert {(sf.info(p).samplerate, sf.info(p).channels) for p in paths} == {(48_000, 2)}


@pytest.mark.parametrize("name, subtype, expected", [
    ("x.flac", None, ("FLAC", "PCM_24")),   # the source is 24-bit: so is its render
    ("x.wav", None, ("WAV", "PCM_24")),
    ("x.wav", "PCM_16", ("WAV", "PCM_16")),
    ("x.aiff", "float", ("AIFF", "FLOAT")),
    ("x.ogg", None, ("OGG", "VORBIS")),
])
def test_the_output_name_picks_the_format_and_the_sample_format_follows_the_source(engine, tmp_path, name, subtype,
                                                                                     expected):
    source = tmp_path / "take.wav"
    sf.write(source, sine_mix(2.0, 48_000).T, 48_000, subtype="PCM_24")
    out = tmp_path / name
    status, reply = run("render", "--task", "style", "--input", str(source), "--strength", "0.3", "--output", str(out),
                        *(["--subtype", subtype] if subtype else []), *engine, *FAST)
    assert status == 0, reply
    info = sf.info(out)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (*expected, 48_000, 2)


@pytest.mark.parametrize("name, subtype, says", [
    ("x.mp3", None, "not .mp3"),
    ("x", None, "not a name without an extension"),
    ("x.flac", "FLOAT", "FLAC files hold PCM_24 or PCM_16 samples, not FLOAT"),
])
def test_a_format_that_cannot_be_written_is_refused_before_the_render(engine, source, tmp_path, name, subtype, says):
    out = tmp_path / "out"
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(out / name),
                        *(["--subtype", subtype] if subtype else []), *engine, *FAST)
    assert (status, reply["code"]) == (2, "bad_arguments") and says in reply["message"], reply
    assert not out.exists()


def test_the_json_line_says_everything_needed_to_make_the_take_again(engine, source, tmp_path):
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(tmp_path / "a.wav"),
                        "--steps", "3", "--griffin-lim-iters", "3", *engine)  # no --strength, no --seed: defaults
    assert status == 0, reply
    made = reply["outputs"][0]
    assert made["task"] == "style_transfer" and made["params"] == {"strength": 0.5}  # the default, said
    assert made["settings"]["steps"] == 3 and made["settings"]["sampler"] == "dpmpp_2m"
    assert "guide" in made["settings"] and isinstance(made["seed"], int) and made["model"]
    again = ["--strength", str(made["params"]["strength"]), "--seed", str(made["seed"]),
             "--sampler", made["settings"]["sampler"], "--steps", str(made["settings"]["steps"])]
    status, reply = run("render", "--task", "style", "--input", str(source), "--output", str(tmp_path / "b.wav"),
                        "--griffin-lim-iters", "3", *again, *engine)
    assert status == 0 and np.array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])


def test_the_top_help_speaks_to_a_musician_and_names_every_task_and_alias():
    from bridge.cli import build_parser
    from engine.tasks import TASKS

    text = build_parser().format_help()
    assert text.index("Edit music") < text.index("positional arguments")  # what it is for comes first
    assert "daw-diffusion serve" in text and "render --help" in text
    for task in TASKS.values():
        assert all(name in text for name in (task.name, *task.aliases)), task.name


def test_status_says_what_the_engine_runs_and_what_to_do_when_none_answers(engine_endpoint, tmp_path):
    from engine.protocol import VERSION

    done = subprocess.run([CLI, "status", "--engine", engine_endpoint, "--result-file", str(tmp_path / "s.json")],
                          capture_output=True, text=True, timeout=60)
    line = json.loads(done.stdout)
    assert done.returncode == 0 and line["ok"] and line["protocol"] == VERSION and line["device"] == "cpu", line
    assert line["model"] and line["queued"] == 0 and line["capacity"] > 0
    assert json.loads((tmp_path / "s.json").read_text()) == line
    nobody = f"tcp://127.0.0.1:{free_port()}"
    done = subprocess.run([CLI, "status", "--engine", nobody, "--timeout", "0.5"], capture_output=True, text=True,
                          timeout=60)
    line = json.loads(done.stdout)
    assert done.returncode == 3 and line["code"] == "unreachable" and "daw-diffusion serve" in line["message"]


def test_render_checks_the_engine_first_and_sends_no_audio_to_one_of_another_protocol(tmp_path):
    """An engine of another version answers `status` with its protocol: render stops there,
    with the words to fix it, before any audio travels."""
    import threading

    import zmq

    from engine.protocol import decode, encode, make_header

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.bind(endpoint)
    heard, stop = [], threading.Event()

    def other_engine():
        while not stop.is_set():
            if sock.poll(100):
                peer, *frames = sock.recv_multipart()
                heard.append(decode(frames).type)
                sock.send_multipart([peer, *encode(make_header("status", decode(frames).id, version="9.0",
                                                               protocol=99, queue={}))])

    thread = threading.Thread(target=other_engine)
    thread.start()
    source = tmp_path / "in.wav"
    sf.write(source, np.zeros((4800, 2), np.float32), 48_000)
    try:
        done = subprocess.run([CLI, "render", "--task", "style", "--input", str(source), "--engine", endpoint,
                               "--output", str(tmp_path / "out.wav")], capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        thread.join()
        sock.close(linger=0)
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 2 and line["code"] == "bad_version" and "same version" in line["message"], line
    assert heard == ["status"] and not (tmp_path / "out.wav").exists()
