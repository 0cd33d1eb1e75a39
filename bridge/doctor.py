"""`daw-diffusion doctor`: checks what `serve` needs, one line each, in plain words, with what to
do about each problem. Problems fail the run (exit 1); notes (e.g. no MIDI ports) do not."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Iterator

from bridge.jobs import JobError

OK, NOTE, PROBLEM = "ok", "note", "PROBLEM"


def check_model(args: argparse.Namespace) -> tuple[str, str]:
    """In a child process: the bridge side stays torch-free."""
    from engine.store import BUNDLED_PATH, chosen

    try:
        path = chosen(args) or BUNDLED_PATH
    except Exception as exc:  # no such model
        return PROBLEM, str(exc)
    probe = ("import json, sys, torch; from engine.checkpoint import read_metadata; "
             "meta = read_metadata(sys.argv[1]); "
             "devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else []) "
             "+ (['mps'] if torch.backends.mps.is_available() else []); "
             "print(json.dumps({'trained': meta['trained'], 'devices': devices}))")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        return PROBLEM, f"the model cannot load ({reason}); pass --model with another model, or reinstall"
    found = json.loads(done.stdout)
    trained = ", ".join(k for k, v in found["trained"].items() if v) or "nothing (untrained)"
    return OK, f"model {path} (trained: {trained}); devices: {', '.join(found['devices'])}"


def check_engine(args: argparse.Namespace) -> tuple[str, str]:
    from bridge.render import engine_client

    client = engine_client(args)
    if client.pinged(1.0):
        status = client.status()
        cluster = status.get("cluster")
        if isinstance(cluster, dict):  # `daw-diffusion cluster`: Ray Serve replicas behind the endpoint
            level = PROBLEM if not cluster.get("replicas") and cluster.get("min_replicas") else OK
            return level, (f"cluster answers at {args.engine}: {cluster.get('replicas')} of {cluster.get('max_replicas')} "
                           f"replicas running (at least {cluster.get('min_replicas')}) on {cluster.get('nodes')} nodes, "
                           f"{cluster.get('gpus_used', 0):g} of {cluster.get('gpus', 0):g} GPUs (device {status.get('device')})")
        return OK, f"engine answers at {args.engine} (device {status.get('device')})"
    return NOTE, f"no engine at {args.engine} yet: `daw-diffusion serve` starts one"


def check_osc_port(args: argparse.Namespace) -> tuple[str, str]:
    host, port = args.listen
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if bridge_answers(host, port):
                return OK, f"a bridge answers on udp://{host}:{port} (it is running)"
            return PROBLEM, (f"UDP {host}:{port} is taken ({exc.strerror}) by something that is not a bridge; "
                             "stop it, or pick another port with --listen")
    return OK, f"OSC port udp://{host}:{port} is free"


def bridge_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Does a daw-diffusion bridge at `host:port` answer `/diffusion/ping` (twice tried: UDP)?"""
    from bridge.osc import encode

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1" if host in ("0.0.0.0", "127.0.0.1", "localhost") else "", 0))
        sock.settimeout(timeout)
        for _ in range(2):
            sock.sendto(encode("/diffusion/ping", "doctor", "reply_port", sock.getsockname()[1]),
                        ("127.0.0.1" if host == "0.0.0.0" else host, port))
            try:
                if b"/diffusion/pong" in sock.recv(65536):
                    return True
            except OSError:
                continue
    return False


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hide what C libraries print while probed (ALSA's and JACK's pages of warnings)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_out_dir(args: argparse.Namespace) -> tuple[str, str]:
    folder = args.out_dir.expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return PROBLEM, f"cannot write renders to {folder} ({exc.strerror}); pick another with --out-dir"
    return OK, f"renders go to {folder}"


def check_audio(args: argparse.Namespace) -> tuple[str, str]:
    try:
        import sounddevice as sd
    except OSError as exc:  # no PortAudio library
        return PROBLEM, f"PortAudio is missing ({exc}); install it (Debian: libportaudio2) for live audio"
    apis = [api["name"] for api in sd.query_hostapis()]
    try:
        sd.check_input_settings(device=args.audio_device, channels=args.channels, samplerate=args.sample_rate)
        sd.check_output_settings(device=args.audio_device, channels=args.channels, samplerate=args.sample_rate)
    except Exception as exc:
        level = PROBLEM if args.live else NOTE
        return level, (f"no usable audio device for {args.channels} channels ({exc}); audio systems: "
                       f"{', '.join(apis)}. Live audio needs one (on Linux, start JACK or pick --audio-device)")
    device = sd.query_devices(args.audio_device, "input")
    return OK, f"audio: {device['name']} via {', '.join(apis)}"


def check_midi(args: argparse.Namespace) -> tuple[str, str]:
    try:
        from bridge.midi import Mapping, input_names
    except ImportError as exc:
        return PROBLEM, f"MIDI libraries missing ({exc}); reinstall with `make setup`"
    try:  # only an existing file: the doctor writes nothing
        mapping = Mapping.load(args.midi_map) if args.midi_map and args.midi_map.exists() else None
    except ValueError as exc:
        return PROBLEM, str(exc)
    systems = input_names(mapping.api if mapping else "auto")
    where = f"mapping {args.midi_map}" if mapping else "the default mapping"
    if not systems:
        return (PROBLEM if args.midi else NOTE), ("no MIDI system answers (ALSA sequencer or JACK); "
                                                   "on Linux load snd-seq or start JACK")
    ports = "; ".join(f"{api}: {', '.join(names) or 'no ports'}" for api, names in systems.items())
    return OK, f"MIDI with {where}; inputs {ports}"


def check_live(args: argparse.Namespace) -> tuple[str, str]:
    """The live setup: what the engine computes with beside the audio, and with --live the
    stream itself for a second (its longest gap between callbacks against its buffer)."""
    from bridge.live import realtime_permitted
    from bridge.render import engine_client
    from engine.cores import LIVE_NICE, cores, live_threads

    n, threads = cores(), live_threads(realtime_permitted())
    words = [f"{n} cores; `serve --live` gives its engine {threads} thread(s) at nice {LIVE_NICE}"]
    level = OK
    client = engine_client(args)
    status = client.status() if client.pinged(1.0) else {}
    if "threads" in status:
        words.append(f"the running engine has {status['threads']} thread(s) at nice {status.get('nice')}")
        if args.live and status["threads"] >= n and not status.get("nice"):
            level = NOTE
            words.append("dropouts are likely with it beside live audio: start it with `serve --live`, or "
                         f"`engine --threads {threads} --nice {LIVE_NICE}`")
    if args.live:
        from bridge.live import LiveAudio, device_of

        live = LiveAudio(2.0, args.sample_rate, args.channels, device_of(args.audio_device), args.block_size).start()
        try:
            time.sleep(1.0)
            health = live.mixer.health() if live.mixer else {}
        finally:
            live.close()
        block = f"{args.block_size}-frame" if args.block_size else "the device's"
        words.append(f"stream at {live.sample_rate} Hz with {block} buffer: longest gap between callbacks "
                     f"{health.get('longest_gap_ms', 0):.1f} ms, {health.get('underruns', 0)} underrun(s) in 1 s")
        fine, how = live.priority or (False, "no callback in 1 s")
        words.append(f"its thread: {how}")
        level = level if fine else NOTE
        if health.get("underruns"):
            level = NOTE
            words.append("try a larger --block-size")
    return level, "; ".join(words)


CHECKS: dict[str, Callable[[argparse.Namespace], tuple[str, str]]] = {
    "model": check_model, "engine": check_engine, "osc": check_osc_port, "renders": check_out_dir,
    "audio": check_audio, "midi": check_midi, "live": check_live}


def diagnose(args: argparse.Namespace) -> dict[str, Any]:
    results = {}
    for name, check in CHECKS.items():
        try:
            with quiet_native_stderr():
                level, text = check(args)
        except Exception as exc:  # the doctor itself must not crash
            level, text = PROBLEM, f"the check failed: {type(exc).__name__}: {exc}"
        results[name] = {"level": level, "message": text}
        print(f"{level:>7}  {name:<8} {text}", flush=True)
    problems = [n for n, r in results.items() if r["level"] == PROBLEM]
    print(f"{len(problems)} problem(s)" + (f": {', '.join(problems)}" if problems else ""), flush=True)
    if problems:
        raise JobError("problems", f"problems with: {', '.join(problems)}")
    return {"ok": True, "checks": results}
