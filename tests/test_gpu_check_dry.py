"""benchmarks/gpu_check.py runs without a GPU in its --dry-run mode (CPU, tiny sizes): the ONNX
Runtime check exports EdgeTAM's encoder and compares it with PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_dry_run():
    pytest.importorskip("transformers")
    pytest.importorskip("onnxruntime")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--only", "8"],
                       capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("[8]"))
    assert "EdgeTAM image encoder at 128" in line and "CPUExecutionProvider" in line
    diff = float(line.split("largest difference ")[1].split()[0])
    assert diff <= 1e-3
