"""The engine service and broker over real TCP sockets on loopback."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processes import CLI, free_port, start_engine
from signals import sine_mix, tiny_model
from zmtp import RawDealer

from engine.client import CurveKeys, EngineClient, EngineUnreachable, renders
from engine.clip import Clip
from engine.pipeline import Pipeline
from engine.protocol import MAX_HEADER_BYTES, VERSION, ProtocolError, decode, encode, make_header
from engine.service import EngineService, ServiceConfig
from engine.service.broker import Broker, BrokerConfig
from engine.service.security import SecurityError, create_keys

SLOW = {"steps": 1000, "griffin_lim_iters": 4}  # a few seconds on the tiny model


class Running:
    """An engine service in a thread of this process, on a real TCP port."""

    slots = 1  # jobs it runs at once
    def __init__(self, **config):
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.service = EngineService(Pipeline(tiny_model()), ServiceConfig(bind=self.endpoint, **config),
                                     context=zmq.Context())
        self.thread = threading.Thread(target=self.service.serve, daemon=True)
        self.thread.start()
        assert self.service.ready.wait(10)

    def client(self, **kw) -> EngineClient:
        return EngineClient(self.endpoint, timeout=kw.pop("timeout", 5.0), **kw)

    def close(self):
        self.service.stop()
        self.thread.join(self.service.config.shutdown_grace + 15)  # a job still running may take its grace
        assert not self.thread.is_alive()


@pytest.fixture
def service_with():
    """Starts engine services with a given config, closed after the test (tests/test_cluster.py
    runs the same tests against the cluster endpoint by giving this another meaning)."""
    started = []

    def start(**config):
        started.append(Running(**config))
        return started[-1]

    yield start
    for running in started:
        running.close()


@pytest.fixture
def engine(service_with):
    return service_with()


def test_ping_and_status(engine):
    client = engine.client()
    assert client.ping()
    status = client.status()
    assert status["protocol"] == VERSION and status["device"] == "cpu" and status["queue"]["capacity"] == 8


def test_several_clients_at_once_each_get_their_own_result(engine):
    results = {}

    def job(k):
        audio = sine_mix(1.0 + 0.25 * k, 44_100)
        final = engine.client(timeout=30).run("style_transfer", {"strength": 0.5, "seed": k, "steps": 3},
                                              {"audio": Clip(audio, 44_100)})
        results[k] = final

    threads = [threading.Thread(target=job, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert sorted(results) == [0, 1, 2, 3]
    for k, final in results.items():
        assert final.type == "result"
        (clip, about), = renders(final)
        assert clip.samples.shape == (2, round((1.0 + 0.25 * k) * 44_100)) and clip.rate == 44_100
        assert about["seed"] == k


def test_progress_arrives_and_cancel_takes_effect_mid_job(engine):
    client = engine.client()
    events = client.submit("generate", {"seconds": 2.0, **SLOW})
    accepted = next(events)
    assert accepted.type == "accepted"
    first = next(events)
    assert first.type == "progress" and 0 < first.header["fraction"] < 0.9
    ack = client.cancel(accepted.header["job"], accepted.header["token"])
    assert ack.type == "cancelled"
    rest = [m.type for m in events]
    assert rest[-1] == "cancelled" and "result" not in rest
    assert client.ping()  # and the engine keeps serving


def test_a_client_that_disconnects_fetches_its_result_later(engine):
    client = engine.client()
    events = client.submit("generate", {"seconds": 1.0, "steps": 200, "seed": 3})
    accepted = next(events).header
    job, token = accepted["job"], accepted["token"]
    events.close()  # the client vanishes mid-job (its socket is closed)
    deadline = time.monotonic() + 60
    while (reply := client.fetch(job, token)).type == "accepted":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert reply.type == "result" and renders(reply)[0][1]["seed"] == 3
    again = client.fetch(job, token)  # results are kept: fetching twice is fine
    assert np.array_equal(renders(again)[0][0].samples, renders(reply)[0][0].samples)


def test_resuming_a_running_job_routes_its_events_to_the_new_client(engine):
    client = engine.client()
    events = client.submit("generate", {"seconds": 1.0, "steps": 400})
    accepted = next(events).header
    events.close()
    resumed = [m.type for m in engine.client(timeout=30).submit("generate", job=accepted["job"], token=accepted["token"])]
    assert resumed[0] == "accepted" and resumed[-1] == "result"


def test_only_the_submitter_can_fetch_or_cancel_a_job_and_status_names_none(engine):
    owner = engine.client()
    events = owner.submit("generate", {"seconds": 1.0, "steps": 200, "seed": 4})
    accepted = next(events).header
    job, token = accepted["job"], accepted["token"]
    other = engine.client()
    status = other.status()
    assert job not in json.dumps(status) and status["queue"]["running"] in (0, 1)
    for guess in ("", "x" * 22, token[:-1] + ("A" if token[-1] != "A" else "B"), "é漢"):  # (not ASCII: no crash)
        for kind in (other.fetch, other.cancel):
            reply = kind(job, guess)
            assert reply.type == "error" and reply.header["code"] == "not_found"
            assert "for this token" in reply.header["message"]
    unknown = other.fetch("0" * 16, token)  # an unknown job reads the same as someone else's
    assert unknown.header["code"] == "not_found"
    rest = [m for m in events]  # the owner still gets its result
    assert rest[-1].type == "result" and renders(rest[-1])[0][1]["seed"] == 4


def test_a_full_queue_answers_busy(service_with):
    running = service_with(queue_size=1)
    client = running.client()
    first = [client.submit("generate", {"seconds": 1.0, **SLOW}) for _ in range(running.slots)]
    for events in first:
        assert next(events).type == "accepted"
        assert next(events).type == "progress"  # running: the queue is empty again
    second = client.submit("generate", {"seconds": 1.0, **SLOW})
    assert next(second).type == "accepted"  # queued
    refused = client.run("generate", {"seconds": 1.0})
    assert refused.type == "error" and refused.header["code"] == "busy"
    for events in [*first, second]:
        events.close()


@pytest.mark.parametrize("task, params, audio, code", [
    ("frobnicate", {}, {}, "unknown_task"),
    ("generate", {"seconds": -1}, {}, "bad_parameter"),
    ("generate", {"seconds": 1, "colour": "blue"}, {}, "bad_parameter"),
    ("generate", {"seconds": 1, "seed": "seven"}, {}, "bad_parameter"),
    ("generate", {"seconds": 1, "steps": "many"}, {}, "bad_parameter"),
    ("generate", {"seconds": 1, "settings": {"steps": 2}}, {}, "bad_parameter"),
    ("style_transfer", {"strength": 0.5}, {}, "bad_message"),
    ("style_transfer", {"strength": 0.5}, {"audio": Clip(np.full((2, 44_100), np.nan, np.float32), 44_100)}, "bad_audio"),
    ("style_transfer", {"strength": 0.5}, {"audio": Clip(np.zeros((2, 44_100), np.float32), 44_100)}, "bad_audio"),
    ("inpaint", {"regions": [[2.0, 1.0]]}, {"audio": Clip(sine_mix(1.0, 44_100), 44_100)}, "bad_parameter"),
])
def test_bad_jobs_get_typed_errors(engine, task, params, audio, code):
    reply = engine.client().run(task, params, audio)
    assert reply.type == "error" and reply.header["code"] == code, reply.header


def raw_socket(endpoint, kind=zmq.DEALER, bind=False):
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint) if bind else sock.connect(endpoint)
    return sock


def ask(sock, frames, timeout=5000):
    sock.send_multipart(frames)
    return decode(sock.recv_multipart()) if sock.poll(timeout) else None


@pytest.mark.parametrize("frames, code", [
    ([b"not json"], "bad_message"),
    ([b"[1, 2]"], "bad_message"),
    ([b'{"v": 99, "type": "ping"}'], "bad_version"),
    ([b'{"v": 2, "type": "teleport"}'], "unknown_type"),
    ([b'{"v": 2, "type": "submit", "task": "generate"}'], "bad_message"),
    ([encode(make_header("submit", "x", task="style_transfer", params={}))[0][:-1] +
      b',"audio":[{"name":"audio","sample_rate":44100,"channels":2,"frames":100,"dtype":"float32"}]}', b"\0" * 10],
     "bad_message"),
    ([b'{"v":2,"type":"submit","task":"style_transfer","params":{},'
      b'"audio":[{"name":"audio","sample_rate":44100,"channels":1,"frames":2,"dtype":"int16"}]}', b"\0" * 4], "bad_message"),
    ([b'{"v":2,"type":"submit","task":"generate","params":{},'
      b'"audio":[{"name":"audio","sample_rate":44100,"channels":99,"frames":1,"dtype":"float32"}]}', b"\0" * 396],
     "too_large"),
    ([b'{"v":2,"type":"submit","task":"style_transfer","params":{},'  # no name: which input is it?
      b'"audio":[{"sample_rate":44100,"channels":1,"frames":1,"dtype":"float32"}]}', b"\0" * 4], "bad_message"),
    ([b'{"v":2,"type":"submit","task":"style_transfer","params":{},'
      b'"audio":[{"name":7,"sample_rate":44100,"channels":1,"frames":1,"dtype":"float32"}]}', b"\0" * 4], "bad_message"),
    ([b"{" + b" " * 70_000 + b"}"], "too_large"),
    ([b"[" * 2000], "bad_message"),  # deep nesting: json.loads would raise RecursionError
    ([b'{"v":2,"type":"ping","x":' + b"[" * 5000 + b"]" * 5000 + b"}"], "bad_message"),
    ([b'{"v": 2, "type": "fetch", "job": "nope", "token": "t"}'], "not_found"),
    ([b'{"v": 2, "type": "cancel", "job": "nope"}'], "bad_message"),  # no token
    (['{"v": 2, "type": "fetch", "job": "nope", "token": "\u00e9\u6f22"}'.encode()], "not_found"),  # not ASCII
    ([b'{"v": 2, "type": "pong"}'], "unknown_type"),
    ([b'{"v": 2, "type": "fetch", "job": "nope", "token": "\\ud800"}'], "bad_message"),  # a lone surrogate
    ([b'{"v": 2, "type": "cancel", "job": "\\udfff", "token": "t"}'], "bad_message"),
    ([b'{"v": 2, "type": "submit", "task": "generate", "params": {"prompt": "\\ud83d"}}'], "bad_message"),
    ([b'{"v": 2, "type": "submit", "task": "generate", "params": {"seconds": NaN}}'], "bad_message"),
    ([b'{"v": 2, "type": "ping", "id": "x", "\\ud800": Infinity}'], "bad_message"),
])
def test_malformed_messages_get_typed_errors(engine, frames, code):
    reply = ask(raw_socket(engine.endpoint), frames)
    assert reply is not None and reply.type == "error" and reply.header["code"] == code


def test_named_clips_survive_the_wire_and_duplicated_names_are_refused():
    a, b = Clip(sine_mix(0.1, 44_100), 44_100), Clip(sine_mix(0.2, 48_000, channels=1)[0], 48_000)
    message = decode(encode(make_header("submit", "x", task="interpolate", params={}), {"b": b, "a": a}))
    assert list(message.audio) == ["b", "a"]  # named, in the order sent
    assert message.audio["a"].rate == 44_100 and np.array_equal(message.audio["a"].samples, a.samples)
    assert message.audio["b"].samples.shape == (1, 9_600) and message.audio["b"].rate == 48_000
    header, *pcm = encode(make_header("submit", "x", task="interpolate", params={}), {"a": a, "b": a})
    with pytest.raises(ProtocolError, match="given twice") as twice:
        decode([header.replace(b'"name":"b"', b'"name":"a"'), *pcm])
    assert twice.value.code == "bad_message"


def clip(seconds=1.0):
    return Clip(sine_mix(seconds, 44_100), 44_100)


def duplicated(task, name):
    """A submit whose two PCM frames both say they are `name` (a client's dict cannot send it)."""
    header, *pcm = encode(make_header("submit", "dup", task=task, params={"strength": 0.5}),
                          {name: clip(), "other": clip()})
    return [header.replace(b'"name":"other"', f'"name":"{name}"'.encode()), *pcm]


@pytest.mark.parametrize("task, audio, says", [
    ("style_transfer", {"sound": clip()}, "no input named 'sound'"),  # an unknown name
    ("style_transfer", {"audio": clip(), "reference": clip()}, "no input named 'reference'"),  # one too many
    ("interpolate", {"a": clip()}, "'b' missing"),  # a missing input
    ("interpolate", {"a": clip(), "c": clip()}, "'b' missing; no input named 'c'"),
    ("generate", {"audio": clip()}, "generate takes no audio"),
])
def test_audio_inputs_with_wrong_names_get_typed_errors_and_the_engine_keeps_serving(engine, task, audio, says):
    reply = engine.client().run(task, {"strength": 0.5} if task == "style_transfer" else {}, audio)
    assert reply.type == "error" and reply.header["code"] == "bad_message", reply.header
    assert says in reply.header["message"]
    assert engine.client().ping()


@pytest.mark.parametrize("task, name", [("style_transfer", "audio"), ("interpolate", "a")])
def test_a_duplicated_input_name_gets_a_typed_error_and_the_engine_keeps_serving(engine, task, name):
    reply = ask(raw_socket(engine.endpoint), duplicated(task, name))
    assert reply is not None and reply.type == "error" and reply.header["code"] == "bad_message"
    assert f"audio {name!r} is given twice" in reply.header["message"]
    assert engine.client().ping()


def test_a_version_1_message_is_refused_with_the_version_this_engine_speaks(engine):
    v1 = [b'{"v":1,"type":"submit","id":"old","task":"style_transfer","params":{},'  # inputs by position
          b'"audio":[{"sample_rate":44100,"channels":1,"frames":1,"dtype":"float32"}]}', b"\0" * 4]
    reply = ask(raw_socket(engine.endpoint), v1)
    assert reply is not None and reply.type == "error" and reply.header["code"] == "bad_version"
    assert f"speaks {VERSION}" in reply.header["message"] and VERSION == 2
    assert engine.client().ping()


def test_inputs_are_bound_by_name_not_by_the_order_they_travel_in(engine):
    a, b = clip(1.0), Clip(sine_mix(0.6, 44_100)[:, ::-1].copy() * 0.5, 44_100)
    params = {"ratio": 0.3, "seed": 5, "steps": 2, "griffin_lim_iters": 2}
    in_order = engine.client(timeout=30).run("interpolate", params, {"a": a, "b": b})
    swapped = engine.client(timeout=30).run("interpolate", params, {"b": b, "a": a})
    assert in_order.type == swapped.type == "result", (in_order.header, swapped.header)
    (out, _), = renders(in_order)
    assert out.samples.shape == a.samples.shape  # at the first clip's length: "a" is the first clip
    assert np.array_equal(out.samples, renders(swapped)[0][0].samples)


FUZZ_HEADERS = st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
    st.sampled_from(["v", "type", "id", "task", "params", "job", "audio"]),
    st.one_of(st.integers(), st.text(max_size=10), st.none(), st.sampled_from(["submit", "fetch", "cancel", "ping", 1])),
    max_size=6))
FUZZ_FRAMES = st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode), FUZZ_HEADERS),
                       min_size=1, max_size=4)


def test_every_fuzzed_message_gets_a_reply_and_a_job_runs_afterwards(service_with):
    running = service_with()
    sock = raw_socket(running.endpoint)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(frames=FUZZ_FRAMES)
    def answered(frames):
        sock.send_multipart(frames)
        assert sock.poll(5000), f"no reply to {frames!r}"
        reply = decode(sock.recv_multipart())
        assert reply.type in ("error", "pong", "status", "cancelled", "accepted")

    try:
        answered()
        # after hundreds of malformed messages, a normal job still succeeds
        final = running.client(timeout=30).run("style_transfer", {"strength": 0.3, "steps": 2},
                                               {"audio": Clip(sine_mix(1.0, 44_100), 44_100)})
        assert final.type == "result"
    finally:
        sock.close()


def test_importing_the_client_does_not_import_torch():
    code = "import sys, engine.client, engine.protocol, engine.service.broker; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unreachable_engine_is_reported_not_hung():
    client = EngineClient(f"tcp://127.0.0.1:{free_port()}", timeout=0.3, retries=1)
    start = time.monotonic()
    with pytest.raises(EngineUnreachable):
        client.ping()
    assert time.monotonic() - start < 5


def test_curve_refuses_strangers_and_admits_allowed_clients(service_with, tmp_path, caplog):
    server_public, server_secret = create_keys(tmp_path / "server", "engine")
    allowed_public, allowed_secret = create_keys(tmp_path / "allowed", "alice")
    _, stranger_secret = create_keys(tmp_path / "strangers", "mallory")
    running = service_with(curve_secret=server_secret, curve_clients=tmp_path / "allowed")
    alice = running.client(curve=CurveKeys.from_files(server_public, allowed_secret))
    assert alice.ping()
    mallory = running.client(curve=CurveKeys.from_files(server_public, stranger_secret), timeout=0.5, retries=1)
    with pytest.raises(EngineUnreachable, match="refused this client's key: its public key must be in the folder"):
        mallory.ping()
    with pytest.raises(EngineUnreachable, match="refused this client's key"):  # a job, too
        mallory.run("generate", {"seconds": 1.0})
    assert not mallory.handshakes  # every socket's monitor closed with it
    assert any("refused a client" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    plain = running.client(timeout=0.5, retries=1)
    with pytest.raises(EngineUnreachable, match="no reply"):
        plain.ping()


def test_keys_are_made_private_and_a_secret_others_can_read_is_refused_with_the_fix(tmp_path):
    public, secret = create_keys(tmp_path / "keys", "engine")
    assert (public.stat().st_mode & 0o777, secret.stat().st_mode & 0o777) == (0o644, 0o600)
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["engine.key", "engine.key_secret"]
    with pytest.raises(FileExistsError):
        create_keys(tmp_path / "keys", "engine")
    _, client_secret = create_keys(tmp_path / "clients", "alice")
    client_secret.chmod(0o644)
    with pytest.raises(SecurityError, match="chmod 600"):
        CurveKeys.from_files(public, client_secret)
    secret.chmod(0o640)
    with pytest.raises(SecurityError, match="mode 0640"):
        EngineService(Pipeline(tiny_model()), ServiceConfig(
            bind=f"tcp://127.0.0.1:{free_port()}", curve_secret=secret, curve_clients=tmp_path / "clients"),
            context=zmq.Context()).open_socket()
    with pytest.raises(SecurityError, match="cannot read the secret key"):
        CurveKeys.from_files(public, tmp_path / "missing.key_secret")


def test_binding_beyond_loopback_needs_curve_or_insecure():
    with pytest.raises(SecurityError, match="CURVE"):
        EngineService(Pipeline(tiny_model()), ServiceConfig(bind="tcp://0.0.0.0:5599")).open_socket()
    done = subprocess.run([CLI, "engine", "--bind", "tcp://0.0.0.0:5599"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "CURVE" in done.stdout


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


def test_engine_process_shuts_down_cleanly_on_sigterm(checkpoint):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = start("engine", "--bind", endpoint, "--checkpoint", str(checkpoint))
    try:
        client = EngineClient(endpoint, timeout=30)
        assert client.ping()
        events = client.submit("generate", {"seconds": 1.0, "steps": 300})
        assert next(events).type == "accepted"
        assert next(events).type == "progress"  # it is running
        queued = client.submit("generate", {"seconds": 1.0})
        assert next(queued).type == "accepted"
        proc.send_signal(signal.SIGTERM)
        assert [m.type for m in events][-1] == "result"  # the running job finishes first
        assert [m.type for m in queued][-1] == "cancelled"  # the queued one is told it will not run
        assert proc.wait(60) == 0
    finally:
        proc.kill()


def test_broker_survives_an_engine_killed_mid_job(checkpoint):
    front, back = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    broker = start("broker", "--frontend", front, "--backend", back, "--per-engine", "1")
    engines = [start("engine", "--connect", back, "--checkpoint", str(checkpoint)) for _ in range(2)]
    try:
        client = EngineClient(front, timeout=30)
        deadline = time.monotonic() + 90
        while client.status().get("engines", 0) < 2:
            assert time.monotonic() < deadline, "engines did not register"
            time.sleep(0.3)
        events = client.submit("generate", {"seconds": 1.0, "steps": 600, "seed": 9})
        job = next(events).header["job"]
        for message in events:  # wait until an engine is working on it
            if message.type == "progress":
                break
        before = {p.pid: cpu_seconds(p.pid) for p in engines}
        time.sleep(0.5)  # kill whichever engine is running it: the one whose CPU time grows
        victim = max(engines, key=lambda p: cpu_seconds(p.pid) - before[p.pid])
        victim.send_signal(signal.SIGKILL)
        final = [m for m in events][-1]
        assert final.type == "result" and final.header["job"] == job
        assert renders(final)[0][1]["seed"] == 9
        broker.send_signal(signal.SIGTERM)
        log = broker.communicate(timeout=30)[1]
        assert "1 job(s) go to another engine" in log  # it really was re-run elsewhere
    finally:
        for p in [broker, *engines]:
            p.kill()


class Brokered:
    """A broker and one engine working for it, each in a thread of this process, on real TCP ports."""

    def __init__(self):
        self.endpoint, backend = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        self.broker = Broker(BrokerConfig(frontend=self.endpoint, backend=backend), context=zmq.Context())
        self.engine = EngineService(Pipeline(tiny_model()), ServiceConfig(connect=backend), context=zmq.Context())
        self.threads = [threading.Thread(target=s.serve, daemon=True) for s in (self.broker, self.engine)]
        [t.start() for t in self.threads]
        deadline = time.monotonic() + 10
        while self.client().status()["engines"] < 1:
            assert time.monotonic() < deadline, "the engine did not register"
            time.sleep(0.1)

    def client(self, **kw) -> EngineClient:
        return EngineClient(self.endpoint, timeout=kw.pop("timeout", 5.0), **kw)

    def close(self):
        self.engine.stop()
        self.broker.stop()
        for thread in self.threads:
            thread.join(20)
            assert not thread.is_alive()


@pytest.fixture
def brokered():
    running = Brokered()
    yield running
    running.close()


def within(seconds: float):
    """A `give_up` for `submit`: true once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() > deadline


@pytest.mark.parametrize("task, audio, code, says", [  # refusals only the engine can make: the broker knows no tasks
    ("frobnicate", {}, "unknown_task", "unknown task 'frobnicate'"),
    ("style_transfer", {"sound": clip()}, "bad_message", "no input named 'sound'"),
])
def test_an_engine_refusing_a_brokered_job_reaches_the_client_and_ends_the_job(brokered, task, audio, code, says):
    client = brokered.client()
    events = list(client.submit(task, {"strength": 0.5}, audio, give_up=within(5)))
    accepted, refusal = events[0].header, events[-1]
    assert refusal.type == "error" and refusal.header["code"] == code, refusal.header
    assert says in refusal.header["message"]
    ended = client.fetch(accepted["job"], accepted["token"])  # the broker's table ended the job with it
    assert ended.type == "error" and ended.header["code"] == code
    assert client.status()["running"] == 0
    final = brokered.client(timeout=30).run("generate", {"seconds": 0.5, "steps": 2, "seed": 1})
    assert final.type == "result" and renders(final)[0][1]["seed"] == 1


def test_an_osc_bridge_in_front_of_a_broker_answers_status(brokered, tmp_path):
    """A broker's status has its own queue (a number) and no one model: the bridge still answers."""
    from osc_peers import BridgeProcess

    bridge = BridgeProcess(brokered.endpoint, tmp_path)
    peer = bridge.peer()
    try:
        peer.request("/diffusion/status", "s")
        status = peer.wait_for("/diffusion/status", "s", timeout=30)
        assert status[1] == "ok" and status[3] == 0, status
    finally:
        peer.close()
        bridge.close()


@pytest.mark.parametrize("kind", ["fetch", "cancel"])
def test_a_token_with_a_lone_surrogate_is_refused_by_the_broker_which_keeps_serving(brokered, kind):
    sock = raw_socket(brokered.endpoint)
    reply = ask(sock, [('{"v": 2, "type": "%s", "job": "j", "token": "\\ud800"}' % kind).encode()])
    assert reply is not None and reply.header["code"] == "bad_message" and "Unicode" in reply.header["message"]
    assert ask(sock, encode(make_header("ping", "after"))).type == "pong"


def test_an_unexpected_error_handling_one_message_is_answered_and_the_engine_keeps_serving(engine, monkeypatch):
    def broken(peer, message):
        raise KeyError("a bug")

    monkeypatch.setattr(engine.service, "on_status", broken)
    sock = raw_socket(engine.endpoint)
    reply = ask(sock, encode(make_header("status", "s")))
    assert reply.type == "error" and reply.header["code"] == "failed" and reply.id == "s"
    assert ask(sock, encode(make_header("ping", "p"))).type == "pong"
    assert engine.thread.is_alive()


def test_a_submit_the_broker_would_name_past_the_header_limit_is_refused_there(brokered):
    # the job's name and token make the header longer: past the limit, the engine could not read it
    bare = len(encode(make_header("submit", "0" * 32, task="generate", params={"note": ""}))[0])
    note = "x" * (MAX_HEADER_BYTES - bare)  # a header of exactly the limit, as the client sends it
    refusal = list(brokered.client().submit("generate", {"note": note}, give_up=within(5)))[-1]
    assert refusal.type == "error" and refusal.header["code"] == "too_large", refusal.header
    assert brokered.client().status()["running"] == 0


def test_a_job_its_broker_sends_again_is_resumed_not_refused():
    # an engine that reconnects (a new identity) may be sent a job it still holds; a raw ROUTER plays the broker
    backend = f"tcp://127.0.0.1:{free_port()}"
    broker = raw_socket(backend, zmq.ROUTER, bind=True)
    service = EngineService(Pipeline(tiny_model()), ServiceConfig(connect=backend), context=zmq.Context())
    thread = threading.Thread(target=service.serve, daemon=True)
    thread.start()
    try:
        assert broker.poll(10_000)
        engine = broker.recv_multipart()[0]  # its READY
        for request_id in ("first", "again"):
            submit = make_header("submit", request_id, task="generate", params={"seconds": 1.0, **SLOW}, job="j", token="t")
            broker.send_multipart([engine, b"client", *encode(submit)])
        replies = {}
        while len(replies) < 2 and broker.poll(5000):
            reply = decode(broker.recv_multipart()[2:])
            replies.setdefault(reply.id, reply)  # (the job's progress aside)
        assert replies["again"].type == "accepted" and replies["again"].header["job"] == "j", replies["again"].header
        broker.send_multipart([engine, b"client", *encode(make_header("cancel", "stop", job="j", token="t"))])
    finally:
        service.stop()
        thread.join(20)
        broker.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_client_retries_until_a_restarted_engine_answers(checkpoint):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    answers = []
    client = EngineClient(endpoint, timeout=2.0, retries=15)
    asking = threading.Thread(target=lambda: answers.append(
        client.run("generate", {"seconds": 0.5, "steps": 2, "seed": 4})))
    asking.start()  # nobody is listening yet: the client keeps retrying (Lazy Pirate)
    time.sleep(1.0)
    proc = start("engine", "--bind", endpoint, "--checkpoint", str(checkpoint))
    try:
        asking.join(60)
        assert answers and answers[0].type == "result" and renders(answers[0])[0][1]["seed"] == 4
    finally:
        proc.kill()


def test_asyncio_clients_run_jobs_concurrently(engine):
    import asyncio

    async def one(seed):
        return [m async for m in engine.client(timeout=30).asubmit("generate", {"seconds": 0.5, "steps": 3, "seed": seed})]

    async def both():
        return await asyncio.gather(one(1), one(2))

    first, second = asyncio.run(both())
    assert first[-1].type == second[-1].type == "result"
    assert renders(first[-1])[0][1]["seed"] == 1 and renders(second[-1])[0][1]["seed"] == 2


def test_a_flood_of_submits_is_answered_and_the_engine_keeps_serving(service_with):
    running = service_with(queue_size=2)
    sock = raw_socket(running.endpoint)
    request = encode(make_header("submit", "flood", task="generate", params={"seconds": 1.0, **SLOW}))
    for _ in range(200):
        sock.send_multipart(request)
    replies = []  # the answers to the 200 submits (progress of the running jobs aside)
    while len(replies) < 200 and sock.poll(5000):
        reply = decode(sock.recv_multipart())
        if reply.type in ("accepted", "error"):
            replies.append(reply)
    kinds = [r.header.get("code", r.type) for r in replies]
    capacity = 2 + running.slots  # the queue, and a job in each slot
    assert len(kinds) == 200 and kinds.count("accepted") <= capacity and kinds.count("busy") >= 200 - capacity
    for job, token in {(r.header["job"], r.header["token"]) for r in replies if r.type == "accepted"}:
        running.client().cancel(job, token)
    assert running.client().ping()


def test_a_taken_port_exits_with_its_own_code(engine, checkpoint):
    done = subprocess.run([CLI, "engine", "--bind", engine.endpoint, "--checkpoint", str(checkpoint)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "Address already in use" in done.stdout
    assert engine.client().ping()  # the engine that holds the port is untouched


def test_a_client_refuses_audio_over_the_message_limit_before_sending(engine):
    twelve_minutes = np.zeros((2, 12 * 60 * 48_000), np.float32)  # 276 MB: zeros the kernel never backs
    with pytest.raises(ProtocolError, match="select a shorter part") as refused:
        next(engine.client().submit("style_transfer", {"strength": 0.5}, {"audio": Clip(twelve_minutes, 48_000)}))
    assert refused.value.code == "too_large"
    assert engine.client().ping()


def memory_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def stream_unfinished_message(endpoint: str, hello: bool, limit=2 * 2**30) -> tuple[int, list[list[bytes]]]:
    """A hand-made peer sends 16 MiB frames with the MORE flag, never the last one, until the
    engine closes the connection or `limit` bytes are sent: (bytes sent, messages it received)."""
    peer, heard = RawDealer(endpoint), []
    if hello:  # a ping first: the engine knows whom to tell
        peer.send(encode(make_header("ping", "hello")))
        heard.append(peer.recv())
    peer.sock.settimeout(10)
    chunk, sent = bytes(16 * 2**20), 0
    try:
        peer.send_frame(b"{", more=True)
        while sent < limit:
            peer.send_frame(chunk, more=True)
            sent += len(chunk)
    except OSError:
        pass
    try:
        while True:
            heard.append(peer.recv())
    except (OSError, ConnectionError):
        pass
    peer.close()
    return sent, heard


@pytest.mark.parametrize("hello", [False, True], ids=["never heard from", "heard from first"])
def test_an_unfinished_multipart_message_is_cut_off_with_the_engine_memory_bounded(checkpoint, hello):
    proc, endpoint = start_engine(checkpoint)
    try:
        before = memory_mib(proc.pid, "VmRSS")
        sent, heard = stream_unfinished_message(endpoint, hello)
        assert sent < 2**30, f"the engine took {sent / 2**20:.0f} MiB of one unfinished message"
        assert memory_mib(proc.pid, "VmHWM") - before < 700  # the 256 MiB limit, and what arrives in a look
        replies = [decode(frames) for frames in heard]
        if hello:
            assert [r.type for r in replies] == ["pong", "error"] and replies[1].header["code"] == "too_large"
        client = EngineClient(endpoint, timeout=30)
        assert client.ping()
        final = client.run("generate", {"seconds": 0.5, "steps": 4, "griffin_lim_iters": 2})
        assert final.type == "result" and renders(final)[0][0].samples.shape[-1] > 0
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)


def test_replies_a_peer_does_not_read_are_bounded_and_its_results_kept_for_fetch(service_with):
    running = service_with(max_message_bytes=8 * 2**20, max_result_bytes=64 * 2**20)
    peer = RawDealer(running.endpoint, receive_buffer=64 * 1024)
    params = {"seconds": 10.0, "channels": 2, "steps": 2, "griffin_lim_iters": 1}  # 3.8 MB a result
    for k in range(8):
        peer.send(encode(make_header("submit", f"job{k}", task="generate", params={**params, "seed": k})))
    jobs = []
    while len(jobs) < 8:  # their tokens, then it stops reading
        reply = decode(peer.recv())
        assert reply.type == "accepted", reply.header
        jobs.append((reply.header["job"], reply.header["token"]))
    deadline = time.monotonic() + 120
    while running.service.served < 8:
        assert time.monotonic() < deadline, "the jobs did not end"
        time.sleep(0.2)
    peer.sock.settimeout(3)
    results, received = 0, 0
    try:
        while True:
            frames = peer.recv()
            received += sum(len(f) for f in frames)
            results += decode(frames).type == "result"
    except (OSError, ConnectionError):
        pass
    assert results < 8 and received < 24 * 2**20  # 8 MiB for it in zmq, the rest in kernel buffers
    client = running.client(timeout=30)
    for job, token in jobs:  # each result kept for its owner all the same
        assert client.fetch(job, token).type == "result"
    assert client.ping()
    peer.close()


def test_the_broker_cuts_off_an_unfinished_multipart_message_too():
    front = f"tcp://127.0.0.1:{free_port()}"
    proc = start("broker", "--frontend", front, "--backend", f"tcp://127.0.0.1:{free_port()}")
    try:
        deadline = time.monotonic() + 30
        while not EngineClient(front).pinged(0.5):
            assert proc.poll() is None and time.monotonic() < deadline, "the broker did not start"
        before = memory_mib(proc.pid, "VmRSS")
        sent, heard = stream_unfinished_message(front, hello=True)
        assert sent < 2**30 and memory_mib(proc.pid, "VmHWM") - before < 700
        assert [decode(frames).header.get("code") for frames in heard] == [None, "too_large"]
        assert EngineClient(front).ping() and proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)


def test_unfinished_messages_each_under_the_limit_are_bounded_together(checkpoint):
    """Four peers each hold 200 MiB of a message (800 MiB): the largest are cut until the
    engine holds at most twice the message limit."""
    proc, endpoint = start_engine(checkpoint)
    peers, cut = [RawDealer(endpoint) for _ in range(4)], []
    try:
        before = memory_mib(proc.pid, "VmRSS")

        def hold(peer):
            try:
                peer.sock.settimeout(10)
                peer.send_frame(b"{", more=True)
                for _ in range(25):
                    peer.send_frame(bytes(8 * 2**20), more=True)
                peer.sock.settimeout(3)
                peer.recv()  # nothing comes: the message is not finished
            except TimeoutError:
                return
            except (OSError, ConnectionError):
                cut.append(peer)

        threads = [threading.Thread(target=hold, args=(peer,)) for peer in peers]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        assert 1 <= len(cut) < 4
        assert memory_mib(proc.pid, "VmHWM") - before < 750  # 512 MiB and what arrives in a look
        assert EngineClient(endpoint).ping() and proc.poll() is None
    finally:
        [peer.close() for peer in peers]
        proc.terminate()
        proc.wait(30)


def test_a_queued_job_nobody_asks_after_is_dropped_when_its_turn_comes(service_with):
    running = service_with(abandon_after=1.5)
    sock = raw_socket(running.endpoint)
    first = ask(sock, encode(make_header("submit", "a", task="generate", params={"seconds": 1.0, **SLOW})))
    silent = ask(sock, encode(make_header("submit", "b", task="generate", params={"seconds": 0.5, "steps": 2})))
    assert first.type == silent.type == "accepted"  # then this peer never asks after "b" again
    waiting = {}
    thread = threading.Thread(target=lambda: waiting.update(final=running.client(timeout=0.5).run(
        "generate", {"seconds": 0.5, "steps": 2, "seed": 4})))
    thread.start()  # a client that waits asks after its job every half second
    time.sleep(3)
    running.client().cancel(first.header["job"], first.header["token"])
    thread.join(60)
    assert waiting["final"].type == "result"
    dropped = running.client().fetch(silent.header["job"], silent.header["token"])
    assert dropped.type == "cancelled" and "nobody asked after it" in dropped.header["reason"]
