"""Importing music from Debian packages, with real tools: a package built by `dpkg-deb`,
unpacked by `dpkg -x`, holding loose OGG files, a `.pk3` archive, a corrupt file and a DEP-5
copyright file. No network: the package waits in the download cache, as after `apt-get download`."""

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from processes import require
from signals import sine_mix

from engine.train import debian
from engine.train.manifest import read_manifest
from engine.train.prepare import prepare_data

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2010 Someone
License: GPL-2+

Files: music/special_*.ogg
Copyright: 2011 Someone Else
License: CC-BY-SA-3.0

Files: debian/*
License: GPL-2+
"""


def ogg_bytes(seconds: float, title: str = "") -> bytes:
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", 48_000, 2, format="OGG", subtype="VORBIS") as f:
        if title:
            f.title, f.artist, f.genre = title, "Test Composer", "Ambient"
        f.write(sine_mix(seconds, 48_000).T)
    return buffer.getvalue()


def build_package(root: Path, name: str = "asc-music") -> Path:
    """A real .deb with music in the three ways packages ship it."""
    tree = root / "tree"
    music = tree / "usr/share/games/test/music"
    music.mkdir(parents=True)
    (music / "theme.ogg").write_bytes(ogg_bytes(6.0, "Main Theme"))
    (music / "special_night.ogg").write_bytes(ogg_bytes(5.0))
    (music / "broken.ogg").write_bytes(b"OggS but not really")
    with zipfile.ZipFile(tree / "usr/share/games/test/data.pk3", "w") as archive:
        archive.writestr("music/battle.ogg", ogg_bytes(7.0))
        archive.writestr("textures/wall.png", b"not music")
    doc = tree / f"usr/share/doc/{name}"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\n"
                                         "Maintainer: t <t@example.org>\nDescription: test music\n")
    cache = root / "cache"
    (cache / "debs").mkdir(parents=True)
    done = subprocess.run([require("dpkg-deb"), "--build", str(tree), str(cache / "debs" / f"{name}_1.0-1_all.deb")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return cache


def test_a_package_is_unpacked_and_every_music_file_found_with_its_licence(tmp_path):
    cache = build_package(tmp_path)
    found = {t.name.split("games/test/")[-1]: t for t in debian.tracks("asc-music", debian.fetch("asc-music", cache))}
    assert set(found) == {"music/theme.ogg", "music/special_night.ogg", "music/broken.ogg", "data.pk3!music/battle.ogg"}
    assert found["music/theme.ogg"].licence == "GPL-2+"
    assert found["music/special_night.ogg"].licence == "CC-BY-SA-3.0"  # the more specific stanza wins
    assert found["data.pk3!music/battle.ogg"].data is not None


def test_prepare_data_imports_a_package_and_counts_what_it_skips(tmp_path):
    cache = build_package(tmp_path)
    out = tmp_path / "data"
    report = prepare_data(out, midi=False, debian_packages=("asc-music",), debian_cache=cache,
                          held_out_fraction=0.5, workers=1)
    assert report.imported == 3 and report.skipped == {"unreadable audio": 1}
    assert "broken.ogg" in report.warnings[0]
    entries = read_manifest(out)
    for entry in entries:
        info = sf.info(entry["path"])
        assert (info.samplerate, info.channels) == (44_100, 2)
        assert entry["package"] == "asc-music" and entry["licence"] in {"GPL-2+", "CC-BY-SA-3.0"}
    captions = {e["caption"] for e in entries}
    assert "orchestral game score, Main Theme, by Test Composer, ambient" in captions
    # whole tracks are held out: every piece is in one split only
    assert {e["split"] for e in entries} == {"train", "heldout"}
    assert len({e["piece"] for e in entries}) == len(entries)


def test_a_package_that_cannot_be_unpacked_is_named_and_the_rest_goes_on(tmp_path):
    cache = build_package(tmp_path)
    (cache / "debs" / "drascula-music_1.0_all.deb").write_bytes(b"!<arch>\nnot a deb")
    report = prepare_data(tmp_path / "data", midi=False, debian_packages=("drascula-music", "asc-music"),
                          debian_cache=cache, held_out_fraction=0.5, workers=1)
    assert report.skipped["package unavailable"] == 1 and report.imported == 3
    assert any("drascula-music" in w and "dpkg -x" in w for w in report.warnings)


def test_other_music_packages_are_refused_by_name(tmp_path):
    with pytest.raises(debian.PackageError, match="some-other-music: not one of the music packages"):
        debian.fetch("some-other-music", tmp_path)


def test_free_form_copyright_files_still_give_a_licence():
    text = ("This program is free software; you can redistribute it and/or modify it under the terms "
            "of the GNU General Public License as published by the Free Software Foundation; either "
            "version 2 of the License, or (at your option) any later version.")
    assert debian.licence_for(text, "music/a.ogg") == "GPL-2+"


def test_published_tempi_are_kept_per_track(tmp_path):
    album = tmp_path / "usr/share/games/x/music/albums/a"
    album.mkdir(parents=True)
    (album / "album.json").write_text(json.dumps({"tracks": [{"filename": "t1.opus", "bpm": 80},
                                                             {"filename": "t2.opus"}]}))
    assert debian.album_bpms(tmp_path) == {"t1.opus": 80.0}


def test_the_import_command_names_every_package_it_uses():
    assert set(debian.PACKAGES) == {"wesnoth-1.16-music", "warzone2100-music", "drascula-music",
                                    "planetblupi-music-ogg", "asc-music", "nexuiz-music", "ufoai-music"}
    assert np.all([debian.STYLES[p] for p in debian.PACKAGES])


def test_a_second_import_into_the_same_folder_keeps_what_was_there(tmp_path):
    cache = build_package(tmp_path)
    out = tmp_path / "data"
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "mine.wav", sine_mix(5.0, 44_100).T, 44_100)
    prepare_data(out, midi=False, audio_dirs=(folder,), workers=1)
    prepare_data(out, midi=False, debian_packages=("asc-music",), debian_cache=cache, workers=1)
    sources = sorted(e["source"] for e in read_manifest(out))
    assert sources == ["audio", "debian", "debian", "debian"]
