"""Live audio and MIDI for real: a JACK server with the dummy driver, the bridge's sounddevice
stream looped back into its own input with jack_connect, and JACK MIDI ports opened by
python-rtmidi on both sides."""

import os
import resource
import socket
import subprocess
import time

import numpy as np
import pytest
import rtmidi
import soundfile as sf
from processes import CLI, free_port, require

from osc_peers import BridgeProcess, Peer

RATE = 44_100


def start_jack(name: str) -> tuple[subprocess.Popen, dict]:
    """A private JACK server (its own name, so it never meets a user's) and the environment that joins it."""
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1"}
    server = subprocess.Popen([require("jackd"), "-n", name, "--no-realtime", "-d", "dummy", "-r", str(RATE),
                               "-p", "256"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while subprocess.run([require("jack_lsp")], env=env, capture_output=True).returncode != 0:
        assert server.poll() is None and time.monotonic() < deadline, "jackd did not start"
        time.sleep(0.2)
    return server, env


@pytest.fixture(scope="module")
def jack():
    server, env = start_jack(f"dd-test-{os.getpid()}")
    name = env["JACK_DEFAULT_SERVER"]
    saved = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name  # this process's rtmidi clients join it too
    yield env
    if saved is None:
        os.environ.pop("JACK_DEFAULT_SERVER", None)
    else:
        os.environ["JACK_DEFAULT_SERVER"] = saved
    server.terminate()
    server.wait(20)


def realtime_permitted() -> bool:
    """Whether this user may give a thread real-time scheduling (root, or an rtprio limit)."""
    from bridge.live import REALTIME_PRIORITY

    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= REALTIME_PRIORITY


def jack_ports(env) -> list[str]:
    return subprocess.run([require("jack_lsp")], env=env, capture_output=True, text=True).stdout.split("\n")


@pytest.fixture(scope="module")
def live_bridge(jack, engine_endpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    mapping = folder / "map.toml"
    mapping.write_text('[port]\nname = "dd-bridge"\napi = "jack"\n\n[lengths]\ngenerate_bars = 1\n')
    announce = free_port(socket.SOCK_DGRAM)
    bridge = BridgeProcess(engine_endpoint, folder / "renders", "--live", "--audio-device", "system", "--sample-rate",
                           str(RATE), "--midi", "--midi-map", str(mapping), "--announce", f"127.0.0.1:{announce}",
                           env=jack)
    outs = sorted(p for p in jack_ports(jack) if p.startswith("PortAudio:out"))
    ins = sorted(p for p in jack_ports(jack) if p.startswith("PortAudio:in"))
    assert len(outs) == len(ins) == 2, jack_ports(jack)
    for out, inp in zip(outs, ins):  # loop the bridge's output back into its input
        subprocess.run([require("jack_connect"), out, inp], env=jack, check=True)
    bridge.announce_port, bridge.mapping = announce, mapping
    yield bridge
    bridge.close()


def test_live_input_is_captured_transformed_saved_and_played(live_bridge, tmp_path):
    tone = tmp_path / "tone.wav"
    t = np.arange(2 * RATE) / RATE
    sf.write(tone, np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] * 2).T, RATE)
    peer = live_bridge.peer()
    try:
        time.sleep(1.0)
        peer.request("/diffusion/live/transform", "quiet", 0.8, 0.5, "steps", 3)
        assert peer.final("quiet")[1][1] == "bad_audio"  # nothing played yet: silence is refused
        peer.request("/diffusion/live/play", "play", str(tone))
        assert peer.wait_for("/diffusion/done", "play")[2] == pytest.approx(2.0)
        time.sleep(2.5)  # the tone goes out, loops back in, fills the ring buffer
        peer.request("/diffusion/live/transform", "lt", 1.5, 0.5, "steps", 3, "griffin_lim_iters", 3)
        kind, args = peer.final("lt")
        # the engine refuses silent audio: a result means the looped-back tone was captured
        assert kind == "/diffusion/done", args
        info = sf.info(args[1])
        assert (info.samplerate, info.channels, info.frames) == (RATE, 2, round(1.5 * RATE))
        # a bar of 3/4 at 97 BPM, to the sample as the engine counts bars (the request's meter, not the bridge's 4)
        peer.request("/diffusion/live/transform", "bar", 0.0, 0.5, "bars", 1, "bpm", 97, "beats_per_bar", 3,
                     "steps", 3, "griffin_lim_iters", 3)
        kind, args = peer.final("bar")
        assert kind == "/diffusion/done", args
        assert sf.info(args[1]).frames == round(3 * 60 * RATE / 97)
        peer.request("/diffusion/status", "st")
        status = peer.wait_for("/diffusion/status", "st")
        assert status[1] == "ok" and isinstance(status[6], int) and status[6] >= 0  # underruns counted
    finally:
        peer.close()
    # the stream's thread runs above the engine where the system lets it, and the log says how it runs
    fifo = [t for t in os.listdir(f"/proc/{live_bridge.proc.pid}/task")
            if os.sched_getscheduler(int(t)) == os.SCHED_FIFO]
    assert len(fifo) == (1 if realtime_permitted() else 0), fifo
    assert "live audio thread: " + ("real-time" if realtime_permitted() else "normal priority") in live_bridge.output()


def test_a_device_that_goes_away_mid_set_is_announced_and_the_bridge_goes_on(engine_endpoint, tmp_path):
    server, env = start_jack(f"dd-lost-{os.getpid()}")  # its own server: this one is killed
    announce = free_port(socket.SOCK_DGRAM)
    try:
        bridge = BridgeProcess(engine_endpoint, tmp_path / "renders", "--live", "--audio-device", "system",
                               "--sample-rate", str(RATE), "--announce", f"127.0.0.1:{announce}", env=env)
    except BaseException:
        server.kill()
        raise
    listener, peer = Peer(bridge.port, announce), bridge.peer()
    try:
        time.sleep(1.0)
        server.terminate()  # the device goes away mid-set (SIGTERM: a killed jackd leaves its shared memory registered)
        server.wait(20)
        code, message = listener.wait_for("/diffusion/error", "", timeout=15)[1:]
        assert code == "audio_device_lost" and "--live" in message
        peer.request("/diffusion/live/transform", "after", 1.0, 0.4)
        assert peer.final("after")[1][1:3] == ["audio_device_lost", message]
        take = tmp_path / "take.wav"  # a file still renders
        sf.write(take, 0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE), RATE)
        peer.request("/diffusion/style", "file", str(take), 0.3, "steps", 2, "griffin_lim_iters", 2)
        kind, args = peer.final("file")
        assert kind == "/diffusion/done", args
    finally:
        listener.close()
        peer.close()
        output = bridge.close()  # quits, although PortAudio cannot stop the dead stream
        if server.poll() is None:
            server.terminate()
            server.wait(20)
    assert bridge.proc.returncode == 0, output


def midi_out() -> rtmidi.MidiOut:
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK)
    ports = out.get_ports()
    index = next(k for k, name in enumerate(ports) if "dd-bridge" in name)
    out.open_port(index)
    return out


def test_midi_clock_sets_bars_and_a_pad_generates_one_bar(live_bridge):
    listener = Peer(live_bridge.port, live_bridge.announce_port)  # where MIDI-triggered results are announced
    out = midi_out()
    try:
        out.send_message([0xFA])  # start
        tick = 60 / 120 / 24
        next_tick = time.monotonic()
        for _ in range(24 * 4):
            next_tick += tick
            time.sleep(max(0.0, next_tick - time.monotonic()))
            out.send_message([0xF8])
        out.send_message([0x90, 36, 100])  # the generate pad
        accepted = listener.wait_for("/diffusion/accepted", "midi-generate-1")
        assert accepted[1] >= 1
        done = listener.wait_for("/diffusion/done", "midi-generate-1")
        assert done[2] == pytest.approx(2.0, rel=0.05)  # one 4/4 bar at 120 bpm
        assert sf.info(done[1]).frames == pytest.approx(2.0 * 44_100, rel=0.05)
        out.send_message([0x90, 41, 100])  # the vary pad: a variation of that bar, as long to the sample
        varied = listener.wait_for("/diffusion/done", "midi-vary-2")
        assert sf.info(varied[1]).frames == sf.info(done[1]).frames
    finally:
        out.close_port()
        listener.close()


def test_midi_learn_binds_the_next_note_and_saves_the_mapping(live_bridge):
    peer = live_bridge.peer()
    out = midi_out()
    try:
        peer.request("/diffusion/midi/learn", "lrn", "cancel")
        time.sleep(0.3)
        out.send_message([0x90, 61, 90])
        assert peer.wait_for("/diffusion/learned", "lrn") == ["lrn", "cancel", "note", 61]
        assert '61 = "cancel"' in live_bridge.mapping.read_text()
    finally:
        out.close_port()
        peer.close()


def test_a_midi_storm_starts_few_jobs_and_the_bridge_keeps_running(live_bridge):
    listener = Peer(live_bridge.port, live_bridge.announce_port)  # where MIDI-triggered results are announced
    out = midi_out()
    try:
        for k in range(5000):
            out.send_message([0x90, 38 if k % 2 else 36, 100])  # re-roll and generate, hammered
            out.send_message([0xB0, 20, k % 128])
        time.sleep(1.0)
        assert live_bridge.alive()
        listener.sock.settimeout(2.0)
        accepted = []
        try:
            while True:
                message = listener.sock.recv(65536)
                if b"/diffusion/accepted" in message:
                    accepted.append(message)
        except socket.timeout:
            pass
        assert 1 <= len(accepted) <= 4  # one per action per 0.2 s, not thousands
    finally:
        out.close_port()
        listener.close()


def test_serve_live_runs_the_engine_below_the_audio_and_leaves_it_a_core_unless_it_runs_in_real_time(jack, tiny_checkpoint, tmp_path):
    from engine.client import EngineClient
    from engine.cores import LIVE_NICE, cores

    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port(socket.SOCK_DGRAM)
    serve = subprocess.Popen([CLI, "serve", "--live", "--audio-device", "system", "--sample-rate", str(RATE),
                              "--block-size", "256", "--checkpoint", str(tiny_checkpoint), "--engine", endpoint,
                              "--listen", f"127.0.0.1:{port}", "--out-dir", str(tmp_path)], env=jack,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = EngineClient(endpoint)
        deadline = time.monotonic() + 90
        while not client.pinged(0.5):
            assert serve.poll() is None and time.monotonic() < deadline, "serve --live did not start its engine"
        status = client.status()
        assert (status["threads"], status["nice"]) == (cores() if realtime_permitted() else max(1, cores() - 1),
                                                       LIVE_NICE)
        assert os.getpriority(os.PRIO_PROCESS, serve.pid) == 0  # the audio stream's process keeps its priority
    finally:
        serve.terminate()
        serve.wait(60)


def test_doctor_measures_the_live_stream_and_says_when_the_engine_leaves_it_no_room(jack, engine_endpoint, tmp_path):
    from engine.cores import cores

    done = subprocess.run([CLI, "doctor", "--live", "--audio-device", "system", "--sample-rate", str(RATE),
                           "--block-size", "256", "--engine", engine_endpoint, "--listen",
                           f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}", "--out-dir", str(tmp_path)],
                          env=jack, capture_output=True, text=True, timeout=120)
    [live] = [line for line in done.stdout.splitlines() if line.split()[1:2] == ["live"]]
    assert "stream at 44100 Hz with 256-frame buffer: longest gap between callbacks" in live, done.stdout
    assert f"its thread: {'real-time' if realtime_permitted() else 'normal priority'}" in live, live
    if cores() > 1:  # the test engine takes every core at normal priority
        assert live.strip().startswith("note") and "dropouts are likely" in live and "serve --live" in live
