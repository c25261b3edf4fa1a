"""Writes requirements.lock: the exact versions `scripts/roto.py setup` installs, resolved for
Linux, macOS and Windows on every supported Python (uv's universal resolution, so the file carries
environment markers). Run it after changing a dependency in pyproject.toml:

    pip install uv && python scripts/lock.py            # re-resolve everything (newest releases)
    python scripts/lock.py --upgrade-package opencv-python-headless

torch and torchvision (and their CUDA libraries) are left out: scripts/roto.py installs the build
that fits the machine, and a torch the user installed is kept. sam2 is left out too (installed
from source by pinned version, without build isolation); its own requirements are in the lock.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
sys.path.insert(0, str(ROOT / "scripts"))
import roto  # noqa: E402 - the pins of torch/torchvision live there

# Installed by scripts/roto.py itself, never through the lock.
OWN_PINS = {"torch", "torchvision", "sam2"}
# Come with torch's build for the machine (CUDA or not): never constrained by the lock.
TORCH_PARTS = re.compile(r"^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)$")
# sam2 1.1.0's own requirements besides torch (its setup.py), so the lock covers them too.
SAM2_NEEDS = ["tqdm>=4.66.1", "hydra-core>=1.3.2", "iopath>=0.1.10", "pillow>=9.4.0", "numpy>=1.24.4"]


HEADER = """\
# The exact versions `python scripts/roto.py setup` installs (as pip constraints), for Linux, macOS
# and Windows on Python 3.10+. Made by `python scripts/lock.py`; do not edit by hand.
# torch/torchvision (the build for the machine) and sam2 are pinned in scripts/roto.py instead.
"""


def name_of(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Every requirement of the package and all its extras, less what roto.py pins itself."""
    meta = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    return [r for r in reqs if name_of(r) not in OWN_PINS and name_of(r) != "roto-studio"]


def main(argv: list[str]) -> int:
    uv = shutil.which("uv")
    if not uv:
        print("lock: uv is needed (pip install uv)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "requirements.in"
        src.write_text("\n".join(requirements() + SAM2_NEEDS) + "\n", encoding="utf-8")
        pins = Path(tmp) / "torch.txt"
        pins.write_text(f"torch=={roto.TORCH}\ntorchvision=={roto.TORCHVISION}\n", encoding="utf-8")
        out = Path(tmp) / "lock.txt"
        cmd = [uv, "pip", "compile", str(src), "--universal", "--python-version", "3.10",
               "--constraint", str(pins), "--no-header", "--no-annotate", "--quiet",
               "--index-url", "https://pypi.org/simple", "-o", str(out)]
        if LOCK.exists():  # keep what is locked unless asked to move (uv reads the old output)
            shutil.copy(LOCK, out)
        status = subprocess.call(cmd + argv)
        if status:
            return status
        lines = [ln for ln in out.read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#") and not TORCH_PARTS.match(name_of(ln))]
    LOCK.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"lock: wrote {LOCK.name} ({len(lines)} packages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
