"""A faster CPU runtime for the image encoders: exported to ONNX once, run by ONNX Runtime.

On the CPU most of a tracked frame is the image encoder (EdgeTAM's RepViT + FPN, SAM 2.1's Hiera +
FPN). `accelerate(model)` exports that part of a model (models.cpu.export knows the
families) to ONNX, cached per weights hash, image size and versions in the user cache folder, and
from then on runs it with ONNX Runtime (or OpenVINO, which reads the same file) in place of
PyTorch's: the rest of the model (memory attention, mask decoder) stays in PyTorch.

ROTO_CPU_RUNTIME picks: `auto` (default) measures both once per export on a random image and
keeps ONNX Runtime only when it is faster and its outputs equal PyTorch's within 1e-3 (models
under MIN_AUTO_SIZE px stay on PyTorch: there the export costs more than it saves); `torch`,
`onnx` or `openvino` force one (an absent runtime is a ModelError). Installed by the optional
`cpu-runtime` extra (onnxruntime, onnx). No Qt.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from roto_studio.core.errors import ModelError

RUNTIMES = ("auto", "torch", "onnx", "openvino")
MIN_AUTO_SIZE = 512
TOLERANCE = 1e-3
FORMAT = 2  # bump when the exported graph changes (2: EdgeTAM's backbone reparameterised first)


@dataclass
class RuntimeChoice:
    runtime: str  # 'torch', 'onnx' or 'openvino': what runs the image encoder
    reason: str
    timings: dict = field(default_factory=dict)  # {'torch': s, 'onnx': s} from the check, if any

    def describe(self) -> str:
        return f"{self.runtime} ({self.reason})"


def requested() -> str:
    want = (os.environ.get("ROTO_CPU_RUNTIME") or "auto").strip().lower()
    if want not in RUNTIMES:
        raise ModelError(f"unknown ROTO_CPU_RUNTIME {want!r}; use auto, torch, onnx or openvino.")
    return want


def installed() -> dict[str, str | None]:
    """{'onnx': onnxruntime version or None, 'openvino': version or None}."""
    out: dict[str, str | None] = {}
    for key, module in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        try:
            out[key] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - absent or broken: not usable
            out[key] = None
    try:
        __import__("onnx")
    except Exception:  # noqa: BLE001 - the exporter needs the onnx package too
        out = {k: None for k in out}
    return out


def cache_root() -> Path:
    env = os.environ.get("ROTO_CPU_RUNTIME_CACHE")
    if env:
        return Path(env)
    from roto_studio.core.paths import cache_dir

    return cache_dir() / "cpu-runtime"


def file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_hash(model, weights_path=None) -> str:
    """The weights file's sha256 where there is one, else a hash of the parameters (random weights)."""
    if weights_path and os.path.isfile(weights_path):
        return file_hash(weights_path)
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


class OnnxEncoder:
    """An exported encoder run by ONNX Runtime (CPU, or CUDA where asked and installed) or OpenVINO."""

    def __init__(self, path: Path, runtime: str = "onnx", providers=None, threads: int | None = None):
        self.path = Path(path)
        self.runtime = runtime
        threads = threads or _threads()
        if runtime == "openvino":
            import openvino as ov

            core = ov.Core()
            self._compiled = core.compile_model(str(self.path), "CPU", {"INFERENCE_NUM_THREADS": threads})
            self._session = None
        else:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(self.path), opts,
                                                 providers=list(providers or ["CPUExecutionProvider"]))
            self._input = self._session.get_inputs()[0].name

    def __call__(self, pixel_values):
        import numpy as np
        import torch

        x = pixel_values.detach().to("cpu", torch.float32).contiguous().numpy()
        if self._session is not None:
            outs = self._session.run(None, {self._input: x})
        else:
            res = self._compiled(x)
            outs = [res[o] for o in self._compiled.outputs]
        return [torch.from_numpy(np.ascontiguousarray(o)) for o in outs]


def export_path(family: str, model, image_size: int, weights_path=None) -> Path:
    import torch

    key = json.dumps([FORMAT, family, weights_hash(model, weights_path), int(image_size), torch.__version__])
    return cache_root() / f"{family}-{image_size}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.onnx"


def export(module, image_size: int, path: Path) -> Path:
    """torch.onnx.export of `module` (one 1x3xSxS input) to `path`, written atomically."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    x = torch.zeros(1, 3, image_size, image_size)
    with torch.no_grad():
        torch.onnx.export(module, (x,), str(tmp), input_names=["pixel_values"], opset_version=17,
                          dynamo=False, do_constant_folding=True)
    os.replace(tmp, path)
    return path


def compare(module, encoder: OnnxEncoder, image_size: int, repeats: int = 2) -> dict:
    """Both on one random image: max abs difference and the best time of each (same run)."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, image_size, image_size, generator=g)
    t_torch, t_onnx = [], []
    with torch.inference_mode():
        for _ in range(repeats):
            t = time.perf_counter()
            ref = module(x)
            t_torch.append(time.perf_counter() - t)
    for _ in range(repeats):
        t = time.perf_counter()
        got = encoder(x)
        t_onnx.append(time.perf_counter() - t)
    diff = max(float((a.float() - b.float()).abs().max()) for a, b in zip(ref, got))
    return {"max_diff": diff, "torch_s": min(t_torch), "onnx_s": min(t_onnx)}


def accelerate(model, family: str, module, image_size: int, install, weights_path=None,
               device: str = "cpu", runtime: str | None = None, for_export=None) -> RuntimeChoice:
    """Route `model`'s image encoder through ONNX Runtime where asked or where it pays.

    module: the torch encoder as PyTorch runs it (one input, a tuple of tensors out: the
    reference the check compares with); for_export(module) -> the module to export (e.g. a copy
    with its branches folded), default the module itself;
    install(encoder): puts the exported encoder in place of the torch one on `model`."""
    want = runtime or requested()
    if str(device).split(":")[0] != "cpu":
        return RuntimeChoice("torch", f"the models run on {device}")
    if want == "torch":
        return RuntimeChoice("torch", "ROTO_CPU_RUNTIME=torch")
    have = installed()
    rt = "openvino" if want == "openvino" else "onnx"
    if have.get(rt) is None:
        if want == "auto":
            return RuntimeChoice("torch", "onnxruntime is not installed (extra cpu-runtime)")
        name = "openvino" if rt == "openvino" else "onnxruntime"
        raise ModelError(f"ROTO_CPU_RUNTIME={want} needs {name} and onnx; install the cpu-runtime extra "
                         "(pip install 'roto-studio[cpu-runtime]') or set ROTO_CPU_RUNTIME=torch.")
    if want == "auto" and image_size < MIN_AUTO_SIZE:
        return RuntimeChoice("torch", f"model input {image_size} px: the export would not pay")
    path = export_path(family, model, image_size, weights_path)
    if not path.exists():
        export(for_export(module) if for_export else module, image_size, path)
    encoder = OnnxEncoder(path, rt)
    verdict = path.with_suffix(f".{rt}.t{_threads()}.json")
    if want == "auto":
        if verdict.exists():
            check = json.loads(verdict.read_text())
        else:
            check = compare(module, encoder, image_size)
            verdict.write_text(json.dumps(check))
        if check["max_diff"] > TOLERANCE:
            return RuntimeChoice("torch", f"ONNX Runtime differs by {check['max_diff']:.1e}", check)
        if check["onnx_s"] >= check["torch_s"]:
            return RuntimeChoice("torch", f"ONNX Runtime not faster ({check['onnx_s']:.2f} s vs "
                                          f"{check['torch_s']:.2f} s)", check)
        install(encoder)
        return RuntimeChoice(rt, f"faster: {check['onnx_s']:.2f} s vs PyTorch {check['torch_s']:.2f} s per image", check)
    install(encoder)
    return RuntimeChoice(rt, f"ROTO_CPU_RUNTIME={want}")
