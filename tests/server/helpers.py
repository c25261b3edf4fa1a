"""Start `roto-studio serve` as a real subprocess on 127.0.0.1 with a free port, for the tests."""

from __future__ import annotations

import os
import secrets
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Server:
    url: str
    token: str
    token_file: Path
    proc: subprocess.Popen
    log: Path

    def headers(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token if token is None else token}"}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(folder: Path, *args: str, env: dict | None = None, timeout: float = 180.0,
                 token: str | None = None) -> Server:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    token = token or secrets.token_urlsafe(24)
    token_file = folder / "server.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    log = folder / "server.log"
    full_env = {**os.environ, **(env or {})}
    root = Path(__file__).resolve().parents[2]
    full_env["PYTHONPATH"] = str(root) + os.pathsep + full_env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "roto_studio", "serve", "--port", "0", "--token-file", str(token_file), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "wb"), env=full_env, text=True)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    line = ""
    while time.monotonic() < end and proc.poll() is None:
        if sel.select(0.5):
            line = proc.stdout.readline()
            if "listening on" in line:
                break
    sel.close()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
    return Server(line.strip().split()[-1], token, token_file, proc, log)


def write_plate(folder: Path, frames: int = 8, w: int = 80, h: int = 64, first: int = 1001) -> str:
    """plate.####.png: a red square moving right over a noisy background; returns the pattern."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    bg = rng.integers(20, 70, (h, w, 3)).astype(np.uint8)
    for i in range(frames):
        img = bg.copy()
        x = 8 + 3 * i
        img[20:44, x:x + 24] = (40, 60, 220)
        cv2.imwrite(str(folder / f"plate.{first + i:04d}.png"), img)
    return str(folder / "plate.####.png")


def mask_files(project_folder: Path) -> dict[str, bytes]:
    masks = Path(project_folder) / "masks"
    return {str(p.relative_to(masks)): p.read_bytes() for p in sorted(masks.rglob("*.png"))}
