"""Build a Max for Live device (`.amxd`) from its readable patcher JSON, and read one back.

    python max_patches/amxd.py max_patches/daw-diffusion-device.maxpat   # -> daw-diffusion-device.amxd

The container, as Max writes unfrozen devices: `ampf` + u32 4 + device type (`aaaa` audio
effect, `mmmm` MIDI effect, `iiii` instrument), then a `meta` chunk (u32 length 4, u32 value),
then a `ptch` chunk (u32 length, the patcher JSON, NUL-terminated). Integers are little-endian.
The device is never frozen: the JSON in the repository is the source of truth.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

TYPES = {"aaaa": "audio effect", "mmmm": "MIDI effect", "iiii": "instrument"}


def build_amxd(patcher: dict, device_type: str = "aaaa") -> bytes:
    if device_type not in TYPES:
        raise ValueError(f"device type {device_type!r} is not one of {', '.join(TYPES)}")
    body = json.dumps(patcher, indent="\t").encode() + b"\x00"
    return (b"ampf" + struct.pack("<I", 4) + device_type.encode()
            + b"meta" + struct.pack("<II", 4, 0)
            + b"ptch" + struct.pack("<I", len(body)) + body)


def read_amxd(data: bytes) -> tuple[str, dict]:
    """(device type, patcher) of an unfrozen device; ValueError says what is wrong."""
    if data[:4] != b"ampf" or len(data) < 32:
        raise ValueError("not a Max for Live device (no 'ampf' header)")
    (header_length,) = struct.unpack_from("<I", data, 4)
    device_type = data[8:12].decode("ascii", "replace")
    at = 8 + header_length
    while at + 8 <= len(data):
        tag, (length,) = data[at:at + 4], struct.unpack_from("<I", data, at + 4)
        chunk = data[at + 8:at + 8 + length]
        if len(chunk) != length:
            raise ValueError(f"chunk {tag!r} claims {length} bytes, {len(chunk)} are there")
        if tag == b"ptch":
            try:
                return device_type, json.loads(chunk.rstrip(b"\x00").decode())
            except ValueError as exc:
                raise ValueError(f"the ptch chunk is not patcher JSON ({exc})") from None
        at += 8 + length
    raise ValueError("no 'ptch' chunk: frozen or damaged device")


def main(source: str) -> None:
    path = Path(source)
    out = path.with_suffix(".amxd")
    out.write_bytes(build_amxd(json.loads(path.read_text())))
    print(out)


if __name__ == "__main__":
    main(sys.argv[1])
