"""Which device and dtype the models run on, and the per-thread torch contexts.

torch is imported inside functions only, so importing this module stays cheap.

ROTO_DEVICE overrides the choice: auto (default), cpu, cuda, cuda:N or mps.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from roto_studio.core.errors import ModelError


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # 'cuda', 'cuda:1', 'mps' or 'cpu'
    dtype: str  # 'bfloat16', 'float16' or 'float32' (what autocast uses)
    reason: str

    @property
    def kind(self) -> str:
        return self.device.split(":")[0]

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


class DeviceOutOfMemory(ModelError):
    """The device ran out of memory; `retry` lists what may work: 'smaller', 'cpu'."""

    def __init__(self, message: str, device: str = "cuda", retry: tuple[str, ...] = ("smaller", "cpu")):
        super().__init__(message)
        self.device = device
        self.retry = tuple(retry)


def _cuda_dtype(torch, index: int) -> str:
    try:
        ok = torch.cuda.is_bf16_supported()
    except Exception:  # old drivers / builds
        ok = False
    if ok:
        major, _ = torch.cuda.get_device_capability(index)
        ok = major >= 8  # emulated bf16 on older cards is slow
    return "bfloat16" if ok else "float16"


def choose_device(prefer: str | None = None) -> DeviceChoice:
    """CUDA if present, else MPS, else CPU, with the dtype that suits it.

    `prefer` (or env ROTO_DEVICE) forces one; asking for a device that is absent is a ModelError.
    """
    want = (prefer or os.environ.get("ROTO_DEVICE") or "auto").strip().lower()
    if want == "cpu":
        return DeviceChoice("cpu", "float32", "CPU requested")
    try:
        import torch
    except ImportError:
        if want not in ("auto", ""):
            raise ModelError(f"device {want!r} needs PyTorch, which is not installed; install torch or use ROTO_DEVICE=cpu.")
        return DeviceChoice("cpu", "float32", "PyTorch is not installed")
    if want.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"device {want!r} was requested but no CUDA GPU is available; unset ROTO_DEVICE or use cpu.")
        index = int(want.split(":")[1]) if ":" in want else 0
        if index >= torch.cuda.device_count():
            raise ModelError(f"device {want!r} does not exist ({torch.cuda.device_count()} GPU(s)); choose cuda:0.")
        return DeviceChoice(f"cuda:{index}" if ":" in want else "cuda", _cuda_dtype(torch, index), "CUDA requested")
    if want == "mps":
        if not _mps_available(torch):
            raise ModelError("device 'mps' was requested but Metal is not available; unset ROTO_DEVICE or use cpu.")
        return DeviceChoice("mps", "float32", "Apple GPU requested")
    if want not in ("auto", ""):
        raise ModelError(f"unknown device {want!r} in ROTO_DEVICE; use auto, cpu, cuda, cuda:N or mps.")
    if torch.cuda.is_available():
        return DeviceChoice("cuda", _cuda_dtype(torch, 0), f"CUDA GPU {torch.cuda.get_device_name(0)}")
    if _mps_available(torch):
        return DeviceChoice("mps", "float32", "Apple GPU (Metal)")
    return DeviceChoice("cpu", "float32", "no GPU found")


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def cpu() -> DeviceChoice:
    return DeviceChoice("cpu", "float32", "CPU fallback")


@contextlib.contextmanager
def inference_context(choice: DeviceChoice | None):
    """torch inference mode (+ autocast on CUDA) for the calling thread; no-op without torch."""
    if choice is None:
        yield
        return
    import torch

    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if choice.kind == "cuda" and choice.dtype != "float32":
            stack.enter_context(torch.autocast("cuda", dtype=choice.torch_dtype()))
        yield


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA / MPS out-of-memory errors (torch raises several shapes of them)."""
    if isinstance(exc, DeviceOutOfMemory):
        return True
    import sys

    torch = sys.modules.get("torch")  # only torch errors can be device OOM
    if torch is not None:
        oom = getattr(torch.cuda, "OutOfMemoryError", None)
        if oom is not None and isinstance(exc, oom):
            return True
        aoom = getattr(torch, "OutOfMemoryError", None)
        if aoom is not None and isinstance(exc, aoom):
            return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text and ("cuda" in text or "mps" in text or "hip" in text)
    return False


def out_of_memory_error(exc: BaseException, device: str, can_shrink: bool = True) -> DeviceOutOfMemory:
    """The user-facing error for an OOM, with the retry options that apply."""
    if isinstance(exc, DeviceOutOfMemory):
        return exc
    retry = (("smaller",) if can_shrink else ()) + (("cpu",) if not device.startswith("cpu") else ())
    how = " or ".join({"smaller": "retry at a smaller model size", "cpu": "retry on the CPU"}[r] for r in retry)
    tail = f"; {how}, or close other programs using the GPU." if how else "; close other programs or use a smaller range."
    return DeviceOutOfMemory(f"the {device} device ran out of memory{tail}", device, retry)


def free_memory(device: str | None = None) -> None:
    """Give cached device memory back (after an OOM or when models are dropped)."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and _mps_available(torch) and hasattr(mps, "empty_cache"):
        mps.empty_cache()
