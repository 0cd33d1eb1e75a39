"""The Max, Max for Live and Pure Data patches: the linter passes on every patch and catches
each kind of defect; the real daw-diffusion.pd, in a headless Pure Data, runs a job end to end."""

import json
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from processes import free_port, require
from signals import sine_mix

from max_patches.amxd import build_amxd, read_amxd
from max_patches.lint import lint_all, lint_amxd, lint_maxpat, lint_pd

from osc_peers import BridgeProcess, read_until

PATCHES = Path(__file__).resolve().parents[1] / "max_patches"


def test_every_patch_passes_the_linter():
    require("pd")  # the Pd part of the linter opens patches in a real Pd
    problems = lint_all()
    assert {Path(n).suffix for n in problems} == {".maxpat", ".pd", ".amxd"}
    assert problems == {name: [] for name in problems}


@pytest.fixture
def maxpat(tmp_path):
    path = tmp_path / "p.maxpat"
    shutil.copy(PATCHES / "daw-diffusion.maxpat", path)
    return path


def edit(path, change):
    data = json.loads(path.read_text())
    change(data["patcher"])
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change, words", [
    (lambda p: p["boxes"].append(p["boxes"][0]), "duplicate object id"),
    (lambda p: p["lines"].append({"patchline": {"source": ["obj-1", 0], "destination": ["obj-999", 0]}}), "does not exist"),
    (lambda p: p["lines"].append({"patchline": {"source": ["obj-3", 5], "destination": ["obj-4", 0]}}), "no such outlet"),
    (lambda p: p["boxes"].append({"box": {"id": "obj-x", "maxclass": "message", "numinlets": 2, "numoutlets": 1,
                                          "text": "/diffusion/explode now"}}), "does not know"),
    (lambda p: [b["box"].update(text="route /diffusion/done") for b in p["boxes"]
                if b["box"].get("text", "").startswith("route /diffusion/")], "does not handle"),
    (lambda p: [b["box"].update(numoutlets=2) for b in p["boxes"] if b["box"].get("text", "").startswith("udpreceive")],
     "declares"),
])
def test_the_max_linter_catches_each_defect(maxpat, change, words):
    edit(maxpat, change)
    problems = lint_maxpat(maxpat)
    assert any(words in p for p in problems), problems


def test_the_pd_linter_catches_bad_cords_unknown_objects_and_addresses(tmp_path):
    require("pd")
    text = (PATCHES / "daw-diffusion.pd").read_text()
    broken = tmp_path / "broken.pd"
    broken.write_text(text.replace("oscformat diffusion cancel", "oscformat diffusion explode")
                      .replace("#X obj 20 600 netreceive -u -b;", "#X obj 20 600 netreceive-typo -u -b;")
                      + "#X connect 0 0 1 0;\n#X connect 2 7 3 0;\n#X connect 2 0 9999 0;\n")
    problems = "\n".join(lint_pd(broken))
    assert "/diffusion/explode" in problems
    assert "couldn't create" in problems and "connection failed" in problems and "does not exist" in problems


def test_the_amxd_embeds_the_patcher_and_a_stale_one_is_caught(tmp_path):
    source = json.loads((PATCHES / "daw-diffusion-device.maxpat").read_text())
    device_type, patcher = read_amxd((PATCHES / "daw-diffusion-device.amxd").read_bytes())
    assert device_type == "aaaa" and patcher == source
    assert read_amxd(build_amxd(source, "mmmm")) == ("mmmm", source)
    stale = tmp_path / "daw-diffusion-device.amxd"
    changed = dict(source, rect=[0, 0, 1, 1])
    stale.write_bytes(build_amxd(changed))
    assert "differs" in lint_amxd(stale, PATCHES / "daw-diffusion-device.maxpat")[0]
    stale.write_bytes(build_amxd(source)[:40])
    assert "claims" in lint_amxd(stale, PATCHES / "daw-diffusion-device.maxpat")[0]
    live_objects = {b["box"]["maxclass"] for b in source["patcher"]["boxes"]}
    assert {"live.dial", "live.numbox", "live.menu", "live.text"} <= live_objects  # automatable parameters


HOT_EVERY_INLET = ("pak",)  # Max objects whose every inlet sends (all others: the left one only)
PARAMETERS = ("number", "flonum", "live.dial", "live.numbox", "live.menu", "textedit")
MAX_PATCHES = ["daw-diffusion.maxpat", "daw-diffusion-device.maxpat"]


def patch_graph(name: str, hot_only: bool = False) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """A Max patch's boxes by id, and where each box's cords lead (with `hot_only`: only cords
    into inlets that make the receiving object send)."""
    patcher = json.loads((PATCHES / name).read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    cords: dict[str, set[str]] = {}
    for line in patcher["lines"]:
        (src, _), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        if not hot_only or inlet == 0 or boxes[dst].get("text", "").split()[:1] in [[n] for n in HOT_EVERY_INLET]:
            cords.setdefault(src, set()).add(dst)
    return boxes, cords


def downstream(cords: dict[str, set[str]], start: str) -> set[str]:
    """Every box a message from `start` can reach."""
    seen, todo = set(), [start]
    while todo:
        for nxt in cords.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def is_request(box: dict) -> bool:
    return box["maxclass"] == "message" and box.get("text", "").startswith("/diffusion/")


@pytest.mark.parametrize("name", MAX_PATCHES)
def test_max_patches_send_the_transports_tempo_and_meter_with_every_job(name):
    boxes, cords = patch_graph(name)
    (transport,) = [i for i, b in boxes.items() if b.get("text") == "transport"]
    texts = [boxes[i].get("text", "") for i in downstream(cords, transport)]
    assert any("bpm $" in t and "beats_per_bar $" in t for t in texts), texts  # the keys message
    assert any(t.startswith("udpsend") for t in texts)  # ... on its way to the bridge


@pytest.mark.parametrize("name", MAX_PATCHES)
def test_every_request_a_max_patch_builds_reaches_the_bridge(name):
    boxes, cords = patch_graph(name)
    requests = {i: b["text"].split()[0] for i, b in boxes.items() if is_request(b)}
    unsent = [r for i, r in requests.items()
              if not any(boxes[j].get("text", "").startswith("udpsend") for j in downstream(cords, i))]
    assert unsent == []
    if name == "daw-diffusion.maxpat":
        assert {"/diffusion/style", "/diffusion/inpaint", "/diffusion/vary", "/diffusion/generate"} <= set(requests.values())


@pytest.mark.parametrize("name", MAX_PATCHES)
def test_max_patches_ask_the_engine_status_when_they_load_after_saying_where_to_reply(name):
    """On load a trigger (`t`, firing right to left) sends the reply port first, then
    `/diffusion/status`, whose answer fills the status line."""
    boxes, cords = patch_graph(name)
    lines = [(cord["patchline"]["source"], cord["patchline"]["destination"][0])
             for cord in json.loads((PATCHES / name).read_text())["patcher"]["lines"]]
    (load,) = [i for i, b in boxes.items() if b.get("text") in ("loadbang", "live.thisdevice")]
    (trigger,) = [i for i in cords[load] if boxes[i].get("text", "").startswith("t ")]

    def outlet_to(prefix):
        return [k for (src, k), dst in lines if src == trigger
                and any(boxes[j].get("text", "").startswith(prefix) for j in {dst} | downstream(cords, dst))]

    (reply_port,), (status,) = outlet_to("/diffusion/reply_port"), outlet_to("/diffusion/status")
    assert reply_port > status  # the bridge knows where to answer before it is asked
    (receiver,) = [i for i, b in boxes.items() if b.get("text", "").startswith("udpreceive")]
    assert any("set engine $2" in boxes[i].get("text", "") for i in downstream(cords, receiver))


@pytest.mark.parametrize("name", MAX_PATCHES)
def test_turning_a_knob_or_setting_a_folder_never_sends_a_job(name):
    """Parameters are read when a task's button is pressed: from a number box, a dial, a menu or a
    path message, only cords into cold inlets lead towards a request (else every drag of a
    strength box would start a job)."""
    boxes, hot = patch_graph(name, hot_only=True)
    sources = [i for i, b in boxes.items() if b["maxclass"] in PARAMETERS
               or (b["maxclass"] == "message" and not is_request(b))]
    for start in sources:
        sent = [boxes[i]["text"] for i in downstream(hot, start)
                if is_request(boxes[i]) and "reply_port" not in boxes[i]["text"]]
        assert sent == [], f"{start} ({boxes[start]['maxclass']}) sends {sent}"


DRIVER = """#N canvas 0 0 500 300 12;
#X obj 10 10 loadbang;
#X obj 10 40 delay 300;
#X msg 10 70 \\; dd-connect 127.0.0.1 {bridge} \\; dd-reply-port {reply} \\; dd-status-ask bang \\; dd-keys steps 3 griffin_lim_iters 3 seed 5 \\; dd-load-input {source} \\; dd-write-input {written} \\; dd-tempo 120 \\; dd-job outpaint {written} 0 bars 1;
#X obj 10 120 r dd-done;
#X obj 10 150 print DONE;
#X obj 150 120 r dd-error;
#X obj 150 150 print ERROR;
#X obj 290 120 r dd-loaded;
#X obj 290 150 print LOADED;
#X obj 10 200 r dd-input-frames;
#X obj 10 230 print FRAMES;
#X obj 150 200 r dd-status;
#X obj 150 230 print STATUS;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 3 0 4 0;
#X connect 5 0 6 0;
#X connect 7 0 8 0;
#X connect 9 0 10 0;
#X connect 11 0 12 0;
"""


def test_the_pure_data_patch_runs_a_job_against_a_real_bridge(engine_endpoint, tmp_path):
    source, written = tmp_path / "in.wav", tmp_path / "dd-input.wav"
    sf.write(source, sine_mix(2.0, 44_100).T, 44_100)
    pd_program = require("pd")  # before the bridge starts: a missing pd must not leave a bridge behind
    bridge = BridgeProcess(engine_endpoint, tmp_path / "renders")
    driver = tmp_path / "driver.pd"
    driver.write_text(DRIVER.format(bridge=bridge.port, reply=free_port(socket.SOCK_DGRAM), source=source,
                                    written=written))
    pd = subprocess.Popen([pd_program, "-nogui", "-noaudio", "-nomidi", "-stderr",
                           "-open", str(PATCHES / "daw-diffusion.pd"), "-open", str(driver)],
                          stderr=subprocess.PIPE, text=True)
    try:
        lines = read_until(pd.stderr, ("LOADED:", "ERROR:"), timeout=90)
    finally:
        pd.kill()
        bridge.close()
    assert not [line for line in lines if line.startswith(("ERROR:", "error"))], lines
    assert any(line.startswith("FRAMES: 88200") for line in lines), lines  # the input was read and written
    done = [line for line in lines if line.startswith("DONE:")][0].split()
    tag, path, seconds = done[1], Path(done[2]), float(done[3])
    # extended by one bar at the patch's tempo box (120 BPM, 4/4: 2 s)
    assert tag == "pd1" and path.parent == tmp_path / "renders" and seconds == pytest.approx(4.0)
    rendered, rate = sf.read(path)
    assert rate == 44_100 and len(rendered) == 2 * 88_200 and np.isfinite(rendered).all()
    assert lines[-1] == "LOADED: 176400"  # the result was read back into the dd-result array
    assert sf.read(written)[0].shape[0] == 88_200  # soundfiler wrote what the patch held
    status = [line for line in lines if line.startswith("STATUS:")]  # its status line, asked after connecting
    assert status and status[0].split()[1:4] == ["pd-status", "ok", "cpu"], lines
