"""The cluster mode: the engine's endpoint with Ray Serve replicas behind it, on a local Ray head
plus a second local node (two machines' stand-in), each with one CPU for one replica.

The service tests that apply run here unchanged (imported from test_service.py, with
`service_with` starting cluster fronts); then what only a cluster has: replicas on both nodes, a
replica killed mid-job, a cancel that frees its replica, kept results and Ray's object store,
`render`, the bridge and `doctor` against the cluster endpoint, the `daw-diffusion cluster`
command scaling between its bounds and stopping, and (last: it does not come back) a node lost
mid-job. The service tests left out are the broker's, those of the protocol alone (no server),
and those of the `engine` process (SIGTERM, restart, public bind: their cluster forms are here).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import ray  # the `cluster` extra, which `make test` installs: missing, these tests fail rather than skip
import soundfile as sf
import torch
import zmq
from processes import CLI, free_port
from ray import serve
from ray.cluster_utils import Cluster
from signals import sine_mix

from engine.client import EngineClient, renders
from engine.clip import Clip
from engine.pipeline import Pipeline
from engine.service.cluster import ClusterConfig, ClusterService, deploy
from engine.service.engine import ServiceConfig

from test_bridge import bridge, take, test_oscsend_job_ends_in_oscdump_with_a_real_file  # noqa: F401
from test_service import (  # noqa: F401  (collected here: the same tests against the cluster endpoint)
    SLOW,
    Running,
    checkpoint,
    test_a_client_refuses_audio_over_the_message_limit_before_sending,
    test_a_client_that_disconnects_fetches_its_result_later,
    test_a_duplicated_input_name_gets_a_typed_error_and_the_engine_keeps_serving,
    test_a_flood_of_submits_is_answered_and_the_engine_keeps_serving,
    test_a_full_queue_answers_busy,
    test_a_taken_port_exits_with_its_own_code,
    test_a_version_1_message_is_refused_with_the_version_this_engine_speaks,
    test_asyncio_clients_run_jobs_concurrently,
    test_audio_inputs_with_wrong_names_get_typed_errors_and_the_engine_keeps_serving,
    test_bad_jobs_get_typed_errors,
    test_curve_refuses_strangers_and_admits_allowed_clients,
    test_every_fuzzed_message_gets_a_reply_and_a_job_runs_afterwards,
    test_inputs_are_bound_by_name_not_by_the_order_they_travel_in,
    test_malformed_messages_get_typed_errors,
    test_only_the_submitter_can_fetch_or_cancel_a_job_and_status_names_none,
    test_ping_and_status,
    test_progress_arrives_and_cancel_takes_effect_mid_job,
    test_resuming_a_running_job_routes_its_events_to_the_new_client,
    test_several_clients_at_once_each_get_their_own_result,
)

OBJECT_STORE = 150 * 2**20  # bytes per node: small, this machine has other work


@pytest.fixture(scope="module")
def ray_cluster(tiny_checkpoint):
    """A Ray head and a second node (one CPU each) with two replicas of the tiny model."""
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": OBJECT_STORE})
    cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    config = ClusterConfig(address=cluster.address, checkpoint=tiny_checkpoint, min_replicas=2, max_replicas=2)
    try:
        yield cluster, config, deploy(config)
    finally:
        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()


class ClusterRunning(Running):
    """A cluster front in a thread of this process, on a real TCP port, before the replicas."""

    def __init__(self, replicas, cluster_config, **config):
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.slots = cluster_config.max_replicas
        self.service = ClusterService(replicas, ServiceConfig(bind=self.endpoint, **config), cluster_config,
                                      context=zmq.Context())
        self.thread = threading.Thread(target=self.service.serve, daemon=True)
        self.thread.start()
        assert self.service.ready.wait(10)


@pytest.fixture
def service_with(ray_cluster):
    _, config, replicas = ray_cluster
    started = []

    def start(**service_config):
        started.append(ClusterRunning(replicas, config, **service_config))
        return started[-1]

    yield start
    for running in started:
        running.close()


@pytest.fixture
def engine(service_with):
    return service_with()


@pytest.fixture(scope="module")
def engine_endpoint(ray_cluster):
    """For the bridge's tests: the cluster endpoint where they expect an engine."""
    _, config, replicas = ray_cluster
    running = ClusterRunning(replicas, config)
    yield running.endpoint
    running.close()


def wait_for_replicas(client: EngineClient, count: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while (cluster := client.status()["cluster"])["replicas"] != count:
        assert time.monotonic() < deadline, f"{cluster['replicas']} replicas, not {count}, after {timeout} s"
        time.sleep(0.5)
    return cluster


def test_the_cluster_endpoint_reports_its_replicas_on_two_nodes(engine):
    status = engine.client().status()
    assert status["device"] == "cpu" and status["queue"]["capacity"] == 8
    assert status["cluster"] == {"replicas": 2, "min_replicas": 2, "max_replicas": 2, "nodes": 2, "gpus": 0.0,
                                 "gpus_used": 0.0}
    finals = [engine.client(timeout=60).submit("generate", {"seconds": 0.5, "steps": 200, "seed": k}) for k in range(2)]
    jobs = [next(events).header["job"] for events in finals]
    assert all([m.type for m in events][-1] == "result" for events in finals)
    nodes = {engine.service.where(job)[0]["node"] for job in jobs}
    assert len(nodes) == 2  # one replica per node: two jobs at once ran on both


def direct(model, task, params, **audio):
    """The same job on a pipeline in this process, at the replicas' one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return Pipeline.from_checkpoint(model, "cpu").run(task, **params, **audio)
    finally:
        torch.set_num_threads(threads)


def test_a_replica_killed_mid_job_has_the_job_finish_on_another_and_nothing_is_lost(service_with, ray_cluster,
                                                                                     tiny_checkpoint):
    running = service_with()
    client = running.client(timeout=60)
    slow = {"seconds": 8.0, "steps": 1000, "griffin_lim_iters": 2}  # about 5 s on one thread
    victim = client.submit("generate", {**slow, "seed": 9})
    job = next(victim).header["job"]
    neighbour = client.submit("generate", {**slow, "seed": 10})  # on the other replica
    queued = client.submit("generate", {"seconds": 0.5, "steps": 2, "seed": 11})  # waits for a free replica
    assert next(victim).type == "progress"  # it runs
    killed = running.service.where(job)[0]["pid"]
    os.kill(killed, signal.SIGKILL)
    final = [m for m in victim][-1]
    assert final.type == "result" and final.header["job"] == job, final.header
    runs = running.service.where(job)
    assert len(runs) == 2 and runs[1]["pid"] != killed  # it really ran again, elsewhere
    (clip, about), = renders(final)
    assert about["seed"] == 9
    (expected,) = direct(tiny_checkpoint, "generate", {**slow, "seed": 9})
    assert np.array_equal(clip.samples, expected.audio)  # the same audio a direct engine renders
    for events, seed in ((neighbour, 10), (queued, 11)):  # nothing else was lost
        last = [m for m in events][-1]
        assert last.type == "result" and renders(last)[0][1]["seed"] == seed, last.header
    wait_for_replicas(client, 2)  # Serve replaced the dead replica


def test_a_cancel_reaches_the_replica_and_frees_it(engine):
    client = engine.client(timeout=60)
    long = [client.submit("generate", {"seconds": 20.0, **SLOW}) for _ in range(2)]  # both replicas busy, ~12 s
    accepted = [next(events).header for events in long]
    for events in long:
        assert next(events).type == "progress"
    for header in accepted:
        assert client.cancel(header["job"], header["token"]).type == "cancelled"
    assert all([m.type for m in events][-1] == "cancelled" for events in long)
    start = time.monotonic()
    final = client.run("generate", {"seconds": 0.5, "steps": 2, "seed": 1})
    assert final.type == "result" and time.monotonic() - start < 5  # a replica is free: the slow jobs stopped


def test_kept_results_do_not_fill_rays_object_store_and_stall_later_jobs(engine):
    # 60 results of 10 s stereo (3.5 MB each, all kept for fetch) are more than a node's 150 MB store
    client, audio = engine.client(timeout=60), Clip(sine_mix(10.0, 44_100), 44_100)
    seconds = []
    for _ in range(60):
        start = time.monotonic()
        final = client.run("style_transfer", {"strength": 0.5, "steps": 1, "griffin_lim_iters": 1}, {"audio": audio})
        seconds.append(time.monotonic() - start)
        assert final.type == "result"
    # a full store stalls each job by 2 s or more; held against the first jobs' own time, so that a
    # machine busy with other work does not read as a stall
    assert statistics.median(seconds[-10:]) < 2 * statistics.median(seconds[:10]) + 1.0, seconds


def test_render_against_the_cluster_writes_what_a_direct_engine_writes(engine_endpoint, tiny_checkpoint, tmp_path):
    source = tmp_path / "take.wav"
    sf.write(source, sine_mix(2.0, 48_000).T, 48_000, subtype="FLOAT")
    args = ["render", "--task", "style", "--input", str(source), "--strength", "0.5", "--seed", "7",
            "--steps", "2", "--griffin-lim-iters", "2", "--engine", engine_endpoint]
    done = subprocess.run([CLI, *args, "--output", str(tmp_path / "cluster.wav")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["ok"] and reply["outputs"][0]["seed"] == 7
    written, rate = sf.read(tmp_path / "cluster.wav", dtype="float32", always_2d=True)
    audio, _ = sf.read(source, dtype="float32", always_2d=True)
    (expected,) = direct(tiny_checkpoint, "style_transfer", {"strength": 0.5, "seed": 7, "steps": 2,
                                                             "griffin_lim_iters": 2}, audio=audio.T.copy(),
                         sample_rate=48_000)
    assert rate == 48_000 and written.shape == (96_000, 2)
    assert np.array_equal(written.T, expected.audio)


def test_doctor_reports_the_clusters_replicas_and_gpus(engine_endpoint, tmp_path):
    done = subprocess.run([CLI, "doctor", "--engine", engine_endpoint, "--listen", f"127.0.0.1:{free_port()}",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=180)
    line = next(line for line in done.stdout.splitlines() if " engine " in line)
    assert "cluster" in line and "2 of 2 replicas" in line and "2 nodes" in line and "0 GPUs" in line, line


def test_ray_is_imported_by_the_cluster_mode_only():
    code = ("import sys, bridge.cli, bridge.doctor, engine.service, engine.service.commands, engine.pipeline; "
            "bridge.cli.build_parser(); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_public_bind_without_curve_is_refused_before_ray_is_reached():
    done = subprocess.run([CLI, "cluster", "--bind", "tcp://0.0.0.0:5599", "--address", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "CURVE" in done.stdout


def test_a_ray_address_nobody_answers_on_is_refused_at_once():
    address = f"127.0.0.1:{free_port()}"
    done = subprocess.run([CLI, "cluster", "--bind", f"tcp://127.0.0.1:{free_port()}", "--address", address],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"no Ray cluster answers at {address}" in done.stdout


def test_the_cluster_command_scales_its_replicas_with_the_jobs_and_shuts_down_after_its_running_job(ray_cluster, tiny_checkpoint):
    cluster, _, _ = ray_cluster
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([CLI, "cluster", "--bind", endpoint, "--address", cluster.address, "--app", "scaling",
                             "--checkpoint", str(tiny_checkpoint), "--min-replicas", "1", "--max-replicas", "2",
                             "--num-cpus", "0", "--upscale-delay", "0.5", "--downscale-delay", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = EngineClient(endpoint, timeout=60)
        deadline = time.monotonic() + 120
        while not client.pinged(1.0):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        assert client.status()["cluster"]["replicas"] == 1
        jobs = [client.submit("generate", {"seconds": 20.0, "steps": 1000, "seed": k}) for k in range(2)]
        for events in jobs:
            assert next(events).type == "accepted"
        assert wait_for_replicas(client, 2)["max_replicas"] == 2  # two jobs in flight: a second replica
        assert all([m.type for m in events][-1] == "result" for events in jobs)
        wait_for_replicas(client, 1)  # idle again: back to the minimum
        # about 2 s alone: well inside the 30 s a stopping engine gives its running job, even on a busy machine
        running = client.submit("generate", {"seconds": 8.0, "steps": 400, "seed": 5})
        assert next(running).type == "accepted" and next(running).type == "progress"
        proc.send_signal(signal.SIGTERM)
        assert [m.type for m in running][-1] == "result"  # the running job finishes first
        assert proc.wait(60) == 0
        assert "scaling" not in serve.status().applications  # its replicas are gone with it
    finally:
        proc.kill()


def test_a_node_lost_mid_job_has_its_job_finish_on_the_other_node(ray_cluster, service_with):
    # last in this module: the second node does not come back
    cluster, _, _ = ray_cluster
    running = service_with()
    client = running.client(timeout=120)
    jobs = [client.submit("generate", {"seconds": 8.0, "steps": 1000, "seed": 20 + k}) for k in range(2)]
    ids = [next(events).header["job"] for events in jobs]
    for events in jobs:  # one on each node
        assert next(events).type == "progress"
    cluster.remove_node(next(iter(cluster.worker_nodes)), allow_graceful=False)  # its raylet, store and replica
    finals = [[m for m in events][-1] for events in jobs]
    assert [(f.type, renders(f)[0][1]["seed"]) for f in finals] == [("result", 20), ("result", 21)]
    moved = [runs for runs in map(running.service.where, ids) if len(runs) > 1]
    assert len(moved) == 1 and moved[0][-1]["node"] != moved[0][0]["node"]
