"""Smoke check of a built bundle: the window starts offscreen and shows the sample shot's first
frame, and the bundled command line runs `--version`, `info`, `doctor` and the model server.

    python packaging/smoke.py [dist/roto-studio]

Standard library only, so any Python runs it. Exits 0 when every check passes, else 1 with
the failing step's output. packaging/build.py runs it after a build.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = ".exe" if os.name == "nt" else ""


def programs(app: Path) -> tuple[Path, Path]:
    """(window program, command-line program) of the bundle folder."""
    return app / f"roto-studio-gui{EXE}", app / f"roto-studio{EXE}"


def write_png(path: Path, width: int, height: int, value: int) -> None:
    """A flat 8-bit grey PNG, written with zlib (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes([value]) * width for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def smoke_env(home: Path) -> dict:
    """Offscreen Qt, and user folders (cache, data, settings) inside `home` so the check starts
    from nothing and leaves the user's own folders alone."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CACHE_HOME=str(home / "cache"),
               XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"))
    if os.name == "nt":
        env.update(LOCALAPPDATA=str(home / "local"), APPDATA=str(home / "roaming"))
    elif sys.platform == "darwin":
        env["HOME"] = str(home)
    for key in ("PYTHONPATH", "PYTHONHOME", "ROTO_WEIGHTS_DIR", "ROTO_PROJECTS_DIR"):
        env.pop(key, None)
    return env


def window_start(cmd: list[str], env: dict, timeout: float = 180) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds from launch to the first frame on screen: ROTO_SMOKE_EXIT makes the app print
    `roto-studio: frame N shown` then, and quit (status 0). The process is waited for too."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=dict(env, ROTO_SMOKE_EXIT="60"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    shown, lines = None, []
    watchdog = threading.Timer(timeout, proc.kill)  # a hung app fails the check instead of hanging it
    watchdog.start()
    for line in proc.stdout:  # a windowed program on Windows has no stdout: then only the status counts
        lines.append(line)
        if shown is None and " shown" in line:
            shown = time.perf_counter() - t0
    err = proc.stderr.read()
    proc.wait()
    watchdog.cancel()
    seconds = shown if shown is not None else time.perf_counter() - t0
    return seconds, subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), err)


def timed(cmd: list[str], env: dict, timeout: float = 300) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, out


def serve_check(cli: Path, env: dict, home: Path) -> tuple[float, bool, subprocess.CompletedProcess]:
    """Start the bundle's model server on a free loopback port, ask its /v1/status, stop it."""
    token = "smoke-" + os.urandom(16).hex()
    (home / "token").write_text(token + "\n")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", "0", "--token-file",
                             str(home / "token")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line, body = "", ""
    try:
        line = proc.stdout.readline()  # `roto-studio server listening on http://127.0.0.1:PORT`
        if "listening on" in line:
            request = urllib.request.Request(line.split()[-1] + "/v1/status",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=60) as resp:
                body = resp.read().decode()
    except OSError as exc:
        body = f"error: {exc}"
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    ok = body.lstrip().startswith("{")
    return seconds, ok, subprocess.CompletedProcess(proc.args, proc.returncode, line + body, err)


def check(name: str, ok: bool, out: subprocess.CompletedProcess, seconds: float) -> bool:
    print(f"{'ok  ' if ok else 'FAIL'} {name} ({seconds:.1f} s)", flush=True)
    if not ok:
        print(f"--- status {out.returncode}\n--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}")
    return ok


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    app = Path(argv[0] if argv else ROOT / "dist" / "roto-studio").resolve()
    gui, cli = programs(app)
    missing = [str(p) for p in (gui, cli) if not p.is_file()]
    if missing:
        print(f"smoke: {', '.join(missing)} not found; build the bundle first (python packaging/build.py).",
              file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="roto-smoke-") as tmp:
        home = Path(tmp)
        env = smoke_env(home)
        s, out = window_start([str(gui)], env)
        results.append(check("window opens the sample shot (roto-studio-gui)", out.returncode == 0, out, s))
        s, out = window_start([str(cli)], env)
        results.append(check("window from the command-line program (no arguments)",
                             out.returncode == 0 and "shown" in out.stdout, out, s))
        s, out = timed([str(cli), "--version"], env)
        results.append(check("roto-studio --version", out.returncode == 0 and "roto-studio" in out.stdout, out, s))
        shot = home / "shot"
        shot.mkdir()
        for frame in (1001, 1002, 1003):
            write_png(shot / f"plate.{frame}.png", 64, 36, frame - 1000)
        s, out = timed([str(cli), "info", str(shot / "plate.####.png"), "--json"], env)
        try:
            info = json.loads(out.stdout)
        except ValueError:
            info = {}
        results.append(check("roto-studio info (a PNG sequence)",
                             out.returncode == 0 and info.get("width") == 64 and info.get("frame_count") == 3
                             and info.get("first_frame") == 1001, out, s))
        sample = list((home / "cache").rglob("sample_shot.mp4")) if (home / "cache").exists() else []
        if sample:
            s, out = timed([str(cli), "info", str(sample[0])], env)
            results.append(check("roto-studio info (the sample shot the window made)",
                                 out.returncode == 0 and "640x360" in out.stdout, out, s))
        s, out = timed([str(cli), "doctor", "--json"], env)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            report = {"packages": {}}
        packages = report.get("packages", {})
        good = (out.returncode == 0 and report.get("bundle") is True
                and all(packages.get(m, {}).get("state") == "ok" for m in ("PySide6", "av", "OpenEXR", "numpy")))
        results.append(check("roto-studio doctor --json", good, out, s))
        if good:
            torch = packages.get("torch", {})
            print(f"     torch in the bundle: {torch.get('state')} {torch.get('version') or ''}; "
                  f"device {report['device'].get('device')}")
        s, ok, detail = serve_check(cli, env, home)
        results.append(check("roto-studio serve (the model server the window starts)", ok, detail, s))
        s, out = timed([str(cli), "doctor"], env)
        results.append(check("roto-studio doctor", out.returncode == 0 and "Folders" in out.stdout, out, s))
    print(f"smoke: {sum(results)}/{len(results)} checks passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
