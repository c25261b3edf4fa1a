"""Build the PyInstaller bundle (dist/roto-studio/) from packaging/roto-studio.spec, then run the
smoke check (packaging/smoke.py) on it and print its size.

    python packaging/build.py [--no-smoke] [--clean]

Run it with the Python of the environment the app runs in (the bundle gets the torch, sam2,
cutie... installed there); PyInstaller comes with the `bundle` extra:
`pip install -e ".[bundle]"` (scripts/roto.py installs it with `--bundle`).
Build outputs go to build/pyinstaller/ and dist/ (both ignored by git).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-smoke", action="store_true", help="build only")
    parser.add_argument("--clean", action="store_true", help="drop PyInstaller's cache first")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("PyInstaller") is None:
        print("build.py: PyInstaller is not installed in this environment; run "
              "`python scripts/roto.py setup --bundle` (or `pip install pyinstaller`) and retry.",
              file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "PyInstaller", str(HERE / "roto-studio.spec"), "--noconfirm",
           "--distpath", str(DIST), "--workpath", str(WORK)]
    if args.clean:
        cmd.append("--clean")
    print("build.py:", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    status = subprocess.call(cmd, cwd=ROOT)
    if status:
        print(f"build.py: PyInstaller failed (status {status}); see its output above.", file=sys.stderr)
        return status
    app = DIST / "roto-studio"
    size = folder_size(app)
    print(f"build.py: built {app} in {time.monotonic() - t0:.0f} s, {size / 1e9:.2f} GB", flush=True)
    if args.no_smoke:
        return 0
    return subprocess.call([sys.executable, str(HERE / "smoke.py"), str(app)], env=dict(os.environ))


if __name__ == "__main__":
    raise SystemExit(main())
