"""`daw-diffusion serve` (engine + bridge, the README's main command) and `doctor`, as processes."""

import contextlib
import json
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from processes import CLI, free_port

from engine.client import EngineClient

from osc_peers import Peer


def pids_of(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def ping(port: int) -> bool:
    peer = Peer(port)
    try:
        return peer.ping(tries=60)
    finally:
        peer.close()


def generate(port: int, tag: str) -> tuple[str, list]:
    peer = Peer(port)
    try:
        peer.request("/diffusion/generate", tag, 1.0, "steps", 2, "griffin_lim_iters", 2)
        return peer.final(tag, timeout=90)
    finally:
        peer.close()


@contextlib.contextmanager
def logged_serve(checkpoint, out_dir, *extra: str):
    """`serve` on fresh ports with its log kept: (process, engine endpoint, OSC port, log file);
    killed afterwards, its engine too."""
    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port(socket.SOCK_DGRAM)
    log = tempfile.TemporaryFile("w+")
    serve = subprocess.Popen([CLI, "serve", "--checkpoint", str(checkpoint), "--engine", endpoint, "--listen",
                              f"127.0.0.1:{port}", "--out-dir", str(out_dir), *extra], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield serve, endpoint, port, log
    finally:
        serve.kill()
        for pid in pids_of(f"engine --bind {endpoint}"):
            subprocess.run(["kill", "-9", str(pid)])
        log.seek(0)


def test_serve_runs_both_restarts_a_dead_engine_and_stops_cleanly(tiny_checkpoint, tmp_path):
    with logged_serve(tiny_checkpoint, tmp_path) as (serve, endpoint, port, log):
        assert ping(port)
        kind, args = generate(port, "first")
        assert kind == "/diffusion/done" and args[2] == pytest.approx(1.0)
        [engine] = pids_of(f"engine --bind {endpoint}")
        subprocess.run(["kill", "-9", str(engine)], check=True)
        deadline = time.monotonic() + 90
        while True:  # the bridge answers at once; the engine comes back
            kind, args = generate(port, f"again-{time.monotonic():.0f}")
            if kind == "/diffusion/done":
                break
            assert args[1] == "unreachable" and time.monotonic() < deadline, args
            time.sleep(1)
        assert pids_of(f"engine --bind {endpoint}") != [engine]
        serve.send_signal(signal.SIGINT)
        assert serve.wait(60) == 0
        assert not pids_of(f"engine --bind {endpoint}")
    assert "restarting" in log.read()


def test_a_hung_engine_is_noticed_killed_and_restarted_and_users_are_told_so(tiny_checkpoint, tmp_path):
    with logged_serve(tiny_checkpoint, tmp_path, "--engine-hang-timeout", "4") as (_, endpoint, port, log):
        assert ping(port)
        [engine] = pids_of(f"engine --bind {endpoint}")
        subprocess.run(["kill", "-STOP", str(engine)], check=True)  # alive, but answering nothing
        kind, args = generate(port, "during")
        assert kind == "/diffusion/error" and args[1] == "unreachable", args
        assert "restarts it" in args[2] and "start it with" not in args[2]  # serve runs: it says what serve does
        deadline = time.monotonic() + 90
        while pids_of(f"engine --bind {endpoint}") in ([engine], []):
            assert time.monotonic() < deadline, "the hung engine was never replaced"
            time.sleep(0.5)
        while (result := generate(port, f"after-{time.monotonic():.0f}"))[0] != "/diffusion/done":
            assert time.monotonic() < deadline, result
            time.sleep(1)
    assert "it hangs; killing it" in log.read()


def test_a_job_whose_engine_dies_ends_in_bounded_time_and_frees_its_tag(tiny_checkpoint, tmp_path):
    """SIGKILL of the engine mid-job under `serve`: the job ends (engine_lost, or unreachable while
    the engine is still coming back), a cancel of another stuck job is answered, the tag is free
    again, and the restarted engine takes new jobs."""
    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port(socket.SOCK_DGRAM)
    serve = subprocess.Popen([CLI, "serve", "--checkpoint", str(tiny_checkpoint), "--engine", endpoint, "--listen",
                              f"127.0.0.1:{port}", "--out-dir", str(tmp_path), "--timeout", "3"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer = Peer(port)
    try:
        assert ping(port)
        slow = ("/diffusion/generate", 2.0, "steps", 1000, "griffin_lim_iters", 2)
        peer.request(slow[0], "lost", *slow[1:])
        peer.request(slow[0], "stuck", *slow[1:])  # queued behind it
        peer.wait_for("/diffusion/accepted", "stuck", timeout=60)  # the engine has it (not still in flight)
        peer.wait_for("/diffusion/progress", "lost", timeout=60)
        [engine] = pids_of(f"engine --bind {endpoint}")
        subprocess.run(["kill", "-9", str(engine)], check=True)
        killed = time.monotonic()
        peer.request("/diffusion/cancel", "stuck")
        kind, args = peer.final("stuck", timeout=30)  # cancelled, unless the loss was noticed first
        assert kind == "/diffusion/cancelled" or (kind == "/diffusion/error" and args[1] in ("engine_lost", "unreachable")), args
        kind, args = peer.final("lost", timeout=60)
        assert kind == "/diffusion/error" and args[1] in ("engine_lost", "unreachable"), args
        assert time.monotonic() - killed < 45
        deadline = time.monotonic() + 90
        while True:  # the same tag again, on the restarted engine
            kind, args = generate(port, "lost")
            if kind == "/diffusion/done":
                break
            assert args[1] == "unreachable" and time.monotonic() < deadline, args
            time.sleep(1)
        peer.request("/diffusion/status", "s")
        assert peer.wait_for("/diffusion/status", "s")[4] == 0  # nothing left running in the bridge
    finally:
        peer.close()
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(60)
        finally:
            serve.kill()
            for pid in pids_of(f"engine --bind {endpoint}"):
                subprocess.run(["kill", "-9", str(pid)])


def serve_process(checkpoint, endpoint: str, port: int, out_dir) -> subprocess.Popen:
    return subprocess.Popen([CLI, "serve", "--checkpoint", str(checkpoint), "--engine", endpoint, "--listen",
                             f"127.0.0.1:{port}", "--out-dir", str(out_dir), "--timeout", "3"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_ctrl_c_with_a_job_running_stops_serve_and_its_engine(tiny_checkpoint, tmp_path):
    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port(socket.SOCK_DGRAM)
    serve = serve_process(tiny_checkpoint, endpoint, port, tmp_path)
    peer = Peer(port)
    try:
        assert ping(port)
        peer.request("/diffusion/generate", "long", 2.0, "steps", 1000, "griffin_lim_iters", 2)
        peer.wait_for("/diffusion/progress", "long", timeout=60)
        [engine] = pids_of(f"engine --bind {endpoint}")
        serve.send_signal(signal.SIGINT)
        assert serve.wait(45) == 0
        assert peer.final("long", timeout=5)[0] == "/diffusion/cancelled"
        assert not pids_of(f"engine --bind {endpoint}")
    finally:
        peer.close()
        serve.kill()
        for pid in pids_of(f"engine --bind {endpoint}"):
            subprocess.run(["kill", "-9", str(pid)])


def test_sigkill_of_serve_takes_its_engine_along_and_the_next_serve_starts(tiny_checkpoint, tmp_path):
    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port(socket.SOCK_DGRAM)
    serve = serve_process(tiny_checkpoint, endpoint, port, tmp_path)
    try:
        assert ping(port)
        [engine] = pids_of(f"engine --bind {endpoint}")
        serve.kill()
        serve.wait()
        deadline = time.monotonic() + 30
        while pids_of(f"engine --bind {endpoint}"):  # the engine follows its parent (and finishes nothing)
            assert time.monotonic() < deadline, "the engine outlived serve"
            time.sleep(0.2)
        again = serve_process(tiny_checkpoint, endpoint, port, tmp_path)
        try:
            assert ping(port)
            kind, args = generate(port, "after")
            assert kind == "/diffusion/done", args
        finally:
            again.send_signal(signal.SIGINT)
            again.wait(60)
    finally:
        serve.kill()
        for pid in pids_of(f"engine --bind {endpoint}"):
            subprocess.run(["kill", "-9", str(pid)])


def test_serve_replaces_a_stale_engine_of_its_own_but_not_someone_elses(tiny_checkpoint, tmp_path):
    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port(socket.SOCK_DGRAM)
    # an engine exactly as serve starts one, left behind (as when serve dies where there is no parent-death signal)
    import hashlib
    import sys
    command = [sys.executable, "-m", "bridge.cli", "engine", "--bind", endpoint, "--device", "auto",
               "--model", str(tiny_checkpoint)]
    stale = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = Path(tempfile.gettempdir()) / f"daw-diffusion-engine-{hashlib.sha1(endpoint.encode()).hexdigest()[:12]}.pid"
    pid_file.write_text(f"{stale.pid}\n")
    serve = None
    try:
        deadline = time.monotonic() + 60
        while not EngineClient(endpoint).pinged(0.5):
            assert time.monotonic() < deadline
        serve = serve_process(tiny_checkpoint, endpoint, port, tmp_path)
        assert ping(port)
        assert stale.wait(60) is not None  # replaced
        assert pids_of(f"engine --bind {endpoint}") and stale.pid not in pids_of(f"engine --bind {endpoint}")
        serve.send_signal(signal.SIGINT)
        assert serve.wait(60) == 0
        pid_file.write_text("1\n")  # a pid file naming some other program: that engine is not ours to stop
        other = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not EngineClient(endpoint).pinged(0.5):
                assert other.poll() is None
            done = subprocess.run([CLI, "serve", "--checkpoint", str(tiny_checkpoint), "--engine", endpoint,
                                   "--listen", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}", "--out-dir", str(tmp_path)],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 3 and "already answers" in done.stdout and other.poll() is None
        finally:
            other.kill()
    finally:
        stale.kill()
        if serve is not None:
            serve.kill()
        pid_file.unlink(missing_ok=True)


def test_a_bridge_open_to_the_network_needs_saying_so(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    bridge = [CLI, "bridge", "--listen", f"0.0.0.0:{port}", "--engine", f"tcp://127.0.0.1:{free_port()}",
              "--out-dir", str(tmp_path)]
    done = subprocess.run(bridge, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--allow-network" in json.loads(done.stdout.splitlines()[-1])["message"]
    log = tempfile.TemporaryFile("w+")
    open_one = subprocess.Popen([*bridge, "--allow-network"], stdout=log, stderr=subprocess.STDOUT)
    try:
        assert ping(port)
        log.seek(0)
        assert "any host that reaches it can run jobs" in log.read()
        peer = Peer(port)
        try:  # network clients read only from the allowed folders, and learn nothing of the rest of the disk
            answers = []
            for k, path in enumerate(("/etc/passwd", "/no/such/file.wav")):
                peer.request("/diffusion/style", f"probe{k}", path, 0.3)
                kind, args = peer.final(f"probe{k}")
                answers.append((kind, args[1], args[2].replace(path, "PATH")))
            assert answers[0] == answers[1] and answers[0][1] == "bad_file" and "outside the folders" in answers[0][2]
        finally:
            peer.close()
    finally:
        open_one.terminate()
        open_one.wait(30)


def test_serve_refuses_a_taken_osc_port_before_loading_a_model(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        done = subprocess.run([CLI, "serve", "--listen", f"127.0.0.1:{taken.getsockname()[1]}", "--out-dir",
                               str(tmp_path)], capture_output=True, text=True, timeout=60)
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 3 and reply["code"] == "port_in_use" and "already running" in reply["message"]


def test_doctor_names_each_problem_in_plain_words(engine_endpoint, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        done = subprocess.run([CLI, "doctor", "--listen", f"127.0.0.1:{taken.getsockname()[1]}",
                               "--engine", engine_endpoint, "--out-dir", str(tmp_path / "r")],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.strip().startswith(("ok", "note", "PROBLEM"))}
    assert lines["osc"].strip().startswith("PROBLEM") and "is taken" in lines["osc"]
    assert lines["engine"].strip().startswith("ok") and lines["model"].strip().startswith("ok")
    assert lines["renders"].strip().startswith("ok") and (tmp_path / "r").is_dir()
    assert lines["live"].strip().startswith("ok") and "`serve --live` gives its engine" in lines["live"]
    assert "the running engine has" in lines["live"]
    done = subprocess.run([CLI, "doctor", "--listen", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}", "--engine",
                           engine_endpoint, "--out-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout.splitlines()[-1])["ok"]
    assert "ALSA" not in done.stderr and "jack" not in done.stderr.lower()  # the probes' native noise is hidden


def test_doctor_takes_a_running_bridge_for_what_it_is(engine_endpoint, tmp_path):
    from osc_peers import BridgeProcess

    bridge = BridgeProcess(engine_endpoint, tmp_path / "renders")
    try:
        done = subprocess.run([CLI, "doctor", "--listen", f"127.0.0.1:{bridge.port}", "--engine", engine_endpoint,
                               "--out-dir", str(tmp_path / "renders")], capture_output=True, text=True, timeout=120)
    finally:
        bridge.close()
    osc = [line for line in done.stdout.splitlines() if line.split()[1:2] == ["osc"]][0]
    assert osc.strip().startswith("ok") and "a bridge answers" in osc, done.stdout
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("args, says", [
    (["--threads", "0"], "0 threads: this machine gives 1 to"),
    (["--threads", "999"], "999 threads: this machine gives 1 to"),
    (["--threads", "two"], "'two' is not a whole number of threads"),
    (["--nice", "25"], "nice 25: give 0 (normal) to 19"),
])
def test_an_impossible_thread_count_or_priority_is_refused_before_the_model_loads(args, says, tmp_path):
    for command in (["engine", "--bind", f"tcp://127.0.0.1:{free_port()}"], ["serve", "--out-dir", str(tmp_path)]):
        if command[0] == "serve" and args[0] == "--nice":
            continue  # serve chooses the engine's priority itself
        done = subprocess.run([CLI, *command, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and says in done.stderr, (command, done.stderr)


def test_the_engine_takes_the_threads_and_priority_it_is_given_and_reports_them(tiny_checkpoint):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    engine = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--checkpoint", str(tiny_checkpoint),
                               "--threads", "1", "--nice", "7"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = EngineClient(endpoint)
        deadline = time.monotonic() + 60
        while not client.pinged(0.5):
            assert engine.poll() is None and time.monotonic() < deadline
        status = client.status()
        assert (status["threads"], status["nice"]) == (1, 7)
        threads = Path(f"/proc/{engine.pid}/task").iterdir()  # every thread of it, torch's too
        assert {int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in threads} == {7}
    finally:
        engine.kill()
        engine.wait()
