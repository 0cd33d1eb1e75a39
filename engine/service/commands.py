"""Command-line entry points for the service side: engine, cluster, broker, keys."""

from __future__ import annotations

import argparse
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.store import add_model_options, chosen

log = logging.getLogger("daw-diffusion")
EXIT_OK, EXIT_CONFIG, EXIT_BIND = 0, 2, 3


def add_commands(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("engine", help="run the model as a ZeroMQ service")
    e.add_argument("--bind", default="tcp://127.0.0.1:5557")
    e.add_argument("--connect", help="work for a broker: its engine endpoint, e.g. tcp://host:5558")
    add_model_options(e)
    e.add_argument("--device", default="auto")
    e.add_argument("--queue-size", type=int, default=8)
    e.add_argument("--result-ttl", type=float, default=600.0, help="seconds finished results are kept")
    add_compute_options(e)
    add_security(e)
    e.set_defaults(handler=run_engine)

    b = sub.add_parser("broker", help="put several engines behind one endpoint")
    b.add_argument("--frontend", default="tcp://127.0.0.1:5557", help="where clients connect")
    b.add_argument("--backend", default="tcp://127.0.0.1:5558", help="where engines connect")
    b.add_argument("--per-engine", type=int, default=2, help="jobs in flight per engine")
    add_security(b)
    b.set_defaults(handler=run_broker)

    c = sub.add_parser("cluster", help="the engine's endpoint with jobs run by Ray Serve replicas, on one or many "
                                        "machines (needs the cluster extra: pip install 'daw-diffusion[cluster]')")
    c.add_argument("--bind", default="tcp://127.0.0.1:5557")
    c.add_argument("--address", default="auto", help="the Ray cluster: auto (this machine's) or HEAD_IP:6379")
    c.add_argument("--app", default="daw-diffusion", help="the Serve application's name")
    add_model_options(c, "model, at the same path on every node")
    c.add_argument("--device", default="auto", help="inside each replica (auto: its GPU when it has one)")
    c.add_argument("--min-replicas", type=int, default=1)
    c.add_argument("--max-replicas", type=int, default=2)
    c.add_argument("--num-cpus", type=float, default=1.0, help="CPUs reserved per replica")
    c.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per replica (1: one each; 0.5: two share one)")
    c.add_argument("--upscale-delay", type=float, default=5.0, help="seconds of demand before another replica starts")
    c.add_argument("--downscale-delay", type=float, default=120.0, help="seconds idle before a replica stops")
    c.add_argument("--retries", type=int, default=2, help="runs of a job on another replica after its replica died")
    c.add_argument("--queue-size", type=int, default=8, help="jobs waiting beyond one per replica")
    c.add_argument("--result-ttl", type=float, default=600.0, help="seconds finished results are kept")
    c.add_argument("--keep-replicas", action="store_true", help="leave the replicas running after this exits")
    add_security(c)
    c.set_defaults(handler=run_cluster)

    k = sub.add_parser("keys", help="create a CURVE key pair (NAME.key public, NAME.key_secret private)")
    k.add_argument("folder", type=Path)
    k.add_argument("--name", default="engine")
    k.set_defaults(handler=make_keys)


def add_compute_options(parser: argparse.ArgumentParser) -> None:
    from engine.cores import niceness, thread_count

    parser.add_argument("--threads", type=thread_count, help="compute threads (default: torch's choice, one per core)")
    parser.add_argument("--nice", type=niceness, default=0,
                        help="lower the engine's scheduling priority (0 normal .. 19 lowest), e.g. beside live audio")


def add_security(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--curve-secret", type=Path, help="this server's secret key file")
    parser.add_argument("--curve-clients", type=Path, help="folder of allowed client public keys")
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without CURVE")


def serve_until_signal(server: Any) -> None:
    """SIGINT/SIGTERM ask the server to stop; it then shuts down cleanly."""
    def stop(signum: int, _frame: Any) -> None:
        log.info("%s: shutting down", signal.Signals(signum).name)
        server.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    server.serve()


def run_engine(args: argparse.Namespace) -> dict[str, Any]:
    from engine.device import set_compute
    from engine.pipeline import Pipeline
    from engine.service import EngineService, ServiceConfig
    from engine.service.security import check_binding

    config = ServiceConfig(bind=args.bind, connect=args.connect, queue_size=args.queue_size,
                           result_ttl=args.result_ttl, curve_secret=args.curve_secret,
                           curve_clients=args.curve_clients, insecure=args.insecure)
    if not args.connect and args.curve_secret is None:
        check_binding(args.bind, args.insecure)  # refuse before loading the model
    set_compute(args.threads, args.nice)  # before any thread starts: they inherit the priority
    # Loaded on a passing thread, so that the worker threads' OpenMP team is the process's only
    # one: a main thread that ran torch keeps a second team, libgomp then stops its workers
    # spinning between parallel regions, and a 2 s style transfer took 0.28 s instead of 0.12 s.
    with ThreadPoolExecutor(1) as loader:
        pipeline = loader.submit(Pipeline.from_checkpoint, chosen(args), device=args.device).result()
    service = EngineService(pipeline, config)
    serve_until_signal(service)
    return {"ok": True, "served": service.served}


def run_broker(args: argparse.Namespace) -> dict[str, Any]:
    from engine.service.broker import Broker, BrokerConfig

    broker = Broker(BrokerConfig(frontend=args.frontend, backend=args.backend, per_engine=args.per_engine,
                                 curve_secret=args.curve_secret, curve_clients=args.curve_clients,
                                 insecure=args.insecure))
    serve_until_signal(broker)
    return {"ok": True}


def run_cluster(args: argparse.Namespace) -> dict[str, Any]:
    from engine.service import ServiceConfig
    from engine.service.security import check_binding

    service_config = ServiceConfig(bind=args.bind, queue_size=args.queue_size, result_ttl=args.result_ttl,
                                   curve_secret=args.curve_secret, curve_clients=args.curve_clients,
                                   insecure=args.insecure)
    if args.curve_secret is None:
        check_binding(args.bind, args.insecure)  # refuse before reaching the cluster
    try:
        from ray import serve

        from engine.service.cluster import ClusterConfig, ClusterService, deploy
    except ImportError as exc:
        raise ValueError(f"the cluster mode needs Ray Serve ({exc}): pip install 'daw-diffusion[cluster]'") from None
    config = ClusterConfig(address=args.address, app=args.app, checkpoint=chosen(args), device=args.device,
                           min_replicas=args.min_replicas, max_replicas=args.max_replicas, num_cpus=args.num_cpus,
                           num_gpus=args.num_gpus, upscale_delay=args.upscale_delay,
                           downscale_delay=args.downscale_delay, retries=args.retries)
    service = ClusterService(deploy(config), service_config, config)
    try:
        serve_until_signal(service)
    finally:
        if not args.keep_replicas:
            serve.delete(config.app)  # the replicas' CPUs and GPUs go back to the cluster
    return {"ok": True, "served": service.served}


def make_keys(args: argparse.Namespace) -> dict[str, Any]:
    from engine.service.security import create_keys

    public, secret = create_keys(args.folder, args.name)
    return {"ok": True, "public": str(public), "secret": str(secret)}
