"""Real, produced music from Debian's game-data packages, fetched without installing anything
(`apt-get download` + `dpkg -x`), with a caption and the licence of every file.

Files may sit loose (OGG, Opus, MP3) or inside `.pk3` zip archives; each is read with
libsndfile. The licence comes from the package's `copyright` file: the DEP-5 stanza whose
`Files:` patterns match the file most specifically, or, for a free-form file, the licence it
names.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MUSIC_SUFFIXES = {".ogg", ".opus", ".mp3", ".flac", ".wav"}

# What a listener would call each package's music (the caption's first words).
STYLES = {
    "wesnoth-1.16-music": "orchestral fantasy score",
    "warzone2100-music": "electronic ambient soundtrack",
    "drascula-music": "adventure game soundtrack",
    "planetblupi-music-ogg": "playful game music",
    "asc-music": "orchestral game score",
    "nexuiz-music": "electronic, industrial and techno",
    "ufoai-music": "cinematic electronic score",
}
# The packages the project trains and evaluates on; other music packages are kept unheard.
PACKAGES = tuple(STYLES)


class PackageError(RuntimeError):
    """A package that cannot be downloaded or unpacked (the message names it)."""


@dataclass(frozen=True)
class Track:
    package: str
    name: str  # path inside the package (and inside its .pk3, after a '!')
    data: bytes | None  # the file's bytes when it came out of an archive
    path: Path | None  # the file on disk otherwise
    licence: str
    bpm: float | None = None

    @property
    def piece(self) -> str:
        return f"debian/{self.package}/{self.name}"

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is None:
            raise ValueError(f"{self.piece}: neither bytes nor a file")
        return self.path.open("rb")


def fetch(package: str, cache: Path) -> Path:
    """Download and unpack `package` into `cache/<package>/` (once); returns that folder."""
    if package not in STYLES:
        raise PackageError(f"{package}: not one of the music packages this project uses "
                           f"({', '.join(PACKAGES)})")
    root = cache / package
    if (root / ".unpacked").is_file():
        return root
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise PackageError(f"{package}: {tool} is not available on this machine (Debian or Ubuntu needed)")
    downloads = cache / "debs"
    downloads.mkdir(parents=True, exist_ok=True)
    debs = sorted(downloads.glob(f"{package}_*.deb"))
    if not debs:
        done = subprocess.run(["apt-get", "download", package], cwd=downloads, capture_output=True, text=True)
        debs = sorted(downloads.glob(f"{package}_*.deb"))
        if done.returncode or not debs:
            raise PackageError(f"{package}: apt-get download failed: {(done.stderr or done.stdout).strip()[-300:]}")
    staging = cache / f".{package}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    done = subprocess.run(["dpkg", "-x", str(debs[-1]), str(staging)], capture_output=True, text=True)
    if done.returncode:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackageError(f"{package}: dpkg -x {debs[-1].name} failed: {done.stderr.strip()[-300:]}")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    (root / ".unpacked").touch()
    return root


def tracks(package: str, root: Path) -> list[Track]:
    """Every music file of an unpacked package, loose or inside a `.pk3`, with its licence."""
    copyright_text = ""
    for candidate in root.glob("usr/share/doc/*/copyright"):
        copyright_text = candidate.read_text(errors="replace")
    bpms = album_bpms(root)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = str(path.relative_to(root))
        if path.suffix.lower() in MUSIC_SUFFIXES and not relative.startswith("usr/share/doc"):
            found.append(Track(package, relative, None, path, licence_for(copyright_text, relative),
                               bpms.get(path.name)))
        elif path.suffix.lower() == ".pk3":
            try:
                archive = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise PackageError(f"{package}: {relative} is not a readable archive ({exc})") from None
            with archive:
                for member in sorted(archive.namelist()):
                    if PurePosixPath(member).suffix.lower() in MUSIC_SUFFIXES:
                        found.append(Track(package, f"{relative}!{member}", archive.read(member), None,
                                           licence_for(copyright_text, member)))
    return found


def album_bpms(root: Path) -> dict[str, float]:
    """Published tempi (warzone2100's `album.json` lists one per track), by file name."""
    bpms = {}
    for album in root.rglob("album.json"):
        try:
            for track in json.loads(album.read_text()).get("tracks", []):
                if isinstance(track.get("bpm"), (int, float)):
                    bpms[track["filename"]] = float(track["bpm"])
        except (ValueError, AttributeError):
            continue
    return bpms


def licence_for(copyright_text: str, name: str) -> str:
    """The licence short name that applies to `name` (a path inside the package)."""
    stanzas = [s for s in re.split(r"\n\s*\n", copyright_text) if re.search(r"^Files:", s, re.M)]
    best, best_score = "", -1
    for stanza in stanzas:
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        licence = re.search(r"^License:\s*(\S.*)", stanza, re.M)
        if not files or not licence:
            continue
        for pattern in files.group(1).split():
            if pattern.startswith("debian/"):
                continue
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name, "*/" + pattern) \
                    or PurePosixPath(name).name == PurePosixPath(pattern).name:
                score = len(pattern.replace("*", ""))  # the most specific pattern wins
                if score > best_score:
                    best, best_score = licence.group(1).strip(), score
    if best:
        return best
    text = " ".join(copyright_text.split())
    if re.search(r"GNU General Public License.{0,80}version 2.{0,60}or \(at your option\) any later", text):
        return "GPL-2+"
    for name_, pattern in (("GPL-2", r"GPL-2|GNU General Public License.{0,40}version 2"),
                           ("GPL-3", r"GPL-3"), ("CC-BY-SA", r"CC-BY-SA|Attribution-ShareAlike")):
        if re.search(pattern, text):
            return name_
    return "see the package's copyright file"


def caption(track: Track, tags: dict[str, str]) -> str:
    """"<package style>, <title>, by <artist>, <genre>", from what the file says about itself."""
    parts = [STYLES[track.package]]
    title = tags.get("title") or PurePosixPath(track.name.split("!")[-1]).stem.replace("_", " ").replace("-", " ")
    parts.append(title.strip())
    if tags.get("artist"):
        parts.append(f"by {tags['artist'].strip()}")
    if tags.get("genre"):
        parts.append(tags["genre"].strip().lower())
    return ", ".join(p for p in parts if p)
