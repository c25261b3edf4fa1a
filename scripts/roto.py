"""The two commands on every platform (Windows, macOS, Linux), Python 3.10+ standard library only:

    python scripts/roto.py run [FILE]          set up the environment, then open Roto Studio
    python scripts/roto.py test [PYTEST ARGS]  set up the environment, then run the test suite
    python scripts/roto.py setup [--bundle] [--latest]
                                               only set up (--bundle adds PyInstaller; --latest
                                               takes the newest releases instead of the lock)
    python scripts/roto.py torch               print the torch build this machine would get

Setup creates a virtual environment (`.venv` beside this repository, or $ROTO_VENV) and installs,
in this order: torch + torchvision (the build chosen for this machine, see `choose_torch`; a torch
already in the environment is kept), `sam2==1.1.0` without build isolation (it compiles against
that torch; its CUDA extension only with SAM2_BUILD_CUDA=1), then this package with every backend
and the test tools, at the exact versions in requirements.lock (pip constraints; `setup --latest`
resolves the newest releases instead and says so). A stamp in the environment makes a rerun
instant while pyproject.toml, the lock and this script are unchanged; `run` and `test` keep the
mode the last `setup` chose. scripts/setup.sh, run.sh and test.sh call this file.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
TORCH = "2.14.1"
TORCHVISION = "0.29.1"
EXTRAS = ["sam2", "cutie", "matting", "edgetam", "cpu-runtime", "inpaint", "server", "ray", "farm", "pipeline",
          "test"]
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
# CUDA builds of torch 2.14 (PyTorch's release matrix: 12.6 legacy, 13.0, 13.2), newest first.
# A driver runs any build of its CUDA major version up to the version it reports (minor-version
# compatibility), so pick the newest build not above the driver's CUDA version.
CUDA_BUILDS = [((13, 2), "cu132"), ((13, 0), "cu130"), ((12, 6), "cu126"), ((12, 0), "cu126")]


# ---------------------------------------------------------------- choosing torch

@dataclass
class Probe:
    """What the choice depends on; `probe_machine()` fills it, tests build it by hand."""

    system: str  # platform.system(): Linux, Darwin, Windows
    machine: str  # platform.machine(): x86_64, AMD64, arm64, aarch64
    cuda: tuple[int, int] | None = None  # highest CUDA version the NVIDIA driver supports
    driver: str | None = None  # NVIDIA driver version, for the message
    env: dict = field(default_factory=dict)  # ROTO_TORCH, ROTO_TORCHVISION, ROTO_TORCH_INDEX


@dataclass
class TorchChoice:
    packages: list[str]  # pip requirements: torch==..., torchvision==...
    index: str | None  # PyTorch index URL, or None for the default index (PyPI)
    reason: str
    fallback: bool = True  # if that index cannot be reached, use the default index

    def describe(self) -> str:
        where = self.index or "the default index (PyPI)"
        return f"{' '.join(self.packages)} from {where}: {self.reason}"


def parse_nvidia_smi(text: str) -> tuple[tuple[int, int] | None, str | None]:
    """(CUDA version, driver version) from the header `nvidia-smi` prints."""
    cuda = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", text)
    driver = re.search(r"Driver Version:\s*([\d.]+)", text)
    return ((int(cuda[1]), int(cuda[2])) if cuda else None), (driver[1] if driver else None)


def probe_machine() -> Probe:
    probe = Probe(platform.system(), platform.machine(),
                  env={k: v for k, v in os.environ.items() if k.startswith("ROTO_TORCH")})
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        probe.cuda, probe.driver = parse_nvidia_smi(out)
    return probe


def _index_url(value: str) -> str | None:
    if value.lower() in ("", "default", "pypi"):
        return None
    return value if "://" in value else PYTORCH_INDEX + value  # "cu126" -> the PyTorch index


def choose_torch(probe: Probe) -> TorchChoice:
    """The torch build for this machine: NVIDIA driver -> the CUDA build it supports; Apple
    Silicon -> the default build (MPS); anything else -> the CPU build. ROTO_TORCH /
    ROTO_TORCHVISION pick versions, ROTO_TORCH_INDEX an index (URL, `cu126`, `cpu`, `default`)."""
    version = probe.env.get("ROTO_TORCH") or TORCH
    vision = probe.env.get("ROTO_TORCHVISION") or (TORCHVISION if version == TORCH else "")
    packages = [f"torch=={version}", f"torchvision=={vision}" if vision else "torchvision"]
    if "ROTO_TORCH_INDEX" in probe.env:
        index = _index_url(probe.env["ROTO_TORCH_INDEX"])
        return TorchChoice(packages, index, "set by ROTO_TORCH_INDEX", fallback=False)
    if probe.cuda is not None:
        driver = f"NVIDIA driver {probe.driver or '?'} supports CUDA {probe.cuda[0]}.{probe.cuda[1]}"
        for (major, minor), tag in CUDA_BUILDS:
            if probe.cuda[0] == major and probe.cuda >= (major, minor):
                return TorchChoice(packages, PYTORCH_INDEX + tag, f"{driver} -> the {tag} build")
        if probe.cuda > CUDA_BUILDS[0][0]:
            tag = CUDA_BUILDS[0][1]
            return TorchChoice(packages, PYTORCH_INDEX + tag, f"{driver} -> the {tag} build")
        return TorchChoice(packages, PYTORCH_INDEX + "cpu",
                           f"{driver}, older than any CUDA build of torch {version} (12.x or "
                           f"newer needed): the CPU build; update the driver to use the GPU")
    if probe.system == "Darwin":
        kind = "Apple Silicon: the default build (uses the GPU through MPS)" \
            if probe.machine == "arm64" else ("Intel Mac: the default index (PyTorch publishes no "
                                              "Intel-Mac builds after torch 2.2; if pip finds none, "
                                              "install a torch yourself into the environment)")
        return TorchChoice(packages, None, kind)
    return TorchChoice(packages, PYTORCH_INDEX + "cpu", "no NVIDIA driver found: the CPU build")


def reachable(url: str, timeout: float = 15) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout):
            return True
    except Exception:  # noqa: BLE001 - DNS, proxy, TLS, HTTP errors all mean "not usable"
        return False


# ---------------------------------------------------------------- the environment

def venv_dir() -> Path:
    return Path(os.environ.get("ROTO_VENV") or ROOT / ".venv").absolute()


def venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def say(message: str) -> None:
    print(f"roto: {message}", flush=True)


def fail(message: str, status: int = 2) -> None:
    print(f"roto: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def stamp_value(extras: list[str], latest: bool = False) -> str:
    digest = hashlib.sha1()
    for path in (ROOT / "pyproject.toml", Path(__file__).resolve(), LOCK):
        digest.update(path.read_bytes() if path.exists() else b"")
    digest.update(",".join(extras).encode())
    return ("latest-" if latest else "lock-") + digest.hexdigest()[:12]


def install_args(extras: list[str], latest: bool, keep: Path | None = None) -> list[str]:
    """pip arguments for the app and its extras: through the lock, or the newest releases.
    keep: a constraints file holding the installed torch, so --latest never replaces that build."""
    args = ["install", "-e", f"{ROOT}[{','.join(extras)}]"]
    if latest:
        return args + ["--upgrade", "--upgrade-strategy", "eager"] + \
            (["--constraint", str(keep)] if keep else [])
    if not LOCK.exists():
        fail(f"{LOCK.name} is missing beside pyproject.toml; restore it (git checkout "
             f"{LOCK.name}) or run `setup --latest` for the newest releases.")
    return args + ["--constraint", str(LOCK)]


def has(python: Path, modules: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {modules}"], capture_output=True).returncode == 0


def torch_version(python: Path) -> str | None:
    """The torch (and torchvision) in the environment, e.g. '2.14.1+cu126', or None."""
    out = subprocess.run([str(python), "-c", "import torch, torchvision; print(torch.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def pip(python: Path, *args: str, env: dict | None = None) -> None:
    cmd = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    status = subprocess.call(cmd, env=env)
    if status:
        fail(f"`pip {' '.join(args)}` failed (status {status}); see pip's message above.", status)


def install_torch(python: Path, choice: TorchChoice) -> None:
    say(f"torch: {choice.describe()}")
    if choice.index and choice.fallback and not reachable(choice.index):
        say(f"{choice.index} cannot be reached; installing torch from the default index instead")
        choice = TorchChoice(choice.packages, None, "fallback")
    args = ["install", *choice.packages] + (["--index-url", choice.index] if choice.index else [])
    if choice.index and choice.fallback:
        status = subprocess.call([str(python), "-m", "pip", "--disable-pip-version-check", *args])
        if status == 0:
            return
        say(f"installing from {choice.index} failed; trying the default index")
        args = ["install", *choice.packages]
    pip(python, *args)


def setup(extras: list[str] = EXTRAS, latest: bool | None = None) -> Path:
    """Create and fill the environment; returns its Python. Instant when already up to date.
    latest: True = newest releases, False = the lock, None = as the last setup chose (else the lock)."""
    if sys.version_info < (3, 10):
        fail(f"Python 3.10 or newer is needed (this is {platform.python_version()}); "
             f"run this script with a newer python.")
    venv = venv_dir()
    python = venv_python(venv)
    stamp = venv / ".roto-installed"
    have = stamp.read_text().strip() if python.exists() and stamp.exists() else ""
    if latest is None:
        if have in (stamp_value(extras), stamp_value(extras, latest=True)):
            return python
        latest = False
    want = stamp_value(extras, latest)
    if have == want:
        return python
    if not python.exists():
        say(f"creating the environment {venv}")
        if subprocess.call([sys.executable, "-m", "venv", str(venv)]):
            fail("could not create the virtual environment; on Debian/Ubuntu install python3-venv, "
                 "or set ROTO_VENV to a folder you can write to.")
    say("installing the newest releases (--latest), not the versions in requirements.lock" if latest
        else f"installing the versions in {LOCK.name}")
    pip(python, "install", "-q", "--upgrade", "pip", "setuptools", "wheel")
    # 1. torch first: a torch already in the environment (e.g. your own CUDA build) is kept.
    kept = torch_version(python)
    if kept:
        say(f"torch: kept {kept}, already in the environment")
    else:
        install_torch(python, choose_torch(probe_machine()))
    # 2. sam2 builds from source; without isolation it compiles against the torch above.
    if not has(python, "sam2"):
        env = dict(os.environ, SAM2_BUILD_CUDA=os.environ.get("SAM2_BUILD_CUDA", "0"))
        lock = [] if latest or not LOCK.exists() else ["--constraint", str(LOCK)]
        pip(python, "install", "--no-build-isolation", "sam2==1.1.0", *lock, env=env)
    # 3. the app, every backend and the test tools.
    keep = None
    if latest:
        # the distributions' versions, as pip knows them (torch.__version__ may add "+cu130"
        # where the wheel's metadata has none, and pip would then find no torch to keep)
        out = subprocess.run([str(python), "-c", "from importlib.metadata import version as v; "
                              "print(v('torch'), v('torchvision'))"],
                             capture_output=True, text=True)
        if out.returncode == 0 and len(out.stdout.split()) == 2:
            keep = venv / ".roto-keep-torch.txt"
            t, tv = out.stdout.split()
            keep.write_text(f"torch=={t}\ntorchvision=={tv}\n")
    pip(python, *install_args(extras, latest, keep))
    stamp.write_text(want + "\n")
    return python


def run_in_env(cmd: list[str], env: dict | None = None) -> int:
    sys.stdout.flush()
    if os.name != "nt":
        os.execve(cmd[0], cmd, env or dict(os.environ))  # POSIX: become the app (signals, status)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "setup":
        setup(EXTRAS + ["bundle"] if "--bundle" in rest else EXTRAS, latest="--latest" in rest)
        return 0
    if command == "run":
        python = setup()
        return run_in_env([str(python), "-m", "roto_studio", *rest])
    if command == "test":
        python = setup()
        env = dict(os.environ)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.chdir(ROOT)
        return run_in_env([str(python), "-m", "pytest", *rest], env=env)
    if command == "torch":
        print(choose_torch(probe_machine()).describe())
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 0 if command in ("-h", "--help", "help") else 2


if __name__ == "__main__":
    raise SystemExit(main())
