"""The OSC bridge as a real process in front of a real engine, driven by independent peers
(liblo's oscsend/oscdump, headless Pure Data) and by a Python peer for every kind of bad input."""

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from processes import free_port, require
from signals import sine_mix

from bridge.addresses import KEYS, OSC_ERRORS, REPLIES, REQUESTS

from osc_peers import BridgeProcess, osc, read_until

FAST = ["steps", 3, "griffin_lim_iters", 3]
DOC = Path(__file__).parents[1] / "docs" / "osc.md"


@pytest.fixture(scope="module")
def bridge(engine_endpoint, tmp_path_factory):
    running = BridgeProcess(engine_endpoint, tmp_path_factory.mktemp("renders"))
    yield running
    running.close()


@pytest.fixture
def peer(bridge):
    p = bridge.peer()
    yield p
    p.close()


@pytest.fixture(scope="module")
def take(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "take 1.wav"
    sf.write(path, sine_mix(3.0, 48_000).T, 48_000, subtype="PCM_24")
    return path


def doc_table(heading_cells: str) -> dict[str, list[str]]:
    """Rows of the table in docs/osc.md whose header starts with `heading_cells`."""
    text = DOC.read_text()
    block = text[text.index(heading_cells):].split("\n\n")[0]
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_documented_address_space_is_the_code():
    requests = doc_table("| request |")
    assert set(requests) == set(REQUESTS)
    for address, (args, _) in requests.items():
        assert args.split(", ") == ["tag"] + [a.name for a in REQUESTS[address].args], address
    assert set(doc_table("| key |")) == set(KEYS)
    replies = doc_table("| reply |")
    assert {a: r[0].split(", ") for a, r in replies.items()} == {a: list(r) for a, r in REPLIES.items()}
    assert set(doc_table("| code |")) == set(OSC_ERRORS)


def test_oscsend_job_ends_in_oscdump_with_a_real_file(bridge, take):
    oscdump = subprocess.Popen([require("oscdump"), "-L", str(bridge.reply_port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        subprocess.run([require("oscsend"), "localhost", str(bridge.port), "/diffusion/style", "ssfsisisi", "liblo",
                        str(take), "0.4", "steps", "3", "griffin_lim_iters", "3", "seed", "7"], check=True)
        lines = read_until(oscdump.stdout, timeout=60, contains="/diffusion/done")
    finally:
        oscdump.kill()
    kinds = [re.search(r"/diffusion/(\w+)", line).group(1) for line in lines if "/diffusion/" in line]
    assert kinds[0] == "accepted" and kinds[-1] == "done" and set(kinds[1:-1]) <= {"progress"}
    path = Path(re.search(r'/diffusion/done ssf "liblo" "([^"]+)"', lines[-1]).group(1))
    info = sf.info(path)
    assert path.parent == bridge.out_dir and "_style_liblo" in path.name
    assert (info.samplerate, info.channels, info.frames) == (48_000, 2, 144_000)


def test_every_task_over_osc_writes_new_files_of_the_right_length(bridge, peer, take, tmp_path):
    jobs = {
        # an empty prompt means none: the tiny model, trained without text, would refuse any other
        "gen": ("/diffusion/generate", 1.5, "variations", 2, "sample_rate", 48_000, "prompt", ""),
        # a patch may send its transport's tempo with every job: tasks without a use for it ignore it
        "sty": ("/diffusion/style", str(take), 0.3, "offset", 0.5, "length", 2.0, "bpm", 120.0, "beats_per_bar", 3),
        "int": ("/diffusion/interpolate", str(take), str(take), 0.5, "length", 1.0, "length_b", 1.0),
        "inp": ("/diffusion/inpaint", str(take), 1.0, 1.5, "out_dir", "inpainted"),  # under the render folder
        "out": ("/diffusion/outpaint", str(take), 1.0, "direction", "left"),
        # lengths in bars are exact to the sample at the source's rate (the seconds argument unused)
        "bar": ("/diffusion/outpaint", str(take), 0.0, "bars", 1.5, "bpm", 97.0, "beats_per_bar", 3),
        "var": ("/diffusion/vary", str(take), 0.3),
        "snp": ("/diffusion/inpaint", str(take), 0.9, 1.2, "snap", "beat", "bpm", 120.0, "beat_offset", 0.0),
    }
    for tag, (address, *args) in jobs.items():
        peer.request(address, tag, *args, *FAST)
    frames = {"gen": 72_000, "sty": 96_000, "int": 48_000, "inp": 144_000, "out": 192_000,
              "bar": 144_000 + round(4.5 * 60 * 48_000 / 97), "snp": 144_000, "var": 144_000}
    paths = {}
    for tag, expected in frames.items():
        assert peer.wait_for("/diffusion/accepted", tag)[1] >= 1
        kind, args = peer.final(tag)
        assert kind == "/diffusion/done", args
        assert sf.info(args[1]).frames == expected and args[2] == pytest.approx(expected / 48_000)
        paths[tag] = args[1]
    assert Path(peer.wait_for("/diffusion/done", "gen")[1]).exists()  # the second variation
    assert Path(paths["inp"]).parent == bridge.out_dir.resolve() / "inpainted"
    inpainted, _ = sf.read(paths["inp"], dtype="float32")
    original, _ = sf.read(take, dtype="float32")
    assert np.array_equal(inpainted[:48_000], original[:48_000])  # the rest is untouched
    snapped, _ = sf.read(paths["snp"], dtype="float32")
    # snapped to the beats at 1.0 and 1.5 s: everything outside them is the source's
    assert np.array_equal(snapped[:48_000], original[:48_000]) and np.array_equal(snapped[72_000:], original[72_000:])
    assert not np.array_equal(snapped[48_000:72_000], original[48_000:72_000])


def test_a_running_job_is_cancelled_by_its_tag(peer, take):
    peer.request("/diffusion/style", "slow", str(take), 1.0, "steps", 1000)
    peer.wait_for("/diffusion/progress", "slow")
    peer.request("/diffusion/cancel", "slow")
    assert peer.final("slow")[0] == "/diffusion/cancelled"
    peer.request("/diffusion/cancel", "slow")
    assert peer.wait_for("/diffusion/error", "slow")[1] == "not_found"


def test_a_tag_belongs_to_its_sender_another_client_can_neither_cancel_nor_block_it(bridge, peer, take):
    other = bridge.peer()
    try:
        peer.request("/diffusion/style", "1", str(take), 1.0, "steps", 1000)
        peer.wait_for("/diffusion/progress", "1")
        other.request("/diffusion/cancel", "1")
        kind, args = other.final("1")
        assert kind == "/diffusion/error" and args[1] == "not_found" and "of yours" in args[2]
        other.request("/diffusion/style", "1", str(take), 0.3, *FAST)  # the same tag, its own job: not refused
        assert other.wait_for("/diffusion/accepted", "1")
        peer.request("/diffusion/cancel", "1")  # the first job ran on untouched all along; its owner stops it
        assert peer.final("1")[0] == "/diffusion/cancelled"
        assert other.final("1")[0] == "/diffusion/done"
    finally:
        other.close()


@pytest.mark.parametrize("message, code", [
    (("/diffusion/bogus", "t"), "unknown_address"),
    (("/diffusion/style", "t", "{take}"), "bad_arguments"),             # too few
    (("/diffusion/style", "t", "{take}", "strong"), "bad_arguments"),   # a word for a number
    (("/diffusion/style", "t", "{take}", 0.4, "steps"), "bad_arguments"),  # a key without a value
    (("/diffusion/style", "t", "{take}", 0.4, "colour", 3), "bad_arguments"),
    (("/diffusion/style", "t", "{take}", 0.4, "steps", 2.5), "bad_arguments"),
    (("/diffusion/style", "t", "/no/such/file.wav", 0.4), "bad_file"),
    (("/diffusion/style", "t", "take.wav", 0.4), "bad_file"),  # relative: "input paths must be absolute"
    (("/diffusion/style", "t", "{text}", 0.4), "bad_file"),
    (("/diffusion/style", "t", "{take}", 0.4, "offset", 99.0), "bad_file"),
    (("/diffusion/style", "t", "{take}", float("nan")), "bad_arguments"),
    (("/diffusion/style", "t", "{take}", 7.0), "bad_parameter"),
    (("/diffusion/inpaint", "t", "{take}", 2.0, 9.0), "bad_parameter"),
    (("/diffusion/generate", "t", 1e9), "bad_parameter"),
    (("/diffusion/generate", "t", 4.0, "bars", 2.0), "no_tempo"),
    (("/diffusion/live/transform", "t", 2.0, 0.5), "no_live_audio"),
    (("/diffusion/midi/learn", "t", "generate"), "no_midi"),
    (("/diffusion/reply_port", "t", 70000), "bad_arguments"),
    (("/diffusion/reply_port", "t", 1), "bad_arguments"),  # a system port: replies are never aimed there
    (("/diffusion/style", "t", "{take}", 0.4, "stpes", 3), "bad_arguments"),  # "did you mean 'steps'?"
])
def test_every_bad_request_gets_an_error_reply_and_the_bridge_stays(bridge, peer, take, tmp_path, message, code):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    address, *args = message
    peer.request(address, *[a.format(take=take, text=text) if isinstance(a, str) else a for a in args], *FAST)
    reply = peer.final("t")
    assert reply[0] == "/diffusion/error" and reply[1][1] == code, reply
    assert len(reply[1][2]) > 10  # a sentence, not just a code
    if "stpes" in message:  # a small request gets a small answer: a hint, not the list of every key
        assert reply[1][2] == "unknown key 'stpes'; did you mean 'steps'? the keys are in docs/osc.md"
    if "take.wav" in message:
        assert "must be absolute" in reply[1][2]
    assert bridge.alive()


@pytest.mark.parametrize("where", ["..", "../elsewhere", "/etc", "~", "inside/../../out"])
def test_an_out_dir_outside_the_render_folder_is_refused_and_nothing_is_made(bridge, peer, take, where):
    before = sorted(p.name for p in bridge.out_dir.parent.iterdir())
    peer.request("/diffusion/style", "esc", str(take), 0.3, "out_dir", where)
    kind, args = peer.final("esc")
    assert kind == "/diffusion/error" and args[1] == "bad_file" and "outside the folders" in args[2], args
    assert "exist" not in args[2]  # says what is wrong with the request, nothing about the disk
    assert sorted(p.name for p in bridge.out_dir.parent.iterdir()) == before


def test_a_fifo_as_input_is_refused_at_once_and_the_bridge_answers_meanwhile(bridge, peer, tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it would block until someone writes
    peer.request("/diffusion/style", "fifo", str(fifo), 0.4, *FAST)
    peer.request("/diffusion/ping", "still")
    assert peer.wait_for("/diffusion/pong", "still", timeout=5)
    kind, args = peer.final("fifo", timeout=10)
    assert kind == "/diffusion/error" and args[1] == "bad_file" and "FIFO" in args[2], args
    assert bridge.alive()


def test_a_taken_tag_is_refused_while_its_job_runs(peer, take):
    peer.request("/diffusion/style", "same", str(take), 1.0, "steps", 300)
    peer.request("/diffusion/style", "same", str(take), 0.5, *FAST)
    assert peer.wait_for("/diffusion/error", "same")[1] == "duplicate_tag"
    peer.request("/diffusion/cancel", "same")
    assert peer.final("same")[0] == "/diffusion/cancelled"


def test_garbage_and_floods_are_answered_and_survived(bridge, peer):
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"", b"\x00" * 7, b"/diffusion/ping\x00,i\x00\x00", b"#bundle\x00garbage", osc("/x")[:5]):
        raw.sendto(junk, ("127.0.0.1", bridge.port))
    for k in range(3000):
        raw.sendto(osc("/diffusion/status" if k % 2 else "/diffusion/nope", f"f{k}"), ("127.0.0.1", bridge.port))
    for k in range(20_000):  # status requests ask the engine: a flood of them must not queue work ahead of jobs
        raw.sendto(osc("/diffusion/status", f"s{k}", "reply_port", 9), ("127.0.0.1", bridge.port))
    raw.close()
    assert bridge.alive()
    peer.request("/diffusion/generate", "after-flood", 0.5, *FAST)
    assert peer.final("after-flood", timeout=20)[0] == "/diffusion/done"
    peer.request("/diffusion/status", "st")
    status = peer.wait_for("/diffusion/status", "st", timeout=30)
    assert status[1] == "ok" and status[2] == "cpu"


def test_replies_follow_reply_port_per_client(bridge, peer):
    peer.send("/diffusion/reply_port", peer.port)  # no tag, as in DESIGN.md
    assert peer.wait_for("/diffusion/pong", "")
    peer.send("/diffusion/ping", "plain")  # no reply_port key: this client's port now
    assert peer.wait_for("/diffusion/pong", "plain") == ["plain"]
    other = bridge.peer()  # a second app on the same host
    try:
        other.send("/diffusion/reply_port", peer.port)  # cannot redirect the first one's replies ...
        other.send("/diffusion/ping", "theirs")
        assert peer.wait_for("/diffusion/pong", "theirs")  # (its own go where it asked)
        other.send("/diffusion/reply_port", other.port)
        peer.send("/diffusion/ping", "mine")
        assert peer.wait_for("/diffusion/pong", "mine") == ["mine"]  # ... the first one's stay with it
        other.send("/diffusion/ping", "own")
        assert other.wait_for("/diffusion/pong", "own") == ["own"]
    finally:
        other.close()


def test_an_absent_engine_is_an_error_reply_not_a_hang(tmp_path, take):
    bridge = BridgeProcess(f"tcp://127.0.0.1:{free_port()}", tmp_path, "--timeout", "1")
    peer = bridge.peer()
    try:
        started = time.monotonic()
        peer.request("/diffusion/style", "t", str(take), 0.4)
        reply = peer.final("t")
        assert reply[1][1] == "unreachable" and "daw-diffusion serve" in reply[1][2]
        assert time.monotonic() - started < 10 and bridge.alive()
    finally:
        peer.close()
        bridge.close()
    assert not list(tmp_path.iterdir())


PD_PATCH = """#N canvas 0 0 700 500 12;
#X obj 10 10 loadbang;
#X obj 10 40 t b b b;
#X msg 300 70 connect 127.0.0.1 {bridge};
#X msg 150 70 list {reply};
#X obj 150 100 oscformat diffusion reply_port;
#X obj 10 70 delay 300;
#X msg 10 100 list pd1 1.5 steps 3 griffin_lim_iters 3 seed 5;
#X obj 10 130 oscformat diffusion generate;
#X obj 150 200 list prepend send;
#X obj 150 230 list trim;
#X obj 150 260 netsend -u -b;
#X obj 10 300 netreceive -u -b {reply};
#X obj 10 330 oscparse;
#X obj 10 360 route diffusion;
#X obj 10 390 route done error accepted;
#X obj 10 420 print DONE;
#X obj 150 420 print ERROR;
#X obj 300 420 print ACCEPTED;
#X obj 10 345 list trim;
#X connect 0 0 1 0;
#X connect 1 0 5 0;
#X connect 1 1 3 0;
#X connect 1 2 2 0;
#X connect 2 0 10 0;
#X connect 3 0 4 0;
#X connect 4 0 8 0;
#X connect 5 0 6 0;
#X connect 6 0 7 0;
#X connect 7 0 8 0;
#X connect 8 0 9 0;
#X connect 9 0 10 0;
#X connect 11 0 12 0;
#X connect 12 0 18 0;
#X connect 18 0 13 0;
#X connect 13 0 14 0;
#X connect 14 0 15 0;
#X connect 14 1 16 0;
#X connect 14 2 17 0;
"""


def test_a_headless_pure_data_patch_gets_its_render(bridge, tmp_path):
    reply = free_port(socket.SOCK_DGRAM)
    patch = tmp_path / "job.pd"
    patch.write_text(PD_PATCH.format(bridge=bridge.port, reply=reply))
    pd = subprocess.Popen([require("pd"), "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(patch)],
                          stderr=subprocess.PIPE, text=True)
    try:
        lines = read_until(pd.stderr, ("DONE:", "ERROR:"), timeout=60)
    finally:
        pd.kill()
    assert any(line.startswith("ACCEPTED: pd1") for line in lines), lines
    done = [line for line in lines if line.startswith("DONE:")]
    assert done, lines
    _, tag, path, seconds = done[0].split()
    assert tag == "pd1" and float(seconds) == pytest.approx(1.5)
    assert sf.info(path).frames == round(1.5 * 44_100)
