"""The OSC server: one UDP socket, one receiving thread. Every request gets replies at the
sender's host on its reply port (per request `reply_port`, else the one that sender, its host
and port, set with `/diffusion/reply_port`, else the default); anything wrong gets
`/diffusion/error tag code message`, and the server keeps running. Jobs run in the bridge's
pool, never in the receiving thread."""

from __future__ import annotations

import logging
import socket
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Sequence

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.addresses import REPLIES, Call, OscError, parse, tag_of
from bridge.app import Bridge
from bridge.errors import BridgeError
from bridge.events import Accepted, Cancelled, Done, Event, Failed, Progress, Report

log = logging.getLogger("daw-diffusion.osc")
MAX_CLIENTS = 1024  # senders whose reply port is remembered (the least recent are forgotten)
MAX_STATUS_PENDING = 4  # status requests being answered at once; more are dropped (UDP: clients ask again)
REPLY_PORTS = range(1024, 65536)  # never a system service's port: replies cannot be aimed at one
# the reply each bridge event becomes; its arguments are the event's fields named in REPLIES
EVENT_REPLIES: dict[type, str] = {Accepted: "/diffusion/accepted", Progress: "/diffusion/progress",
                                  Done: "/diffusion/done", Cancelled: "/diffusion/cancelled", Failed: "/diffusion/error"}


def reply_for(event: Event) -> tuple[str, list[Any]]:
    address = EVENT_REPLIES[type(event)]
    return address, [getattr(event, name) for name in REPLIES[address]]


def encode(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def reply_port_in(values: Sequence[Any]) -> int | None:
    """A `reply_port N` pair among the arguments, found even when the rest is wrong."""
    for key, value in zip(values, values[1:]):
        if key == "reply_port" and isinstance(value, (int, float)) and value in REPLY_PORTS and float(value).is_integer():
            return int(value)
    return None


class OscServer:
    def __init__(self, bridge: Bridge, host: str = "127.0.0.1", port: int = 9010, reply_port: int = 9011,
                 announce: Sequence[tuple[str, int]] = (), midi: Any = None) -> None:
        self.bridge, self.midi, self.default_reply = bridge, midi, reply_port
        self.announce_to = list(announce)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.reply_ports: OrderedDict[tuple[str, int], int] = OrderedDict()  # per sender (host, port)
        self.stopping = threading.Event()
        self.malformed = 0
        self.status_pending, self.status_dropped = 0, 0  # a flood of status requests cannot queue work
        self.status_lock = threading.Lock()

    # -- replies --------------------------------------------------------------------------------
    def send(self, to: tuple[str, int], address: str, *args: Any) -> None:
        assert address in REPLIES, address
        try:
            self.sock.sendto(encode(address, *args), to)
        except OSError as exc:  # a client that went away must not stop the others (nor flood the log)
            log.debug("reply to %s:%d lost: %s", *to, exc)

    def reporter(self, to: tuple[str, int]) -> Report:
        def report(event: Event) -> None:
            address, args = reply_for(event)
            self.send(to, address, *args)
        return report

    def announce(self, event: Event) -> None:
        """Results of MIDI-triggered jobs go to every `--announce` target (and to the log)."""
        address, args = reply_for(event)
        log.info("%s %s", address, " ".join(map(str, args)))
        for to in self.announce_to:
            self.send(to, address, *args)

    # -- receiving ------------------------------------------------------------------------------
    def serve(self) -> None:
        log.info("OSC on udp://%s:%d (replies to port %d unless told otherwise)", *self.address, self.default_reply)
        while not self.stopping.is_set():
            try:
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:  # e.g. ICMP port unreachable echoed back on some systems
                continue
            self.receive(data, sender)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.stop()
        self.sock.close()

    def reply_address(self, sender: tuple[str, int], values: Sequence[Any] = ()) -> tuple[str, int]:
        return sender[0], reply_port_in(values) or self.reply_ports.get(sender, self.default_reply)

    def remember_reply_port(self, sender: tuple[str, int], port: int) -> None:
        self.reply_ports[sender] = port
        self.reply_ports.move_to_end(sender)
        while len(self.reply_ports) > MAX_CLIENTS:  # a flood of senders cannot grow it without end
            self.reply_ports.popitem(last=False)

    def receive(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            messages = [timed.message for timed in OscPacket(data).messages]
        except Exception as exc:  # python-osc raises several kinds on garbage
            self.malformed += 1
            if self.malformed <= 10 or self.malformed % 1000 == 0:
                log.warning("malformed OSC packet from %s:%d (%d so far): %s", *sender, self.malformed, exc)
            self.reporter(self.reply_address(sender))(Failed("", "malformed", "that was not an OSC message"))
            return
        for message in messages:
            self.handle(message.address, list(message.params), sender)

    def handle(self, address: str, values: list[Any], sender: tuple[str, int]) -> None:
        to = self.reply_address(sender, values)
        report = self.reporter(to)
        try:
            call = replace(parse(address, values), owner=f"{to[0]}:{to[1]}")
            OSC_ACTIONS.get(call.action, OscServer.begin)(self, call, sender, to)
        except BridgeError as exc:
            report(Failed(tag_of(values), exc.code, str(exc)))
        except Exception as exc:  # a bug must cost one request, not the server
            log.exception("%s failed", address)
            report(Failed(tag_of(values), "failed", f"{type(exc).__name__}: {exc}"))

    # -- actions (in OSC_ACTIONS; every other one starts a job) ----------------------------------------
    def begin(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        self.bridge.begin(call, self.reporter(to))

    def ping(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        self.send(to, "/diffusion/pong", call.tag)

    def set_reply_port(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        port = call.args["port"]
        if port not in REPLY_PORTS:
            raise OscError("bad_arguments", f"reply port {port} is not one replies go to: give a UDP port from "
                                            f"{REPLY_PORTS.start} to {REPLY_PORTS.stop - 1}", call.tag)
        self.remember_reply_port(sender, port)
        self.send((sender[0], port), "/diffusion/pong", call.tag)

    def status(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        """Answered off the receiving thread (it asks the engine); at most a few at once, so a
        flood of them never queues work ahead of the jobs."""
        with self.status_lock:
            if self.status_pending >= MAX_STATUS_PENDING:
                self.status_dropped += 1
                if self.status_dropped in (1, 100) or self.status_dropped % 10_000 == 0:
                    log.warning("status requests arrive faster than they are answered: %d dropped", self.status_dropped)
                return
            self.status_pending += 1
        self.bridge.pool.submit(self.report_status, call.tag, to)

    def cancel(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        if not self.bridge.jobs.cancel(call.tag, call.owner):
            raise OscError("not_found", f"no running job of yours is tagged {call.tag!r}", call.tag)

    def play(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        seconds = self.bridge.play_file(call.args["input_path"])
        self.reporter(to)(Done(call.tag, call.args["input_path"], seconds))

    def learn(self, call: Call, sender: tuple[str, int], to: tuple[str, int]) -> None:
        if self.midi is None:
            raise OscError("no_midi", "MIDI is off; start the bridge with --midi", call.tag)
        target = call.args["target"]
        self.midi.learn(target, lambda kind, number: self.send(to, "/diffusion/learned", call.tag, target, kind, number))

    def report_status(self, tag: str, to: tuple[str, int]) -> None:
        try:
            engine, device, queued, running, model = self.bridge.status()
            live = self.bridge.live
            self.send(to, "/diffusion/status", tag, engine, device, queued, running,
                      float(self.bridge.clock.bpm() or 0.0), int(live.dropouts if live else 0), model)
        finally:
            with self.status_lock:
                self.status_pending -= 1


# what each of the server's own actions does; the others (tasks, live, reroll) start jobs
OSC_ACTIONS: dict[str, Callable[[OscServer, Call, tuple[str, int], tuple[str, int]], None]] = {
    "ping": OscServer.ping, "reply_port": OscServer.set_reply_port, "status": OscServer.status,
    "cancel": OscServer.cancel, "play": OscServer.play, "learn": OscServer.learn}
