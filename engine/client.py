"""Client for the engine service (or a broker in front of several engines). Torch-free.

Every call opens its own DEALER socket, so one client can be used from many threads at once.
Silence is met the Lazy Pirate way: ping; if the engine stays silent, reconnect and pick the job
up again with `fetch` (or resubmit if it was never accepted), `retries` times, then give up with
`EngineUnreachable`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator

import numpy as np
import zmq

from engine.protocol import FINAL, SOCKET_BUFFER, Message, ProtocolError, decode, encode, make_header


class EngineUnreachable(Exception):
    code = "unreachable"


@dataclass(frozen=True)
class CurveKeys:
    """Client side of CURVE: the server's public key and this client's key pair (z85 bytes)."""

    server_public: bytes
    public: bytes
    secret: bytes

    @classmethod
    def from_files(cls, server_public_file: Path, client_secret_file: Path) -> "CurveKeys":
        import zmq.auth

        server_public, _ = zmq.auth.load_certificate(str(server_public_file))
        public, secret = zmq.auth.load_certificate(str(client_secret_file))
        if secret is None:
            raise ValueError(f"{client_secret_file}: holds no secret key")
        return cls(server_public, public, secret)


class EngineClient:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:5557", *, timeout: float = 10.0, retries: int = 3,
                 curve: CurveKeys | None = None, context: zmq.Context | None = None) -> None:
        self.endpoint, self.timeout, self.retries, self.curve = endpoint, timeout, retries, curve
        self.context = context or zmq.Context.instance()

    def _socket(self) -> zmq.Socket:
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDBUF, SOCKET_BUFFER)
        sock.setsockopt(zmq.RCVBUF, SOCKET_BUFFER)
        if self.curve is not None:
            sock.curve_serverkey = self.curve.server_public
            sock.curve_publickey = self.curve.public
            sock.curve_secretkey = self.curve.secret
        sock.connect(self.endpoint)
        return sock

    def _receive(self, sock: zmq.Socket) -> Message | None:
        if not sock.poll(int(self.timeout * 1000)):
            return None
        return decode(sock.recv_multipart(copy=False))

    # -- one request, one reply ---------------------------------------------------------------
    def request(self, type_: str, **fields: object) -> Message:
        """Send a request that has a single reply (ping, status, cancel, fetch)."""
        frames = encode(make_header(type_, uuid.uuid4().hex, **fields))
        for _ in range(self.retries + 1):
            sock = self._socket()
            try:
                sock.send_multipart(frames)
                reply = self._receive(sock)
                if reply is not None:
                    return reply
            finally:
                sock.close()
        raise EngineUnreachable(f"no reply from {self.endpoint} after {self.retries + 1} tries")

    def ping(self) -> bool:
        return self.request("ping").type == "pong"

    def pinged(self, timeout: float = 1.0) -> bool:
        """One quick try: does the engine answer a ping within `timeout` seconds?"""
        sock = self._socket()
        try:
            sock.send_multipart(encode(make_header("ping", uuid.uuid4().hex)))
            if not sock.poll(int(timeout * 1000)):
                return False
            return decode(sock.recv_multipart()).type == "pong"
        except ProtocolError:
            return False
        finally:
            sock.close()

    def status(self) -> dict:
        return self.request("status").header

    def cancel(self, job: str) -> Message:
        return self.request("cancel", job=job)

    def fetch(self, job: str) -> Message:
        return self.request("fetch", job=job)

    # -- jobs -----------------------------------------------------------------------------------
    def submit(self, task: str, params: dict | None = None,
               audio: list[tuple[np.ndarray, int]] = (), *, job: str | None = None) -> Iterator[Message]:
        """Events of one job: accepted, progress..., then result, error or cancelled. With
        `job`, picks up a job submitted earlier (after a disconnect) instead of submitting."""
        submit = encode(make_header("submit", uuid.uuid4().hex, task=task, params=params or {}), list(audio))
        sock, failures = self._socket(), 0
        sock.send_multipart(encode(make_header("fetch", uuid.uuid4().hex, job=job)) if job else submit, copy=False)
        pinged = False
        try:
            while True:
                message = self._receive(sock)
                if message is not None:
                    failures, pinged = 0, False
                    if message.type == "pong":
                        continue
                    if message.type == "accepted":
                        job = message.header["job"]
                    yield message
                    if message.type in FINAL:
                        return
                elif not pinged:  # silence: is the engine still there?
                    sock.send_multipart(encode(make_header("ping", "keepalive")))
                    pinged = True
                else:  # no answer to a ping either: reconnect, then resume or resubmit
                    failures += 1
                    if failures > self.retries:
                        raise EngineUnreachable(f"{self.endpoint} stopped answering")
                    sock.close()
                    sock, pinged = self._socket(), False
                    sock.send_multipart(encode(make_header("fetch", uuid.uuid4().hex, job=job)) if job else submit, copy=False)
        finally:
            sock.close()

    def run(self, task: str, params: dict | None = None,
            audio: list[tuple[np.ndarray, int]] = ()) -> Message:
        """Submit and wait: the final message (result, error or cancelled)."""
        for message in self.submit(task, params, audio):
            if message.type in FINAL:
                return message
        raise ProtocolError("bad_message", "the job ended without a final message")

    async def asubmit(self, task: str, params: dict | None = None,
                      audio: list[tuple[np.ndarray, int]] = ()) -> AsyncIterator[Message]:
        """`submit` for asyncio: the blocking socket work runs in a thread."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        def pump() -> None:
            try:
                for message in self.submit(task, params, audio):
                    loop.call_soon_threadsafe(queue.put_nowait, message)
            except Exception as exc:  # handed to the awaiting side
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        worker = loop.run_in_executor(None, pump)
        while (item := await queue.get()) is not done:
            if isinstance(item, Exception):
                raise item
            yield item
        await worker


def renders(message: Message) -> list[tuple[np.ndarray, int, int]]:
    """(audio [C, S], sample_rate, seed) for each render of a `result` message."""
    seeds = [r.get("seed") for r in message.header.get("renders", [])]
    return [(audio, rate, seed) for (audio, rate), seed in zip(message.audio, seeds)]
