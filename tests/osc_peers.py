"""Helpers for the bridge tests: a bridge process, and a small OSC peer on a real UDP socket."""

from __future__ import annotations

import queue
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from processes import CLI, free_port
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder


def osc(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class Peer:
    """A patch's view of the bridge: sends requests, collects replies on its own port."""

    def __init__(self, bridge_port: int, port: int = 0) -> None:
        self.bridge = ("127.0.0.1", bridge_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.inbox: list[tuple[str, list]] = []

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(osc(address, *args), self.bridge)

    def request(self, address: str, *args: Any) -> None:
        """A request whose replies come back to this peer (`reply_port` key)."""
        self.send(address, *args, "reply_port", self.port)

    def take(self, addresses: tuple[str, ...], tag: str, timeout: float) -> tuple[str, list]:
        """The first reply for `tag` at one of `addresses` (others stay in the inbox)."""
        deadline = time.monotonic() + timeout
        while True:
            for k, (addr, args) in enumerate(self.inbox):
                if addr in addresses and args and args[0] == tag:
                    return self.inbox.pop(k)
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {addresses} for {tag!r}; got {self.inbox}"
            self.sock.settimeout(remaining)
            try:
                message = OscMessage(self.sock.recv(65536))
            except socket.timeout:
                continue
            self.inbox.append((message.address, list(message.params)))

    def wait_for(self, address: str, tag: str, timeout: float = 60.0) -> list:
        return self.take((address,), tag, timeout)[1]

    def final(self, tag: str, timeout: float = 60.0) -> tuple[str, list]:
        """The job's last reply: done, error or cancelled."""
        return self.take(("/diffusion/done", "/diffusion/error", "/diffusion/cancelled"), tag, timeout)

    def ping(self, tries: int = 10, timeout: float = 1.0) -> bool:
        """Does the bridge answer a ping? (UDP may drop a datagram, e.g. after a flood: a few tries.)"""
        for _ in range(tries):
            self.request("/diffusion/ping", "ping?")
            try:
                return self.wait_for("/diffusion/pong", "ping?", timeout=timeout) == ["ping?"]
            except AssertionError:
                continue
        return False

    def close(self) -> None:
        self.sock.close()


class BridgeProcess:
    """`daw-diffusion bridge` as a user starts it, on free ports."""

    def __init__(self, engine: str, out_dir: Path, *extra: str, env: dict | None = None) -> None:
        self.port, self.reply_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        self.out_dir = out_dir
        self.log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would block the bridge
        self.proc = subprocess.Popen(
            [CLI, "bridge", "--engine", engine, "--listen", f"127.0.0.1:{self.port}", "--reply-port",
             str(self.reply_port), "--out-dir", str(out_dir), *extra],
            stdout=self.log, stderr=subprocess.STDOUT, text=True, env=env)
        peer = Peer(self.port)
        deadline = time.monotonic() + 30
        try:
            while not peer.ping(tries=1, timeout=0.3):
                assert self.proc.poll() is None, self.output()
                assert time.monotonic() < deadline, "the bridge did not start"
        finally:
            peer.close()

    def peer(self) -> Peer:
        return Peer(self.port)

    def alive(self) -> bool:
        peer = self.peer()
        try:
            return peer.ping()
        finally:
            peer.close()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self) -> str:
        self.proc.terminate()
        self.proc.wait(30)
        return self.output()


def read_until(stream, starts: tuple[str, ...] = (), timeout: float = 60.0, contains: str | None = None) -> list[str]:
    """Lines of a child's output until one starts with `starts` (or contains `contains`);
    fails after `timeout` seconds even if the child prints nothing."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in stream], daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"nothing conclusive after {timeout:g} s: {seen}") from None
        seen.append(line)
        if (contains and contains in line) or (starts and line.startswith(starts)):
            return seen
