"""Client for the engine service (or a broker in front of several engines). Torch-free.

Every call opens its own DEALER socket, so one client can be used from many threads at once.
Silence is met the Lazy Pirate way: ask after the job (`fetch` with its token; a ping before the
engine named it); if the engine stays silent, reconnect and ask again (or resubmit if it was
never accepted), `retries` times, then give up with `EngineUnreachable`. An engine that answers
but no longer knows the job (it restarted) ends the job with `engine_lost`: a job-level
heartbeat, so no job waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Final, Iterator, Mapping

import zmq

from engine.clip import Clip
from engine.protocol import (
    FINAL,
    SOCKET_BUFFER,
    Message,
    ProtocolError,
    check_audio_size,
    decode,
    encode,
    make_header,
    render_name,
)


class _Gave(enum.Enum):
    UP = "gave up"


GAVE_UP: Final = _Gave.UP  # what `_receive` returns when the caller stopped waiting
REFUSED = zmq.EVENT_HANDSHAKE_FAILED_AUTH  # the server's authenticator said no to this client's key


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

        from engine.service.security import SecurityError, check_private

        check_private(client_secret_file)
        keys = []
        for path in (server_public_file, client_secret_file):
            try:
                keys.append(zmq.auth.load_certificate(str(path)))
            except (OSError, ValueError) as exc:
                raise SecurityError(f"{path}: not a readable CURVE key file ({exc})") from None
        (server_public, _), (public, secret) = keys
        if secret is None:
            raise SecurityError(f"{client_secret_file}: holds no secret key")
        return cls(server_public, public, secret)


class EngineClient:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:5557", *, timeout: float = 10.0, retries: int = 3,
                 curve: CurveKeys | None = None, context: zmq.Context | None = None) -> None:
        self.endpoint, self.timeout, self.retries, self.curve = endpoint, timeout, retries, curve
        self.context = context or zmq.Context.instance()
        self.handshakes: dict[int, zmq.Socket] = {}  # a CURVE socket's handshake monitor, by the socket's id

    def _close(self, sock: zmq.Socket, linger: int = 0, answered: bool = True) -> bool:
        """Close `sock`; whether the engine refused this client's key on it (asked only when it
        did not answer: a refusal arrives within milliseconds, a reply means there was none)."""
        monitor = self.handshakes.pop(id(sock), None)
        refused = monitor is not None and not answered and bool(monitor.poll(50))
        if monitor is not None:
            sock.disable_monitor()
            monitor.close(linger=0)
        sock.close(linger=linger)
        return refused

    def unreachable(self, refused: bool) -> EngineUnreachable:
        if refused:
            return EngineUnreachable(f"{self.endpoint} refused this client's key: its public key must be in the "
                                     "folder the engine was given with --curve-clients")
        return EngineUnreachable(f"no reply from {self.endpoint} after {self.retries + 1} tries")

    def _socket(self) -> zmq.Socket:
        sock = self.context.socket(zmq.DEALER)
        # a DEALER with no connected peer (say its key was refused) blocks on send: wait no longer than for a reply
        sock.setsockopt(zmq.SNDTIMEO, max(1, round(self.timeout * 1000)))
        if self.curve is not None:  # a refused key looks like silence: watch the handshake to tell them apart
            self.handshakes[id(sock)] = sock.get_monitor_socket(REFUSED)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDBUF, SOCKET_BUFFER)
        sock.setsockopt(zmq.RCVBUF, SOCKET_BUFFER)
        if self.curve is not None:
            sock.curve_serverkey = self.curve.server_public
            sock.curve_publickey = self.curve.public
            sock.curve_secretkey = self.curve.secret
        sock.connect(self.endpoint)
        return sock

    def _receive(self, sock: zmq.Socket, give_up: Callable[[], bool] | None = None) -> Message | _Gave | None:
        """The next message; None after `timeout` seconds of silence; GAVE_UP when `give_up()`."""
        deadline = time.monotonic() + self.timeout
        while True:
            if give_up is not None and give_up():
                return GAVE_UP
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if sock.poll(int(min(left, 0.2 if give_up else left) * 1000)):
                return decode(sock.recv_multipart(copy=False))

    # -- one request, one reply ---------------------------------------------------------------
    def request(self, type_: str, **fields: object) -> Message:
        """Send a request that has a single reply (ping, status, cancel, fetch)."""
        frames = encode(make_header(type_, uuid.uuid4().hex, **fields))
        for _ in range(self.retries + 1):
            sock, reply = self._socket(), None
            try:
                sock.send_multipart(frames)
                reply = self._receive(sock)
                if isinstance(reply, Message):  # never GAVE_UP: nothing gives up here
                    return reply
            except zmq.Again:  # not even sent: no engine took the connection
                pass
            finally:
                refused = self._close(sock, answered=isinstance(reply, Message))
            if refused:  # asking again cannot help
                raise self.unreachable(True)
        raise self.unreachable(False)

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
        except (ProtocolError, zmq.Again):
            return False
        finally:
            self._close(sock)

    def status(self) -> dict:
        return self.request("status").header

    def cancel(self, job: str, token: str) -> Message:
        return self.request("cancel", job=job, token=token)

    def fetch(self, job: str, token: str) -> Message:
        return self.request("fetch", job=job, token=token)

    # -- jobs -----------------------------------------------------------------------------------
    def submit(self, task: str, params: dict | None = None, audio: Mapping[str, Clip] | None = None, *,
               job: str | None = None, token: str = "", give_up: Callable[[], bool] | None = None) -> Iterator[Message]:
        """Events of one job: accepted, progress..., then result, error or cancelled. `audio`
        names the task's inputs (`{"audio": clip}`, `{"a": clip, "b": clip}`). With
        `job` and its `token`, picks up a job submitted earlier (after a disconnect) instead of
        submitting. `give_up()` true ends the wait at once with a local `cancelled` (a cancel
        the engine cannot confirm). A job this wait abandons (the engine went silent past the
        retries, `give_up()`, an interrupt) is cancelled, while closing the iterator is a
        disconnect: the job goes on, for a `fetch` later. The cancel goes out on the connection
        the engine last answered on, so a stalled engine finds it in its socket when it wakes
        and does not go on with work nobody waits for."""
        audio = dict(audio or {})
        check_audio_size([(clip.channels, clip.frames, clip.rate) for clip in audio.values()])
        submit = encode(make_header("submit", uuid.uuid4().hex, task=task, params=params or {}), audio)

        def ask() -> list:  # after a silence or a reconnect: is the job (or, before it has a name, the engine) there?
            if job:
                return encode(make_header("fetch", "liveness", job=job, token=token))
            return encode(make_header("ping", "keepalive"))

        sock, failures, waiting = self._socket(), 0, False
        heard: zmq.Socket | None = None  # the socket the engine last answered on (its session is up)
        ended = abandoned = False
        first = encode(make_header("fetch", "resume", job=job, token=token)) if job else submit
        try:
            try:
                sock.send_multipart(first, copy=False)
            except zmq.Again:
                raise self.unreachable(self._close(sock, answered=False)) from None
            while True:
                message = self._receive(sock, give_up)
                if message is GAVE_UP:
                    abandoned = True
                    yield Message(make_header("cancelled", "", job=job or "", local=True))
                    return
                if message is not None:
                    if heard is not None and heard is not sock:
                        self._close(heard)  # an older connection: this one answers now
                    failures, waiting, heard = 0, False, sock
                    if message.type == "pong" or (message.type == "accepted" and message.id == "liveness"):
                        continue  # the engine (and the job) still there
                    if message.type == "error" and message.id == "liveness" and message.header["code"] == "not_found":
                        message = Message(make_header("error", "", job=job, code="engine_lost", message=(
                            f"the engine at {self.endpoint} no longer knows job {job} (it restarted or was replaced "
                            "mid-job); nothing was rendered: run it again")))
                    if message.type == "accepted" and not job:
                        job, token = message.header["job"], message.header.get("token", "")
                    ended = message.type in FINAL
                    yield message
                    if ended:
                        return
                elif not waiting:  # silence: is the job still there?
                    with contextlib.suppress(zmq.Again):  # unsent: as unanswered
                        sock.send_multipart(ask(), copy=False)
                    waiting = True
                else:  # no answer to that either: reconnect, then resume or resubmit
                    failures += 1
                    if failures > self.retries:
                        abandoned = True
                        raise EngineUnreachable(f"{self.endpoint} stopped answering")
                    if sock is not heard:
                        refused = self._close(sock, answered=False)
                        if refused and heard is None:
                            abandoned = True
                            raise self.unreachable(refused)
                    sock, waiting = self._socket(), False
                    with contextlib.suppress(zmq.Again):  # unsent: as unanswered
                        sock.send_multipart(ask() if job else submit, copy=False)
        except KeyboardInterrupt:
            abandoned = True
            raise
        finally:
            if job and abandoned and not ended:
                with contextlib.suppress(zmq.Again):
                    (heard or sock).send_multipart(encode(make_header("cancel", "", job=job, token=token)), flags=zmq.NOBLOCK)
            for kept in {id(s): s for s in (sock, heard) if s is not None}.values():
                if not kept.closed:
                    self._close(kept, linger=1000 if job and abandoned and not ended else 0)  # to hand the cancel over

    def run(self, task: str, params: dict | None = None, audio: Mapping[str, Clip] | None = None) -> Message:
        """Submit and wait: the final message (result, error or cancelled)."""
        for message in self.submit(task, params, audio):
            if message.type in FINAL:
                return message
        raise ProtocolError("bad_message", "the job ended without a final message")

    async def asubmit(self, task: str, params: dict | None = None,
                      audio: Mapping[str, Clip] | None = None) -> AsyncIterator[Message]:
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


def renders(message: Message) -> list[tuple[Clip, dict[str, Any]]]:
    """(audio [C, S] at its rate, what the engine says of it: `seed`, tempo, ...) for each render
    of a `result` message, its audio found by name."""
    about = [r if isinstance(r, dict) else {} for r in message.header.get("renders", [])]
    names = [render_name(k) for k in range(len(about))]
    if sorted(names) != sorted(message.audio):
        raise ProtocolError("bad_message", f"a result of {len(about)} render(s) carries audio {sorted(message.audio)}")
    return [(message.audio[name], info) for name, info in zip(names, about)]
