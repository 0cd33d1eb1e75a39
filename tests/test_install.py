"""`daw-diffusion install|uninstall reaper|max|pd`, into temporary homes: where each host looks,
a second run, someone else's file in the way, a target that cannot be written, and undoing
exactly what was done."""

import json
import re
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from processes import CLI

from bridge.install import files_for, home_for
from bridge.reapack import index
from engine import __version__

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, home=None):
    env = None if home is None else {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=env)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("platform, host, where", [
    ("linux", "reaper", ".config/REAPER/Scripts/daw-diffusion"),
    ("darwin", "reaper", "Library/Application Support/REAPER/Scripts/daw-diffusion"),
    ("win32", "reaper", "AppData/Roaming/REAPER/Scripts/daw-diffusion"),
    ("darwin", "max", "Documents/Max 9/Packages/daw-diffusion"),
    ("win32", "max", "Documents/Max 9/Packages/daw-diffusion"),
    ("linux", "pd", ".local/lib/pd/extra/daw-diffusion"),
    ("darwin", "pd", "Documents/Pd/externals/daw-diffusion"),
])
def test_each_host_is_looked_for_where_it_looks_on_each_platform(monkeypatch, tmp_path, platform, host, where):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("APPDATA", raising=False)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    assert home_for(host) == tmp_path / where


@pytest.mark.parametrize("host", ["reaper", "reapack", "max", "pd"])
def test_install_twice_then_uninstall_leaves_exactly_what_was_there(tmp_path, host):
    home = tmp_path / "home"
    folder = home / ".config/REAPER/Scripts/daw-diffusion" if host == "reaper" else tmp_path / "target"
    to = [] if host == "reaper" else ["--to", str(folder)]
    kb = home / ".config/REAPER/reaper-kb.ini"
    if host == "reaper":
        kb.parent.mkdir(parents=True)
        kb.write_text('KEY 1 65 40044 0\n')  # the user's own key binding
    status, dry = cli("install", host, "--dry-run", *to, home=home)
    assert status == 0 and dry["dry_run"] and not folder.exists()
    status, first = cli("install", host, *to, home=home)
    assert status == 0 and first["folder"] == str(folder) and not first["left_alone"]
    for name, source in files_for(host).items():
        assert (folder / name).read_bytes() == source.read_bytes()
    if host == "reapack":
        assert (folder / "index.xml").is_file() and first["import"].endswith(f"{folder.as_uri()}/index.xml")
    if host == "max":
        info = json.loads((folder / "package-info.json").read_text())
        assert info["name"] == "daw-diffusion" and (folder / "devices" / "daw-diffusion-device.amxd").is_file()
    if host == "reaper":
        actions = [line for line in kb.read_text().splitlines() if line.startswith("SCR")]
        assert len(actions) == first["actions"] == 12 and all('"daw-diffusion/daw-diffusion - ' in a for a in actions)
    status, second = cli("install", host, *to, home=home)
    assert status == 0 and second["written"] == [] and sorted(second["already_there"]) == sorted(first["written"])
    if host == "reaper":
        assert kb.read_text().count("SCR 4 0") == 12  # not registered twice
    status, gone = cli("uninstall", host, *to, home=home)
    assert status == 0 and sorted(gone["removed"]) == sorted(first["written"]) and not folder.exists()
    if host == "reaper":
        assert kb.read_text() == 'KEY 1 65 40044 0\n'


def test_someone_elses_file_in_the_way_is_left_alone_and_reported(tmp_path):
    folder = tmp_path / "pd"
    folder.mkdir()
    (folder / "daw-diffusion.pd").write_text("#N canvas my own patch;\n")
    status, done = cli("install", "pd", "--to", str(folder))
    assert status == 0 and done["left_alone"] == ["daw-diffusion.pd"] and done["written"] == []
    status, gone = cli("uninstall", "pd", "--to", str(folder))
    assert status == 0 and gone["removed"] == []
    assert (folder / "daw-diffusion.pd").read_text() == "#N canvas my own patch;\n"


def test_an_edited_file_is_the_users_and_uninstall_keeps_it(tmp_path):
    folder = tmp_path / "scripts"
    assert cli("install", "reaper", "--to", str(folder))[0] == 0
    (folder / "daw-diffusion_lib.lua").write_text("-- my changes\n")
    status, gone = cli("uninstall", "reaper", "--to", str(folder))
    assert status == 0 and gone["left_alone"] == ["daw-diffusion_lib.lua"]
    assert (folder / "daw-diffusion_lib.lua").read_text() == "-- my changes\n"
    assert "Load ReaScript" in cli("install", "reaper", "--to", str(tmp_path / "x"), "--dry-run")[1]["actions"]


def test_a_target_that_cannot_be_written_is_refused_and_nothing_is_half_installed(tmp_path):
    blocked = tmp_path / "a file"
    blocked.write_text("mine")
    status, reply = cli("install", "pd", "--to", str(blocked))
    assert status == 2 and "a file, not a folder" in reply["message"] and blocked.read_text() == "mine"
    folder = tmp_path / "max"
    folder.mkdir()
    (folder / "help").write_text("in the way")  # the package's help/ cannot be made, after patchers/ and devices/
    status, reply = cli("install", "max", "--to", str(folder))
    assert status == 2 and "cannot install there" in reply["message"]
    assert sorted(p.name for p in folder.iterdir()) == ["help"] and (folder / "help").read_text() == "in the way"


@pytest.mark.parametrize("base", ["file", "https://example.org/daw-diffusion/reaper_scripts"])
def test_the_reapack_index_lists_every_script_at_its_url_with_the_package_version(tmp_path, base):
    scripts = files_for("reapack")
    status, done = cli("install", "reapack", "--to", str(tmp_path / "repo"),
                       *([] if base == "file" else ["--url", base]))
    assert status == 0
    root = ET.parse(tmp_path / "repo" / "index.xml").getroot()
    assert root.tag == "index" and root.get("version") == "1" and root.get("name") == "daw-diffusion"
    [package] = root.iter("reapack")
    assert package.get("type") == "script"
    [version] = package.iter("version")
    pyproject = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert version.get("name") == __version__ == pyproject[1]
    sources = {s.get("file"): s for s in version.iter("source")}
    assert sorted(sources) == sorted(scripts) == sorted(p.name for p in (ROOT / "reaper_scripts").glob("*.lua"))
    actions = sorted(name for name, s in sources.items() if s.get("main") == "main")
    assert actions == sorted(n for n in scripts if n.startswith("daw-diffusion - ")) and len(actions) == 12
    for name, source in sources.items():
        url = urllib.parse.urlsplit(source.text)
        if base == "file":  # each URL is the file ReaPack would fetch, as it is here
            assert (Path(urllib.parse.unquote(url.path))).read_bytes() == scripts[name].read_bytes()
        else:
            assert source.text == f"{base}/{urllib.parse.quote(name)}"


def test_an_action_script_without_its_description_header_stops_the_index(tmp_path):
    script = tmp_path / "daw-diffusion - Something.lua"
    script.write_text("-- no header\n")
    with pytest.raises(Exception, match="@description daw-diffusion: Something"):
        index({script.name: script}, "file:///x")
