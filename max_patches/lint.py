"""Lint the patches: valid JSON / Pd syntax, unique object ids, every cord between existing
objects and in-range inlets and outlets, every OSC address a patch sends known to the bridge and
every reply the bridge sends handled, and each `.amxd` holding its patcher source unchanged.

    python max_patches/lint.py            # lints every patch here; exit 1 if anything is wrong

Pure Data patches are also opened in a real headless Pd (when `pd` is installed), which reports
objects that cannot be created and connections that cannot be made.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bridge.addresses import REPLIES, REQUESTS  # noqa: E402
from max_patches.amxd import read_amxd  # noqa: E402

HERE = Path(__file__).resolve().parent

# Max objects whose inlet/outlet counts are known (name -> function of the argument count)
MAX_IO = {
    "udpsend": lambda n: (1, 0), "udpreceive": lambda n: (1, 1), "route": lambda n: (2, n + 1),
    "unpack": lambda n: (1, n), "prepend": lambda n: (2, 1), "loadbang": lambda n: (1, 1),
    "t": lambda n: (1, n), "trigger": lambda n: (1, n), "print": lambda n: (1, 0), "pak": lambda n: (n, 1),
    "sel": lambda n: (2, n + 1), "select": lambda n: (2, n + 1),
}
MAX_UI_IO = {"message": (2, 1), "button": (1, 1), "toggle": (1, 1), "comment": (1, 0)}


def lint_all(folder: Path = HERE) -> dict[str, list[str]]:
    problems = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".maxpat":
            problems[path.name] = lint_maxpat(path)
        elif path.suffix == ".pd":
            problems[path.name] = lint_pd(path)
        elif path.suffix == ".amxd":
            problems[path.name] = lint_amxd(path, path.with_suffix(".maxpat"))
    return problems


# -- Max ----------------------------------------------------------------------------------------

def lint_maxpat(path: Path) -> list[str]:
    try:
        patcher = json.loads(path.read_text())["patcher"]
    except (ValueError, KeyError) as exc:
        return [f"not a Max patcher (JSON with a 'patcher'): {exc}"]
    problems: list[str] = []
    sent, routed = set(), set()
    check_patcher(patcher, "", problems, sent, routed)
    return problems + osc_problems(sent, routed)


def check_patcher(patcher: dict, where: str, problems: list[str], sent: set, routed: set) -> None:
    boxes = {}
    for entry in patcher.get("boxes", []):
        box = entry["box"]
        if box["id"] in boxes:
            problems.append(f"{where}{box['id']}: duplicate object id")
        boxes[box["id"]] = box
        text = box.get("text", "")
        words = text.split()
        if box.get("maxclass") == "newobj" and words:
            known = MAX_IO.get(words[0])
            if known and known(len(words) - 1) != (box.get("numinlets"), box.get("numoutlets")):
                problems.append(f"{where}{box['id']} [{text}]: declares {box.get('numinlets')} inlets, "
                                f"{box.get('numoutlets')} outlets; {words[0]} has {known(len(words) - 1)}")
            if words[0] == "route":
                routed.update(words[1:])
        elif box.get("maxclass") in MAX_UI_IO:
            if MAX_UI_IO[box["maxclass"]] != (box.get("numinlets"), box.get("numoutlets")):
                problems.append(f"{where}{box['id']}: a {box['maxclass']} has {MAX_UI_IO[box['maxclass']]} inlets/outlets")
        if box.get("maxclass") == "message":
            for part in text.split(","):
                part = part.strip().split()
                if part and part[0].startswith("/diffusion/"):
                    sent.add(part[0])
        if "patcher" in box:
            check_patcher(box["patcher"], f"{where}{box['id']}/", problems, sent, routed)
    for entry in patcher.get("lines", []):
        line = entry["patchline"]
        (src, outlet), (dst, inlet) = line["source"], line["destination"]
        if src not in boxes or dst not in boxes:
            problems.append(f"{where}cord {src}->{dst}: an end does not exist")
        elif outlet >= boxes[src].get("numoutlets", 0) or inlet >= boxes[dst].get("numinlets", 0):
            problems.append(f"{where}cord {src}:{outlet} -> {dst}:{inlet}: no such outlet or inlet")


# -- Pure Data ----------------------------------------------------------------------------------

def pd_records(text: str) -> list[list[str]]:
    """Records of a .pd file: split on unescaped semicolons, then on whitespace."""
    records = re.split(r"(?<!\\);\s*\n", text.strip().rstrip(";"))
    return [record.split() for record in records if record.strip()]


def lint_pd(path: Path) -> list[str]:
    records = pd_records(path.read_text())
    if not records or records[0][:2] != ["#N", "canvas"]:
        return ["not a Pure Data patch (no '#N canvas' first)"]
    problems, canvases, sent, routed = [], [], set(), set()
    for record in records:
        kind = record[0:2]
        if kind == ["#N", "canvas"]:
            canvases.append([])
        elif kind == ["#X", "restore"]:
            canvases.pop()
            canvases[-1].append(["subpatch"])
        elif kind[0] == "#X" and kind[1] in ("obj", "msg", "floatatom", "symbolatom", "listbox", "text"):
            canvases[-1].append(record[1:])
            words = record[4:]
            if kind[1] == "obj" and words[:1] == ["oscformat"] and len(words) > 1:
                sent.add("/" + "/".join(words[1:]))
            if kind[1] == "obj" and words[:1] == ["route"]:
                routed.update(words[1:])
            if kind[1] == "msg":  # `; dd-job style ...` example boxes name the task they send
                for task in re.findall(r"dd-job (\w+)", " ".join(words)):
                    sent.add(f"/diffusion/{task}")
        elif kind == ["#X", "connect"]:
            a, _, b, _ = (int(x) for x in record[2:6])
            if not (a < len(canvases[-1]) and b < len(canvases[-1])):
                problems.append(f"connect {' '.join(record[2:6])}: an end does not exist")
    problems += osc_problems(sent, routed, short=True)
    return problems + pd_load_problems(path)


def pd_load_problems(path: Path) -> list[str]:
    """Open the patch in a real headless Pd: it names objects it cannot create and cords it
    cannot connect (outlets or inlets out of range)."""
    pd = shutil.which("pd")
    if pd is None:
        return []
    done = subprocess.run([pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(path), "-send", "pd quit"],
                          capture_output=True, text=True, timeout=30)
    return [line.strip() for line in done.stderr.splitlines()
            if "couldn't create" in line or "connection failed" in line]


# -- OSC ----------------------------------------------------------------------------------------

def osc_problems(sent: set[str], routed: set[str], short: bool = False) -> list[str]:
    """`sent` must be bridge requests; every bridge reply must be routed somewhere. Pd routes
    the last part of the address (`route done error`), Max the whole address."""
    problems = [f"sends {address}, which the bridge does not know" for address in sorted(sent - set(REQUESTS))]
    for reply in REPLIES:
        name = reply.rsplit("/", 1)[1] if short else reply
        if name not in routed:
            problems.append(f"does not handle the bridge's {reply} reply")
    return problems


# -- Max for Live -------------------------------------------------------------------------------

def lint_amxd(path: Path, source: Path) -> list[str]:
    try:
        device_type, patcher = read_amxd(path.read_bytes())
    except ValueError as exc:
        return [str(exc)]
    problems = []
    if not source.exists():
        return [f"no patcher source {source.name} to compare with"]
    if patcher != json.loads(source.read_text()):
        problems.append(f"the embedded patcher differs from {source.name}: rebuild with max_patches/amxd.py")
    if device_type != "aaaa":
        problems.append(f"device type {device_type!r}; an audio effect is 'aaaa'")
    return problems


def main() -> int:
    failed = False
    for name, problems in lint_all().items():
        print(f"{name}: {'ok' if not problems else str(len(problems)) + ' problem(s)'}")
        for problem in problems:
            print(f"  {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
