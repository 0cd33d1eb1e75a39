"""The REAPER scripts as a ReaPack repository: its `index.xml`, written from the scripts' own
headers and the package's version.

ReaPack (Extensions > ReaPack > Import repositories) reads `index.xml` from a URL and each file
from the URL its `<source>` gives: where the folder is published, or on this machine its
`file://` address (`daw-diffusion install reapack` writes the folder). One package holds every
file, since every action loads the library beside it; each action script (`daw-diffusion - *.lua`,
whose `@description` header names it) is registered in REAPER's main action list.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

from bridge.errors import BridgeError
from engine import __version__

NAME = "daw-diffusion"
CATEGORY = "Items Editing"
ABOUT = "Edit music with a diffusion model from REAPER: inpaint, extend, style transfer, vary, interpolate, " \
        "generate (needs `daw-diffusion serve` running)"


def is_action(name: str) -> bool:
    return name.startswith(f"{NAME} - ") and name.endswith(".lua")


def description(script: Path) -> str | None:
    """The `@description` header of a Lua script, if it has one."""
    found = re.search(r"^-- @description (.+)$", script.read_text(encoding="utf-8"), re.MULTILINE)
    return found[1].strip() if found else None


def index(scripts: dict[str, Path], base_url: str) -> str:
    """`index.xml` for `scripts` (name in the package -> file) published under `base_url`."""
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    root = ET.Element("index", version="1", name=NAME)
    package = ET.SubElement(ET.SubElement(root, "category", name=CATEGORY), "reapack",
                            name=f"{NAME}.lua", type="script", desc=ABOUT)
    version = ET.SubElement(package, "version", name=__version__, author=NAME)
    for name, path in sorted(scripts.items()):
        source = ET.SubElement(version, "source", file=name)
        if is_action(name):
            said = description(path)
            if said != f"{NAME}: {name[len(NAME) + 3:-4]}":
                raise BridgeError("bad_file", f"{path}: an action script needs the header "
                                              f"'-- @description {NAME}: {name[len(NAME) + 3:-4]}'")
            source.set("main", "main")
        source.text = base_url + urllib.parse.quote(name)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
