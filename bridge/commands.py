"""Command-line entry points for the bridge side: render, bridge, serve (engine + bridge), doctor."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from bridge import render
from bridge.engine_process import EngineProcess
from bridge.jobs import SERVE_HINT, JobError
from bridge.live import AudioDeviceError
from engine.cores import thread_count
from engine.store import add_model_options

log = logging.getLogger("daw-diffusion")
DEFAULT_OUT = Path("~/daw-diffusion/renders")


def add_commands(sub: argparse._SubParsersAction) -> None:
    render.add_command(sub)

    b = sub.add_parser("bridge", help="OSC server (+ MIDI, live audio) in front of a running engine")
    add_bridge_options(b)
    b.set_defaults(handler=run_bridge)

    s = sub.add_parser("serve", help="engine + bridge together on this machine (the bundled model by default)")
    add_bridge_options(s)
    add_model_options(s)
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    s.add_argument("--threads", type=thread_count,
                   help="the engine's compute threads (default: one per core; with --live one core is left to "
                        "the audio unless its thread may run in real time)")
    s.add_argument("--engine-start-timeout", type=float, default=180.0, help="seconds to wait for the model to load")
    s.add_argument("--engine-hang-timeout", type=float, default=30.0,
                   help="seconds the engine may leave pings unanswered before it counts as hung and is restarted")
    s.set_defaults(handler=run_serve)

    d = sub.add_parser("doctor", help="check model, ports, audio and MIDI devices; say what is wrong")
    add_bridge_options(d)
    add_model_options(d, "model to check")
    d.set_defaults(handler=run_doctor)


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}") from None


def block_size(text: str) -> int:
    """`--block-size`: 0 (the device's) or 16 .. 16384 frames."""
    try:
        frames = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of frames") from None
    if frames and not 16 <= frames <= 16384:
        raise argparse.ArgumentTypeError(f"{frames} frames: give 0 (the device's) or 16 to 16384")
    return frames


def add_bridge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", type=host_port, default=("127.0.0.1", 9010), help="OSC address (HOST:PORT)")
    p.add_argument("--reply-port", type=int, default=9011, help="default UDP port for replies")
    p.add_argument("--announce", type=host_port, action="append", default=[],
                   help="also send MIDI-triggered results here (HOST:PORT, repeatable)")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT, help="render store folder")
    p.add_argument("--allow-dir", type=Path, action="append", default=[],
                   help="another folder OSC requests may write into (an out_dir) and, with --allow-network, read "
                        "from (repeatable; default: only the render folder)")
    p.add_argument("--allow-network", action="store_true",
                   help="allow --listen on an address other hosts can reach (anyone there can run jobs)")
    p.add_argument("--max-jobs", type=int, default=16, help="jobs in flight at once")
    p.add_argument("--midi", action="store_true", help="open a MIDI input")
    p.add_argument("--midi-map", type=Path, help="TOML mapping (created with the defaults if missing; learn saves here)")
    p.add_argument("--live", action="store_true", help="record the audio input for live transforms")
    p.add_argument("--live-seconds", type=float, default=30.0, help="seconds of input kept")
    p.add_argument("--audio-device", help="sounddevice device name or number (default: the system's)")
    p.add_argument("--sample-rate", type=int, help="live stream rate (default: the device's)")
    p.add_argument("--channels", type=int, default=2, help="live input/output channels")
    p.add_argument("--block-size", type=block_size, default=0, metavar="FRAMES",
                   help="live stream buffer in frames (default: the device's); larger survives a busy machine, "
                        "smaller answers sooner")
    p.add_argument("--beats-per-bar", type=int, default=4)
    render.add_engine_options(p)


def load_mapping(path: Path | None):
    from bridge.midi import Mapping

    if path is None:
        return Mapping()
    if not path.exists():
        Mapping().save(path)  # a starting point to edit
        log.info("wrote the default MIDI mapping to %s", path)
    return Mapping.load(path)


class BridgeProcess:
    """Everything `bridge` runs: jobs, clock, live audio, OSC server, MIDI listener."""

    def __init__(self, args: argparse.Namespace, engine_hint: str) -> None:
        from bridge.app import Bridge
        from bridge.clock import Clock
        from bridge.events import Failed
        from bridge.jobs import Jobs
        from bridge.osc import OscServer
        from bridge.store import RenderStore

        jobs = Jobs(render.engine_client(args), RenderStore(args.out_dir), max_active=args.max_jobs,
                    engine_hint=engine_hint)
        live = None
        if args.live:
            from bridge.live import LiveAudio, device_of

            live = LiveAudio(args.live_seconds, args.sample_rate, args.channels, device_of(args.audio_device),
                             args.block_size)
        self.bridge = Bridge(jobs, Clock(args.beats_per_bar), live, tuple(args.allow_dir),
                             confine_inputs=not is_loopback(args.listen[0]))
        host, port = args.listen
        self.osc = OscServer(self.bridge, host, port, reply_port=args.reply_port, announce=args.announce)
        if live is not None:  # a device that goes away mid-set is announced like a MIDI job's error
            live.start(on_lost=lambda message: self.osc.announce(Failed("", "audio_device_lost", message)))
        self.midi = None
        if args.midi:
            from bridge.midi import MidiListener

            self.midi = MidiListener(self.bridge, load_mapping(args.midi_map), self.osc.announce, args.midi_map).open()
            self.osc.midi = self.midi

    def serve(self, on_stop: Callable[[], None] | None = None) -> None:
        """Until SIGINT/SIGTERM (which also call `on_stop`, e.g. to stop an engine's watchdog)."""
        def stop(*_: Any) -> None:
            if on_stop is not None:
                on_stop()
            self.osc.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
        print(f"daw-diffusion bridge: OSC on {self.osc.address[0]}:{self.osc.address[1]}", file=sys.stderr, flush=True)
        try:
            self.osc.serve()
        finally:
            if self.midi is not None:
                self.midi.close()
            self.bridge.close()
            self.osc.close()


def open_bridge(args: argparse.Namespace, engine_hint: str = SERVE_HINT) -> BridgeProcess:
    host = args.listen[0]
    if not is_loopback(host):
        if not args.allow_network:
            raise JobError("bad_arguments", f"--listen {host} would let other machines on the network run jobs and "
                                            "write into the render folder; add --allow-network if that is meant")
        log.warning("OSC on %s: any host that reaches it can run jobs and cancel them; they read audio from and "
                    "write renders into %s only", host, ", ".join(str(d) for d in (args.out_dir, *args.allow_dir)))
    try:
        return BridgeProcess(args, engine_hint)
    except OSError as exc:  # the OSC port is taken
        raise JobError("port_in_use", f"cannot listen on udp://{args.listen[0]}:{args.listen[1]}: {exc.strerror}; "
                                      "is a bridge already running?") from None
    except AudioDeviceError as exc:
        raise JobError("audio_device", str(exc)) from None
    except ValueError as exc:  # a bad MIDI mapping, a MIDI port that cannot open
        raise JobError("bad_arguments", str(exc)) from None


def is_loopback(host: str) -> bool:
    import ipaddress
    import socket as sockets

    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in sockets.getaddrinfo(host, None, sockets.AF_INET))
    except (OSError, ValueError):
        return False


def run_bridge(args: argparse.Namespace) -> dict[str, Any]:
    process = open_bridge(args)
    process.serve()
    return {"ok": True}


def run_serve(args: argparse.Namespace) -> dict[str, Any]:
    # fail on a taken port before loading a model
    process = open_bridge(args, "this `daw-diffusion serve` restarts it when it has died or hangs: try again in a moment")
    engine = EngineProcess(args)
    try:
        process.serve(on_stop=engine.stopping.set)  # no restarts once asked to stop
    finally:
        engine.stop()
    return {"ok": True, "engine_restarts": engine.restarts}


def run_doctor(args: argparse.Namespace) -> dict[str, Any]:
    from bridge.doctor import diagnose

    return diagnose(args)
