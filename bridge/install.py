"""`daw-diffusion install reaper|max|pd` and `uninstall`: the front ends put where each host looks,
in one step.

Every file written is listed, with its hash, in a receipt beside it (`.daw-diffusion-receipt.json`),
so `uninstall` removes exactly what `install` wrote and nothing a user changed since; a file of
the same name that is not ours is left alone and reported. A second install is a no-op for what is
already there. REAPER's actions are registered in its `reaper-kb.ini` (the lines naming our
scripts, taken out again by `uninstall`); REAPER reads that file when it starts, so install
while it is closed, or restart it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import reapack
from bridge.errors import BridgeError
from engine import __version__

ROOT = Path(__file__).resolve().parents[1]
RECEIPT = ".daw-diffusion-receipt.json"


def home_for(host: str) -> Path:
    """Where `host` looks for what we install, on this platform."""
    home = Path.home()
    mac, windows = sys.platform == "darwin", sys.platform == "win32"
    appdata = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
    if host == "reaper":
        base = (home / "Library/Application Support/REAPER" if mac else appdata / "REAPER" if windows
                else home / ".config/REAPER")
        return base / "Scripts" / "daw-diffusion"
    if host == "max":
        return home / "Documents" / "Max 9" / "Packages" / "daw-diffusion"
    if host == "reapack":  # a repository to import in ReaPack (or to publish)
        return home / "daw-diffusion-reapack"
    return (home / "Documents" / "Pd" / "externals" if mac or windows else home / ".local/lib/pd/extra") / "daw-diffusion"


def files_for(host: str) -> dict[str, Path]:
    """Target name (relative to the host's folder) -> our file."""
    if host in ("reaper", "reapack"):
        return {p.name: p for p in sorted((ROOT / "reaper_scripts").glob("*.lua"))}
    patches = ROOT / "max_patches"
    if host == "max":
        return {"patchers/daw-diffusion.maxpat": patches / "daw-diffusion.maxpat",
                "devices/daw-diffusion-device.amxd": patches / "daw-diffusion-device.amxd",
                "help/daw-diffusion.maxhelp": patches / "daw-diffusion.maxpat"}
    return {"daw-diffusion.pd": patches / "daw-diffusion.pd"}


def generated_for(host: str, folder: Path, url: str | None = None) -> dict[str, str]:
    """Files written from what we know rather than copied (ReaPack's index points at `url`, by
    default the folder's own file:// address)."""
    if host == "reapack":
        return {"index.xml": reapack.index(files_for(host), reapack_url(folder, url))}
    if host == "max":
        info = {"name": "daw-diffusion", "displayname": "daw-diffusion", "version": __version__,
                "author": "daw-diffusion", "description": "Edit music with a diffusion model: inpaint, extend, "
                "style transfer, interpolate, vary, generate (talks OSC to `daw-diffusion serve`)",
                "max_version_min": "8.0", "os": {"macintosh": {"platform": ["x64", "aarch64"]},
                                                  "windows": {"platform": ["x64"]}}}
        return {"package-info.json": json.dumps(info, indent=1) + "\n"}
    return {}


def reapack_url(folder: Path, url: str | None) -> str:
    """Where ReaPack finds a repository folder: `url`, or the folder's own file:// address."""
    return url or folder.resolve().as_uri()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Plan:
    folder: Path
    write: dict[str, bytes] = field(default_factory=dict)  # new, or ours and changed since
    same: list[str] = field(default_factory=list)  # already there as we would write it
    foreign: list[str] = field(default_factory=list)  # someone else's file of that name: left alone


def plan(host: str, folder: Path, url: str | None = None) -> Plan:
    receipt = read_receipt(folder)
    result = Plan(folder)
    wanted = {name: path.read_bytes() for name, path in files_for(host).items()}
    wanted |= {name: text.encode() for name, text in generated_for(host, folder, url).items()}
    for name, data in wanted.items():
        target = folder / name
        if not target.exists():
            result.write[name] = data
        elif digest(target.read_bytes()) == digest(data):
            result.same.append(name)
        elif receipt.get(name) == digest(target.read_bytes()):  # ours, from an older version
            result.write[name] = data
        else:
            result.foreign.append(name)
    return result


def read_receipt(folder: Path) -> dict[str, str]:
    try:
        return dict(json.loads((folder / RECEIPT).read_text()).get("files", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def install(host: str, folder: Path, dry_run: bool = False, url: str | None = None) -> dict[str, Any]:
    if folder.exists() and not folder.is_dir():
        raise BridgeError("bad_file", f"{folder}: a file, not a folder; give another with --to")
    steps = plan(host, folder, url)
    done: dict[str, Any] = {"host": host, "folder": str(folder), "written": sorted(steps.write),
                            "already_there": sorted(steps.same), "left_alone": sorted(steps.foreign)}
    if dry_run:
        return {"dry_run": True, **done, **({"actions": register_actions(folder, True)} if host == "reaper" else {})}
    receipt, created, existed = read_receipt(folder), [], folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in steps.write.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(data)
            if not target.exists():
                created.append(target)
            os.replace(partial, target)
            receipt[name] = digest(data)
        (folder / RECEIPT).write_text(json.dumps({"version": __version__, "files": receipt}, indent=1) + "\n")
    except OSError as exc:
        for target in created:  # nothing half-installed: what this run added goes again
            target.unlink(missing_ok=True)
        for partial in folder.rglob(".*.partial") if folder.is_dir() else ():
            partial.unlink(missing_ok=True)
        prune(folder, keep=existed)
        raise BridgeError("bad_file", f"{folder}: cannot install there ({exc.strerror or exc}); "
                                      "give a folder you can write with --to") from None
    if host == "reaper":
        done["actions"] = register_actions(folder, dry_run)
    return done


def uninstall(host: str, folder: Path, dry_run: bool = False) -> dict[str, Any]:
    receipt = read_receipt(folder)
    removed, changed = [], []
    for name, hashed in receipt.items():
        target = folder / name
        if not target.is_file():
            continue
        if digest(target.read_bytes()) != hashed:
            changed.append(name)  # edited since: the user's now
            continue
        removed.append(name)
        if not dry_run:
            target.unlink()
    done: dict[str, Any] = {"host": host, "folder": str(folder), "removed": sorted(removed),
                            "left_alone": sorted(changed)}
    if host == "reaper":
        done["actions"] = unregister_actions(folder, dry_run)
    if not dry_run and (folder / RECEIPT).exists():
        (folder / RECEIPT).unlink()
        prune(folder)
    return done


def prune(folder: Path, keep: bool = False) -> None:
    """Take out the folders left empty in `folder`, and `folder` itself unless `keep`."""
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    if not keep and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


# -- REAPER's action list ----------------------------------------------------------------------
def kb_file(folder: Path) -> Path:
    """REAPER's key map, in its resource folder (two above Scripts/daw-diffusion)."""
    return folder.parent.parent / "reaper-kb.ini"


def action_lines(folder: Path) -> list[str]:
    """One `SCR` line per action script: its command id (RS and a hash, as REAPER makes them),
    its name in the action list, its path under Scripts/."""
    lines = []
    for script in sorted(files_for("reaper")):
        if script.startswith("daw-diffusion - "):
            path = f"{folder.name}/{script}"
            lines.append(f'SCR 4 0 RS{hashlib.sha1(path.encode()).hexdigest()} "Custom: {script}" "{path}"')
    return lines


def register_actions(folder: Path, dry_run: bool) -> int | str:
    """Add our actions to reaper-kb.ini (those already there are kept); how many it holds. Only
    in a REAPER resource folder (the scripts in its Scripts/): elsewhere, what to click."""
    if folder.parent.name != "Scripts":
        return (f"not in a REAPER Scripts folder: load them in REAPER with Actions > Show action list > "
                f"New action > Load ReaScript, from {folder}")
    kb = kb_file(folder)
    have = kb.read_text().splitlines() if kb.is_file() else []
    new = [line for line in action_lines(folder) if line not in have]
    if new and not dry_run:
        try:
            kb.parent.mkdir(parents=True, exist_ok=True)
            with open(kb, "a") as f:
                f.write("".join(line + "\n" for line in new))
        except OSError as exc:
            raise BridgeError("bad_file", f"{kb}: cannot register the actions ({exc.strerror or exc})") from None
    return len(action_lines(folder))


def unregister_actions(folder: Path, dry_run: bool) -> int:
    kb = kb_file(folder)
    if folder.parent.name != "Scripts" or not kb.is_file():
        return 0
    lines = kb.read_text().splitlines()
    ours = [line for line in lines if line in action_lines(folder)]
    if ours and not dry_run:
        kb.write_text("".join(line + "\n" for line in lines if line not in ours))
    return len(ours)


def add_commands(sub: argparse._SubParsersAction) -> None:
    for verb, helps in (("install", "put a front end where its host looks: REAPER scripts and actions, the Max "
                                    "package, the Pd patch"), ("uninstall", "take out exactly what install put in")):
        p = sub.add_parser(verb, help=helps)
        p.add_argument("host", choices=["reaper", "reapack", "max", "pd"],
                       help="reapack: the REAPER scripts as a repository for ReaPack (index.xml beside them)")
        p.add_argument("--to", type=Path, help="the folder (default: where the host looks on this platform)")
        p.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
        if verb == "install":
            p.add_argument("--url", help="reapack: where the folder will be published (default: its file:// address)")
        p.set_defaults(handler=run_install if verb == "install" else run_uninstall)


def run_install(args: argparse.Namespace) -> dict[str, Any]:
    folder = (args.to or home_for(args.host)).expanduser()
    if args.host == "reapack":
        done = install(args.host, folder, args.dry_run, args.url)
        return {"ok": True, **done, "import": f"in REAPER: Extensions > ReaPack > Import repositories: "
                                             f"{reapack_url(folder, args.url)}/index.xml"}
    return {"ok": True, **install(args.host, folder, args.dry_run)}


def run_uninstall(args: argparse.Namespace) -> dict[str, Any]:
    return {"ok": True, **uninstall(args.host, (args.to or home_for(args.host)).expanduser(), args.dry_run)}
