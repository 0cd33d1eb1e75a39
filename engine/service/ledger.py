"""What each TCP peer holds in libzmq's memory, from the kernel's own byte counters.

libzmq hands a multipart message over only once every frame has arrived, and its size limit
(MAXMSGSIZE) is per frame, so a peer that keeps sending frames with the MORE flag grows the
receiver's memory without bound, out of the application's sight; replies queued for a peer that
does not read grow it too. The kernel counts what each connection received and what its peer
acknowledged (TCP_INFO), a message names the connection it came from (its source descriptor), and
the socket's monitor names each connection as it opens and closes; from these a `Ledger` knows,
per connection, the bytes of a message still arriving and of replies not yet read, and:

- closes a connection whose unfinished message is over the message limit (telling the peer
  `too_large` first where it has been heard from), and the largest ones while all of them
  together are over twice the limit;
- refuses to queue a reply beyond the message limit per peer, or beyond the kept-results budget
  over all peers (the reply is dropped: its job's result stays kept for a `fetch`).

Only TCP connections are counted (ipc and inproc peers are local processes of this service).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from dataclasses import dataclass
from typing import Sequence

import zmq
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger("daw-diffusion.ledger")

BYTES_ACKED, BYTES_RECEIVED = 120, 128  # offsets of tcpi_bytes_acked / tcpi_bytes_received (Linux 4.1+)
SLACK = 2**20  # the greeting, commands and frame headers beside a message's own bytes
CUT = "a message over the size limit is still arriving: this connection is closed"  # what a cut peer is told
LOOK_EVERY = 0.05  # seconds between looks at the kernel's counters
CLOSE_AFTER = 0.05  # seconds a told peer's refusal has to leave before its connection is closed (more arrives meanwhile)


def tcp_counters(fd: int) -> tuple[int, int] | None:
    """(bytes the peer acknowledged, bytes received) of a TCP socket; None if `fd` is not one."""
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, BYTES_RECEIVED + 8)
    except OSError:
        return None
    if len(info) < BYTES_RECEIVED + 8:
        return None
    return struct.unpack_from("Q", info, BYTES_ACKED)[0], struct.unpack_from("Q", info, BYTES_RECEIVED)[0]


def wire_size(frames: Sequence[bytes | zmq.Frame]) -> int:
    """Bytes of frames on the wire (ZMTP: a 2-byte header per frame, 9 bytes from 256 bytes on)."""
    return sum(len(f) + (2 if len(f) < 256 else 9) for f in frames)


@dataclass
class Connection:
    fd: int
    ends: tuple  # (local, remote) addresses: the same fd number may be a later connection
    peer: bytes | None = None  # the ROUTER identity, once a message came from it
    done: int = 0  # bytes received up to the end of the last message handed over
    sent: int = 0  # bytes of replies queued for it
    acked: int = 0  # of which its peer acknowledged, at the last look
    arriving: int = 0  # bytes of a message not handed over yet, at the last look
    told_at: float | None = None  # when it was told its message is too large

    @property
    def unread(self) -> int:
        return max(0, self.sent - self.acked)


class Ledger:
    """The TCP connections of one ROUTER socket. Its loop calls `on_monitor()` every turn,
    `on_message()` for each message, `may_send()` before each reply and `look()` often."""

    def __init__(self, sock: zmq.Socket, max_message: int, max_unread_total: int) -> None:
        self.max_message, self.max_unread_total = max_message, max_unread_total
        self.monitor = sock.get_monitor_socket(
            zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED)
        self.by_fd: dict[int, Connection] = {}
        self.by_peer: dict[bytes, Connection] = {}
        self.looked = 0.0

    def close(self) -> None:
        self.monitor.close(linger=0)

    # -- what the socket loop tells it ---------------------------------------------------------
    def on_monitor(self) -> None:
        """Connections opened and closed (the monitor's events since the last call)."""
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            fd = int(event["value"])
            if event["event"] == zmq.EVENT_ACCEPTED:
                ends = endpoints(fd)
                if ends is not None and tcp_counters(fd) is not None:
                    self.by_fd[fd] = Connection(fd, ends)
            else:
                gone = self.by_fd.pop(fd, None)
                if gone is not None and gone.peer is not None and self.by_peer.get(gone.peer) is gone:
                    del self.by_peer[gone.peer]

    def on_message(self, frames: Sequence[zmq.Frame]) -> None:
        """A message handed over (identity first): its connection's bytes so far are all read."""
        if len(frames) < 2:
            return
        conn = self.by_fd.get(frames[1].get(zmq.SRCFD))
        counters = tcp_counters(conn.fd) if conn is not None else None
        if conn is None or counters is None:
            return
        conn.done, conn.peer = counters[1], frames[0].bytes
        self.by_peer[conn.peer] = conn

    def may_send(self, peer: bytes, frames: Sequence[bytes | zmq.Frame]) -> bool:
        """Whether a reply to `peer` fits what it and all peers have not read; counts it if so."""
        conn = self.by_peer.get(peer)
        if conn is None:
            return True
        size = wire_size(frames)
        fits = lambda: (conn.unread + size <= self.max_message
                        and sum(c.unread for c in self.by_fd.values()) + size <= self.max_unread_total)
        if not fits():  # what they have read since the last look may make room
            for c in self.by_fd.values():
                counters = tcp_counters(c.fd)
                c.acked = c.acked if counters is None else counters[0]
            if not fits():
                return False
        conn.sent += size
        return True

    def look(self, now: float) -> list[bytes]:
        """Closes the connections holding an unfinished message over the limit, and the largest
        while all unfinished messages together are over twice the limit; a peer it has heard
        from is first returned, to be told `too_large`, and closed a moment later."""
        if now - self.looked < LOOK_EVERY:
            return []
        self.looked = now
        for conn in self.by_fd.values():
            counters = tcp_counters(conn.fd)
            conn.arriving = 0 if counters is None else max(0, counters[1] - conn.done - SLACK)
        over = [c for c in self.by_fd.values() if c.arriving > self.max_message]
        total = sum(c.arriving for c in self.by_fd.values()) - sum(c.arriving for c in over)
        for conn in sorted(self.by_fd.values(), key=lambda c: -c.arriving):
            if total <= 2 * self.max_message or conn.arriving == 0:
                break
            if conn not in over:
                over.append(conn)
                total -= conn.arriving
        tell = []
        for conn in over:
            if conn.peer is not None and conn.told_at is None:
                conn.told_at = now
                tell.append(conn.peer)
            elif conn.told_at is None or now - conn.told_at >= CLOSE_AFTER:
                self.cut(conn)
        return tell

    def cut(self, conn: Connection) -> None:
        """Close a connection under libzmq (which then frees what it held), if it is still the
        same one."""
        if endpoints(conn.fd) != conn.ends:
            self.by_fd.pop(conn.fd, None)
            return
        log.warning("closed a connection from %s holding %.0f MiB of an unfinished message",
                    conn.ends[1], conn.arriving / 2**20)
        try:
            with socket.socket(fileno=os.dup(conn.fd)) as s:
                s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def endpoints(fd: int) -> tuple | None:
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            return s.getsockname(), s.getpeername()
    except OSError:
        return None
