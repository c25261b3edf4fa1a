"""scripts/roto.py picks the torch build for the machine: the detection is faked here (an
NVIDIA driver of a given CUDA version, Apple Silicon, none, overrides), since this machine has
none of them; the last test runs the real command on this machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "roto.py"
spec = importlib.util.spec_from_file_location("roto_setup_script", SCRIPT)
roto = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = roto  # its dataclasses look their module up
spec.loader.exec_module(roto)

NVIDIA_SMI = """\
Mon Nov 30 08:00:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
"""
PYTORCH = "https://download.pytorch.org/whl/"


def linux(cuda=None, driver=None, **env):
    return roto.Probe("Linux", "x86_64", cuda=cuda, driver=driver, env=env)


def test_nvidia_smi_header_gives_cuda_and_driver_version():
    assert roto.parse_nvidia_smi(NVIDIA_SMI) == ((12, 4), "550.54.14")
    assert roto.parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate") == (None, None)


@pytest.mark.parametrize("cuda, tag", [
    ((13, 2), "cu132"), ((13, 5), "cu132"), ((14, 0), "cu132"),
    ((13, 0), "cu130"), ((13, 1), "cu130"),
    ((12, 9), "cu126"), ((12, 6), "cu126"), ((12, 4), "cu126"), ((12, 0), "cu126"),
])
def test_nvidia_driver_gets_the_cuda_build_it_supports(cuda, tag):
    choice = roto.choose_torch(linux(cuda, "580.1"))
    assert choice.index == PYTORCH + tag
    assert choice.packages == [f"torch=={roto.TORCH}", f"torchvision=={roto.TORCHVISION}"]
    assert f"CUDA {cuda[0]}.{cuda[1]}" in choice.describe() and tag in choice.describe()


def test_windows_with_an_nvidia_driver_gets_the_cuda_build_too():
    choice = roto.choose_torch(roto.Probe("Windows", "AMD64", cuda=(13, 0), driver="581.0"))
    assert choice.index == PYTORCH + "cu130"


def test_a_driver_too_old_for_any_cuda_build_falls_back_to_cpu_and_says_so():
    choice = roto.choose_torch(linux((11, 8), "520.61"))
    assert choice.index == PYTORCH + "cpu"
    assert "update the driver" in choice.reason


def test_apple_silicon_gets_the_default_build_for_mps():
    choice = roto.choose_torch(roto.Probe("Darwin", "arm64"))
    assert choice.index is None
    assert "MPS" in choice.reason
    assert "default index" in choice.describe()


@pytest.mark.parametrize("system, machine", [("Linux", "x86_64"), ("Windows", "AMD64"), ("Linux", "aarch64")])
def test_no_gpu_gets_the_cpu_build_with_a_fallback_to_the_default_index(system, machine):
    choice = roto.choose_torch(roto.Probe(system, machine))
    assert choice.index == PYTORCH + "cpu"
    assert choice.fallback  # PyTorch's index unreachable (as here): the default index instead
    assert "no NVIDIA driver" in choice.reason


def test_overrides_pick_index_and_version():
    choice = roto.choose_torch(linux((13, 2), ROTO_TORCH_INDEX="cu126"))
    assert (choice.index, choice.fallback) == (PYTORCH + "cu126", False)
    assert "ROTO_TORCH_INDEX" in choice.describe()
    url = "https://mirror.example/torch/simple"
    assert roto.choose_torch(linux(ROTO_TORCH_INDEX=url)).index == url
    assert roto.choose_torch(linux(ROTO_TORCH_INDEX="default")).index is None
    other = roto.choose_torch(linux(ROTO_TORCH="2.13.0"))
    assert other.packages == ["torch==2.13.0", "torchvision"]  # pip finds the matching torchvision
    both = roto.choose_torch(linux(ROTO_TORCH="2.13.0", ROTO_TORCHVISION="0.28.0"))
    assert both.packages == ["torch==2.13.0", "torchvision==0.28.0"]


def test_the_command_prints_the_choice_for_this_machine():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTO_TORCH")}
    out = subprocess.run([sys.executable, str(SCRIPT), "torch"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"torch=={roto.TORCH}" in out.stdout
    expected = roto.choose_torch(roto.probe_machine())
    assert out.stdout.strip() == expected.describe()
    forced = subprocess.run([sys.executable, str(SCRIPT), "torch"], capture_output=True, text=True,
                            env=dict(env, ROTO_TORCH_INDEX="cu130"), timeout=60)
    assert forced.stdout.strip().endswith("cu130: set by ROTO_TORCH_INDEX")


def test_unknown_command_is_a_usage_error():
    out = subprocess.run([sys.executable, str(SCRIPT), "frobnicate"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "roto.py run" in out.stderr and "roto.py test" in out.stderr
