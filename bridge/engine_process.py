"""`serve`'s engine: a child process it starts, watches (restarted when it dies or hangs) and
stops, with a pid file per endpoint so that a later `serve` can replace a stale engine of its own."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bridge import render
from bridge.jobs import JobError
from bridge.live import realtime_permitted
from engine.cores import LIVE_NICE, live_threads

log = logging.getLogger("daw-diffusion")


def engine_command(args: argparse.Namespace) -> list[str]:
    """The engine `serve` starts. Beside live audio it runs below it in priority, and leaves it a
    core unless the stream's thread may run in real time, so that the model never keeps the
    stream's callback waiting."""
    command = [sys.executable, "-m", "bridge.cli", "engine", "--bind", args.engine, "--device", args.device]
    threads = args.threads or (live_threads(realtime_permitted()) if args.live else None)
    command += ["--threads", str(threads)] if threads else []
    command += ["--nice", str(LIVE_NICE)] if args.live else []
    command += ["--model", str(args.model)] if args.model else []
    return command + (["--models-dir", str(args.models_dir)] if args.models_dir else [])


def die_with_parent(parent: int) -> None:
    """Run in the engine's process before it starts: on Linux it gets SIGTERM when `serve`
    dies, even by SIGKILL (elsewhere `serve` replaces a stale engine of its own at its next start)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # serve died before the line above
            os.kill(os.getpid(), signal.SIGTERM)


def command_of(pid: int) -> str:
    """The command line of process `pid` ("" if there is none): /proc where there is one, else `ps`."""
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.parent.is_dir():
        try:
            return " ".join(part.decode(errors="replace") for part in proc.read_bytes().split(b"\0") if part)
        except OSError:
            return ""
    done = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


class EngineProcess:
    """The engine as a child process in a session of its own (a terminal's Ctrl-C reaches only
    `serve`, which stops it), restarted if it dies or hangs (no answer to pings for
    `--engine-hang-timeout` seconds: its socket loop never waits on the model, so a busy engine
    still answers) while the bridge runs, dying with `serve`.
    Its pid is kept in a file per endpoint, so a later `serve` can tell a stale engine of its own
    (and replace it) from someone else's."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.command, self.client = engine_command(args), render.engine_client(args)
        self.start_timeout, self.stopping, self.restarts = args.engine_start_timeout, threading.Event(), 0
        self.hang_timeout = args.engine_hang_timeout
        digest = hashlib.sha1(self.client.endpoint.encode()).hexdigest()[:12]
        self.pid_file = Path(tempfile.gettempdir()) / f"daw-diffusion-engine-{digest}.pid"
        self.lock = threading.Lock()  # a restart and `stop` never cross
        self.start()
        threading.Thread(target=self.watch, daemon=True).start()

    def start(self) -> None:
        if self.client.pinged(0.5) and not self.replace_stale():
            raise JobError("port_in_use", f"an engine already answers at {self.client.endpoint}; "
                                          "use `daw-diffusion bridge` to put a bridge in front of it")
        with self.lock:
            if self.stopping.is_set():
                return
            parent = os.getpid()
            self.proc = proc = subprocess.Popen(self.command, start_new_session=True,
                                                preexec_fn=lambda: die_with_parent(parent))
            self.pid_file.write_text(f"{proc.pid}\n")  # known at once, so that `stop` reaches it
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise JobError("failed", f"the engine exited with code {proc.returncode} while starting (see above)")
            if self.client.pinged(1.0):
                return
        proc.terminate()
        raise JobError("unreachable", f"the engine did not answer within {self.start_timeout:g} s")

    def replace_stale(self) -> bool:
        """Stop the engine an earlier `serve` left at this endpoint; False if the one there is not ours."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return False
        if command_of(pid) != " ".join(self.command):
            return False  # that pid is some other program's now
        log.warning("stopping a stale engine (pid %d) an earlier serve left at %s", pid, self.client.endpoint)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while command_of(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if command_of(pid):
            os.kill(pid, signal.SIGKILL)
        return True

    def watch(self) -> None:
        silent_since: float | None = None
        while not self.stopping.wait(1.0):
            if self.proc.poll() is None:
                if self.client.pinged(min(2.0, self.hang_timeout)):
                    silent_since = None
                    continue
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since < self.hang_timeout or self.stopping.is_set():
                    continue
                log.error("the engine has not answered for %.0f s: it hangs; killing it", self.hang_timeout)
                with self.lock:
                    self.proc.kill()
                    self.proc.wait()
                silent_since = None
            if not self.stopping.is_set():
                self.restarts += 1
                log.error("the engine exited (code %s); restarting it (%d)", self.proc.returncode, self.restarts)
                try:
                    self.start()
                except JobError as exc:
                    log.error("%s", exc)
                    if self.restarts >= 5:
                        return

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
            proc = self.proc
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        self.pid_file.unlink(missing_ok=True)
