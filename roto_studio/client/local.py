"""A model server as a child process on 127.0.0.1 (what the window uses by default).

LocalServer starts `roto-studio serve --port 0` with a fresh random token (in a private 0600
file), reads the URL it prints, and can tell whether the child is alive, restart it and stop it.
The child watches its parent (env ROTO_SERVER_PARENT) and quits when the parent is gone, so a
crashed window never leaves a server behind. No Qt, no torch.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from roto_studio.client.http import ServerClient, ServerUnavailable


def roto_studio_command(python: str | None = None) -> list[str]:
    """How to run `roto-studio` as a child: `python -m roto_studio`, or in a PyInstaller bundle
    (where sys.executable is the bundle's own program) the command-line program beside it."""
    if python is None and getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("roto-studio" + (".exe" if os.name == "nt" else "")))]
    return [python or sys.executable, "-m", "roto_studio"]


class LocalServer:
    def __init__(self, media_roots=(), device: str | None = None, env: dict | None = None,
                 python: str | None = None, extra_args=()):
        self.media_roots = [str(r) for r in media_roots if r and os.path.isdir(r)]
        self.device = device
        self.env = dict(env or {})
        self.python = python
        self.extra_args = list(extra_args)
        self.url: str | None = None
        self.token: str | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._folder = Path(tempfile.mkdtemp(prefix="roto-local-server-"))
        os.chmod(self._folder, 0o700)
        self.log = self._folder / "server.log"
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 180.0) -> str:
        """Start the child (a fresh token each time) and wait until it listens; returns its URL."""
        with self._lock:
            self._stop_locked()
            self.token = secrets.token_urlsafe(32)
            token_file = self._folder / "token"
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.token + "\n")
            cmd = roto_studio_command(self.python) + ["serve", "--host", "127.0.0.1", "--port", "0",
                                                      "--token-file", str(token_file)]
            for root in self.media_roots:
                cmd += ["--media-root", root]
            if self.device:
                cmd += ["--device", self.device]
            cmd += self.extra_args
            env = {**os.environ, **self.env}
            env.pop("ROTO_SERVER_TOKEN", None)
            env["ROTO_SERVER_PARENT"] = str(os.getpid())
            # leave the window room to paint: a lower priority, and one core fewer for the CPU models
            env.setdefault("ROTO_SERVER_NICE", "10")
            cores = os.cpu_count() or 1
            if cores > 1:
                env.setdefault("OMP_NUM_THREADS", str(cores - 1))
            root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            log = open(self.log, "ab")
            try:
                self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                             env=env, text=True)
            finally:
                log.close()
            self.starts += 1
            line = self._first_line(self.proc, timeout)
            if "listening on" not in line:
                self._stop_locked()
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] if self.log.exists() else []
                raise ServerUnavailable("the local model server did not start"
                                        + (f": {tail[0][:200]}" if tail else "") + f" (log: {self.log}).")
            self.url = line.strip().split()[-1]
            return self.url

    @staticmethod
    def _first_line(proc: subprocess.Popen, timeout: float) -> str:
        out: list[str] = []
        stdout = proc.stdout
        assert stdout is not None  # started with stdout=PIPE
        reader = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
        reader.start()
        end = time.monotonic() + timeout
        while reader.is_alive() and time.monotonic() < end and proc.poll() is None:
            reader.join(0.1)
        return out[0] if out else ""

    def client(self, timeout: float = 300.0) -> ServerClient:
        if self.url is None or self.token is None:
            raise ServerUnavailable("the local model server is not started.")
        return ServerClient(self.url, self.token, timeout=timeout)

    def _stop_locked(self, wait: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        self.url = None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)
