"""A ZeroMQ peer written by hand (ZMTP 3.0, NULL mechanism, a DEALER) for what libzmq's own
sockets never do: send part of a message and stop, or stop reading."""

import socket
import struct


class RawDealer:
    def __init__(self, endpoint: str, receive_buffer: int | None = None) -> None:
        host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
        self.sock = socket.socket()
        if receive_buffer:  # before connecting, so that the window stays this small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((host, int(port)))
        self.sock.sendall(b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + bytes(32))
        self.read(64)  # the engine's greeting
        self.command(b"READY", b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER")
        flags, body = self.frame()
        assert flags & 4 and body.startswith(b"\x05READY"), "the engine did not accept the handshake"

    def command(self, name: bytes, data: bytes) -> None:
        self.send_frame(bytes([len(name)]) + name + data, command=True)

    def send_frame(self, body: bytes | memoryview, more: bool = False, command: bool = False) -> None:
        flags = (1 if more else 0) | (4 if command else 0)
        head = bytes([flags | 2]) + struct.pack(">Q", len(body)) if len(body) > 255 else bytes([flags, len(body)])
        self.sock.sendall(head)
        self.sock.sendall(body)

    def send(self, frames: list[bytes]) -> None:
        for k, frame in enumerate(frames):
            self.send_frame(frame, more=k < len(frames) - 1)

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the engine closed the connection")
            out += chunk
        return bytes(out)

    def frame(self) -> tuple[int, bytes]:
        flags = self.read(1)[0]
        size = struct.unpack(">Q", self.read(8))[0] if flags & 2 else self.read(1)[0]
        return flags, self.read(size)

    def recv(self) -> list[bytes]:
        """The next message's frames (commands, such as heartbeats, skipped)."""
        frames = []
        while True:
            flags, body = self.frame()
            if flags & 4:
                continue
            frames.append(body)
            if not flags & 1:
                return frames

    def close(self) -> None:
        self.sock.close()
