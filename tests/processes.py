"""What the tests run beside them: the CLI's path, free ports, the system peers they need (a
missing one fails the run, never skips it) and a real engine process."""

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("daw-diffusion"))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(tool: str) -> str:
    """An independent peer the tests need: missing means a broken CI, not a skip."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (.ci/run installs it); these tests need the real program")
    return path


def start_engine(checkpoint: Path, endpoint: str | None = None) -> tuple[subprocess.Popen, str]:
    """A real `daw-diffusion engine` process, once it answers: (process, endpoint)."""
    from engine.client import EngineClient

    endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([CLI, "engine", "--bind", endpoint, "--checkpoint", str(checkpoint)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not EngineClient(endpoint).pinged(0.5):
        assert proc.poll() is None and time.monotonic() < deadline, "the engine did not start"
    return proc, endpoint


def models(folder: Path, *args: str) -> tuple[int, dict]:
    """`daw-diffusion models --models-dir FOLDER ARGS`: (exit code, its JSON line)."""
    done = subprocess.run([CLI, "models", "--models-dir", str(folder), *args], capture_output=True, text=True,
                          timeout=120)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def files(folder: Path) -> dict[str, bytes]:
    """Every file in `folder` and its bytes (empty when there is no folder): to show nothing changed."""
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}
