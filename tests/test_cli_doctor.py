"""`roto-studio doctor`: the support screen, through the real command line."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def doctor(*args, env_extra=None, pythonpath_first=None):
    env = dict(os.environ, **(env_extra or {}))
    paths = [str(pythonpath_first)] if pythonpath_first else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [str(ROOT)] + [env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "roto_studio", "doctor", *args], capture_output=True,
                          text=True, env=env, timeout=180)


def test_json_report_versions_weights_and_folders(tmp_path):
    weights = tmp_path / "weights"
    (weights / "sam2.1-tiny").mkdir(parents=True)  # the registry's layout: <weights>/NAME/FILE
    (weights / "sam2.1-tiny" / "sam2.1_hiera_tiny.pt").write_bytes(b"not the real file")
    out = doctor("--json", env_extra={"ROTO_WEIGHTS_DIR": str(weights),
                                      "ROTO_PROJECTS_DIR": str(tmp_path / "projects"),
                                      "ROTO_WEIGHTS_OFFLINE": ""})
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    pk = r["packages"]
    assert pk["torch"]["state"] == "ok"
    assert pk["torch"]["version"].split("+")[0] == importlib.metadata.version("torch").split("+")[0]
    from PySide6 import QtCore

    assert pk["PySide6"]["qt"] == QtCore.qVersion()
    import av

    assert pk["av"]["ffmpeg"] == av.ffmpeg_version_info
    assert pk["OpenEXR"]["state"] == "ok" and pk["PyOpenColorIO"]["state"] == "ok"
    assert r["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert r["device"]["device"] in ("cpu", "cuda", "mps") and r["device"]["ram"]["total"] > 0
    models = {m["name"]: m for m in r["weights"]["models"]}
    assert models["sam2.1-tiny"]["state"] == "wrong size"
    assert models["sam2.1-large"]["state"] == "missing"
    assert r["weights"]["folder"] == str(weights)
    projects = r["folders"]["projects"]
    assert projects["path"] == str(tmp_path / "projects") and not projects["exists"]
    assert projects["writable"] and projects["free"] > 0
    assert "wrong size" in models["sam2.1-tiny"]["message"]
    assert models["sam2.1-tiny"]["message"] in r["problems"]  # names the file and the fix
    assert any("no SAM 2 weights" in p for p in r["problems"])


def test_text_screen(tmp_path):
    out = doctor("--no-check", env_extra={"ROTO_WEIGHTS_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    for line in ("Python", "torch", "Qt (PySide6)", "FFmpeg (PyAV)", "OpenEXR", "OCIO", "Device",
                 "Memory", f"Weights in {tmp_path}", "sam2.1-small", "Folders", "weights", "projects",
                 "cache", "Problems"):
        assert line in out.stdout, line


def test_broken_torch_and_missing_qt_are_reported_not_raised(tmp_path):
    fake = tmp_path / "site"
    for name, error in (("torch", "OSError('libcudart.so.13: cannot open shared object file')"),
                        ("PySide6", "ImportError('No module named PySide6')")):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(f"raise {error}\n")
    out = doctor("--json", "--no-check", env_extra={"ROTO_WEIGHTS_DIR": str(tmp_path / "w")},
                 pythonpath_first=fake)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["packages"]["torch"]["state"] == "broken"
    assert "libcudart" in r["packages"]["torch"]["detail"]
    assert r["packages"]["PySide6"]["state"] == "missing"
    assert r["device"]["device"] is None or r["device"]["device"] == "cpu"
    assert any(p.startswith("torch is broken") for p in r["problems"])
    assert any(p.startswith("Qt (PySide6) is missing") for p in r["problems"])


def test_cpu_runtime_line(tmp_path):
    cache = tmp_path / "exports"
    cache.mkdir()
    (cache / "edgetam-1024-abc.onnx").write_bytes(b"x")
    env = {"ROTO_WEIGHTS_DIR": str(tmp_path), "ROTO_CPU_RUNTIME": "onnx", "ROTO_CPU_RUNTIME_CACHE": str(cache)}
    out = doctor("--no-check", env_extra=env)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("CPU runtime"))
    assert "onnx (ROTO_CPU_RUNTIME" in line and f"1 cached export(s) in {cache}" in line
    bad = doctor("--json", "--no-check", env_extra={**env, "ROTO_CPU_RUNTIME": "tensorrt"})
    r = json.loads(bad.stdout)
    assert r["cpu_runtime"]["requested"] is None
    assert any("unknown ROTO_CPU_RUNTIME 'tensorrt'" in p for p in r["problems"])
