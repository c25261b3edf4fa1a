"""requirements.lock covers every dependency pyproject.toml names, at a version pyproject allows,
for every supported Python and platform; and `scripts/roto.py setup` installs through it by
default, and the newest releases only with --latest. A dependency added to pyproject without
re-running scripts/lock.py fails here."""

import importlib.util
import re
import sys
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


lock_script = _load("lock")
roto = _load("roto")
ENVS = [dict(python_version=f"3.{minor}", python_full_version=f"3.{minor}.0", sys_platform=plat,
             platform_system=system, os_name=osn, implementation_name="cpython",
             platform_machine=machine, platform_python_implementation="CPython", extra="")
        for minor in (10, 11, 12, 13)
        for plat, system, osn, machine in (("linux", "Linux", "posix", "x86_64"),
                                           ("darwin", "Darwin", "posix", "arm64"),
                                           ("win32", "Windows", "nt", "AMD64"))]


def locked(text: str) -> list[tuple[str, Version, Marker | None]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spec, _, marker = line.partition(";")
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", spec.strip())
        assert m, f"not an exact pin: {line!r}"
        rows.append((m[1].lower().replace("_", "-"), Version(m[2]),
                     Marker(marker.strip()) if marker.strip() else None))
    return rows


def uncovered(pyproject: Path, lock_text: str) -> list[str]:
    """Requirements of pyproject that some supported environment would install unpinned, or
    pinned at a version the requirement does not allow."""
    rows = locked(lock_text)
    problems = []
    for raw in lock_script.requirements(pyproject) + lock_script.SAM2_NEEDS:
        req = Requirement(raw)
        name = req.name.lower().replace("_", "-")
        for env in ENVS:
            if req.marker and not req.marker.evaluate(env):
                continue
            pins = [v for n, v, mk in rows if n == name and (mk is None or mk.evaluate(env))]
            if not pins:
                problems.append(f"{raw} is not in the lock for Python {env['python_version']} "
                                f"on {env['sys_platform']}")
                break
            if not req.specifier.contains(pins[0], prereleases=True):
                problems.append(f"{raw}: the lock has {pins[0]}")
                break
    return problems


def test_the_lock_covers_every_dependency_of_pyproject():
    assert uncovered(ROOT / "pyproject.toml", (ROOT / "requirements.lock").read_text()) == []


def test_a_dependency_missing_from_the_lock_is_caught(tmp_path):
    text = (ROOT / "pyproject.toml").read_text()
    broken = tmp_path / "pyproject.toml"
    broken.write_text(text.replace('"numpy>=1.24",', '"numpy>=1.24",\n    "left-pad-for-python>=1",'))
    assert any("left-pad-for-python" in p for p in uncovered(broken, (ROOT / "requirements.lock").read_text()))
    stale = re.sub(r"(?m)^scipy==.*$", "", (ROOT / "requirements.lock").read_text())
    assert any(p.startswith("scipy") for p in uncovered(ROOT / "pyproject.toml", stale))
    too_old = re.sub(r"(?m)^(opencv-python-headless)==\S+", r"\1==4.1.0.25",
                     (ROOT / "requirements.lock").read_text())
    assert any("opencv-python-headless" in p for p in uncovered(ROOT / "pyproject.toml", too_old))


def test_setup_installs_through_the_lock_unless_asked_for_the_newest():
    extras = ["server", "test"]
    default = roto.install_args(extras, latest=False)
    assert default[-2:] == ["--constraint", str(ROOT / "requirements.lock")]
    newest = roto.install_args(extras, latest=True)
    assert "--upgrade" in newest and str(ROOT / "requirements.lock") not in newest
    assert roto.stamp_value(extras) != roto.stamp_value(extras, latest=True)


def test_torch_and_its_cuda_libraries_are_left_to_roto_py():
    names = {n for n, _, _ in locked((ROOT / "requirements.lock").read_text())}
    assert not {n for n in names if lock_script.TORCH_PARTS.match(n)}
    assert "sam2" not in names and "roto-studio" not in names
