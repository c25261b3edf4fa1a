"""`roto-studio doctor [--json] [--no-check]`: one screen with what a support request needs.

Versions (Python, torch and its CUDA, Qt, FFmpeg via PyAV, OpenEXR, OCIO, the model packages),
the device the models would run on and its memory, the CPU runtime for the image encoders
(ROTO_CPU_RUNTIME; ONNX Runtime / OpenVINO installed; cached exports), the weights present and their state, the
folders Roto Studio writes to (writable? free space?) and a list of problems with their fix.
Nothing is changed: a missing or broken package (torch, Qt...) is reported, never raised.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from roto_studio import __version__

HELP = "Show versions, device and memory, weights and writable folders (for support requests)."
LOW_SPACE = 2 * 2**30  # bytes; less free space than this is a problem

# (label, import name, distribution name)
PACKAGES = [
    ("torch", "torch", "torch"),
    ("torchvision", "torchvision", "torchvision"),
    ("Qt (PySide6)", "PySide6", "PySide6-Essentials"),
    ("FFmpeg (PyAV)", "av", "av"),
    ("OpenEXR", "OpenEXR", "OpenEXR"),
    ("OCIO", "PyOpenColorIO", "opencolorio"),
    ("numpy", "numpy", "numpy"),
    ("OpenCV", "cv2", "opencv-python-headless"),
    ("sam2", "sam2", "sam2"),
    ("Cutie", "cutie", "rf-cutie"),
    ("transformers", "transformers", "transformers"),
]
# imported to read their versions (the others: metadata only, so the command stays quick)
IMPORTED = {"torch", "PySide6", "av", "OpenEXR", "PyOpenColorIO"}


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (attach it to a bug report)")
    parser.add_argument("--no-check", action="store_true",
                        help="do not hash weight files (faster; their state shows as 'present')")


def _package(module: str, dist: str) -> dict:
    if importlib.util.find_spec(module) is None:
        return {"state": "missing", "version": None}
    version = None
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    if module not in IMPORTED and version:
        return {"state": "ok", "version": version}
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return {"state": "missing", "version": version, "detail": str(exc).splitlines()[0]}
    except Exception as exc:  # noqa: BLE001 - e.g. torch's CUDA libraries failing to load
        return {"state": "broken", "version": version, "detail": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    out = {"state": "ok", "version": getattr(mod, "__version__", None) or version}
    if module == "torch":
        out["cuda"] = mod.version.cuda  # None for CPU and MPS builds
        cudnn = mod.backends.cudnn.version() if mod.version.cuda else None  # e.g. 92400
        out["cudnn"] = f"{cudnn // 10000}.{cudnn // 100 % 100}.{cudnn % 100}" if cudnn else None
    elif module == "PySide6":
        from PySide6 import QtCore

        out["qt"] = QtCore.qVersion()
    elif module == "av":
        out["ffmpeg"] = getattr(mod, "ffmpeg_version_info", None)
    return out


def _ram() -> dict:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total": vm.total, "available": vm.available}
    except ImportError:
        pass
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return {"total": page * os.sysconf("SC_PHYS_PAGES"), "available": page * os.sysconf("SC_AVPHYS_PAGES")}
    except (AttributeError, ValueError, OSError):
        return {"total": None, "available": None}


def _device(torch_ok: bool) -> dict:
    from roto_studio.models.device import choose_device

    gpus: list[dict[str, Any]] = []
    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "ram": _ram(), "gpus": gpus}
    try:
        choice = choose_device()
        out.update(device=choice.device, dtype=choice.dtype, reason=choice.reason)
    except Exception as exc:  # noqa: BLE001 - a bad ROTO_DEVICE is worth reporting, not a crash
        out.update(device=None, dtype=None, reason=str(exc))
    if not torch_ok:
        return out
    import torch

    try:
        for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            props = torch.cuda.get_device_properties(i)
            free, total = torch.cuda.mem_get_info(i)
            gpus.append({"index": i, "name": props.name, "memory_total": total, "memory_free": free,
                         "capability": f"{props.major}.{props.minor}"})
    except Exception as exc:  # noqa: BLE001 - driver trouble: say so
        out["gpu_error"] = str(exc).splitlines()[0]
    return out


def _cpu_runtime() -> dict:
    """What runs the image encoders on the CPU (models.cpu.runtime): asked for, installed, cached."""
    from roto_studio.models.cpu import runtime as cpu_runtime

    out: dict[str, Any] = {"requested": None, "error": None, "installed": {}, "cache": None, "exports": 0}
    try:
        out["requested"] = cpu_runtime.requested()
    except Exception as exc:  # noqa: BLE001 - a bad ROTO_CPU_RUNTIME is a problem to list
        out["error"] = str(exc)
    try:
        out["installed"] = cpu_runtime.installed()
        root = cpu_runtime.cache_root()
        out["cache"] = str(root)
        out["exports"] = len(list(root.glob("*.onnx"))) if root.is_dir() else 0
    except Exception as exc:  # noqa: BLE001
        out["error"] = out["error"] or str(exc)
    return out


def _weights(check: bool) -> dict:
    from roto_studio.models.weights import licences
    from roto_studio.models.weights import registry
    from roto_studio.models.weights import store as weights

    rows = []
    for s in registry.SPECS:
        try:
            st = weights.status(s.name, check=check)  # reads only: nothing is set aside here
            rows.append({"name": s.name, "kind": s.kind, "state": st.state, "usable": st.usable,
                         "path": str(st.path) if st.path else None, "size": st.size,
                         "licence": s.licence, "commercial": s.commercial,
                         "auto": licences.auto_may_use(s.name), "licence_accepted": licences.accepted(s.name),
                         "message": weights.message(st) if st.state != "missing" else None})
        except Exception as exc:  # noqa: BLE001 - never let one model stop the report
            rows.append({"name": s.name, "kind": s.kind, "state": "error", "usable": False, "path": None,
                         "size": None, "licence": s.licence, "commercial": s.commercial, "auto": False,
                         "licence_accepted": False, "message": f"{s.name}: {type(exc).__name__}: {exc}"})
    return {"folder": str(weights.weights_dir()), "offline": [str(p) for p in weights.offline_folders()],
            "allow_noncommercial": licences.allow_noncommercial(), "models": rows}


def _folder(path: Path) -> dict:
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    out = {"path": str(path), "exists": path.is_dir(), "writable": False, "free": None}
    try:
        with tempfile.TemporaryFile(dir=existing):
            out["writable"] = True
    except OSError:
        pass
    try:
        out["free"] = shutil.disk_usage(existing).free
    except OSError:
        pass
    return out


def _folders() -> dict:
    from roto_studio.core.paths import cache_dir, projects_dir
    from roto_studio.models.weights.store import weights_dir

    return {"weights": _folder(weights_dir()), "projects": _folder(projects_dir()),
            "cache": _folder(cache_dir()), "temp": _folder(Path(tempfile.gettempdir()))}


def _problems(report: dict) -> list[str]:
    out = []
    pk = report["packages"]
    if pk["torch"]["state"] != "ok":
        out.append(f"torch is {pk['torch']['state']}: only the CPU fallback works; "
                   "run `python scripts/roto.py setup` (or install torch) to use SAM 2, Cutie and ViTMatte.")
    if pk["PySide6"]["state"] != "ok":
        out.append(f"Qt (PySide6) is {pk['PySide6']['state']}: the window cannot open (the command line works); "
                   "install PySide6-Essentials.")
    for name in ("av", "OpenEXR"):
        if pk[name]["state"] != "ok":
            out.append(f"{name} is {pk[name]['state']}: media cannot be read or exported; reinstall Roto Studio.")
    if report["cpu_runtime"]["error"]:
        out.append(report["cpu_runtime"]["error"])
    models = report["weights"]["models"]
    if not any(m["kind"] == "sam2" and (m["usable"] or m["state"] == "present") for m in models):
        out.append("no SAM 2 weights: clicks use the CPU fallback; `roto-studio models download sam2.1-small`.")
    out += [m["message"] for m in models if m["state"] in ("wrong size", "bad hash", "unreadable", "error")]
    for key, f in report["folders"].items():
        if not f["writable"]:
            out.append(f"the {key} folder {f['path']} is not writable; choose another (see README).")
        elif f["free"] is not None and f["free"] < LOW_SPACE:
            out.append(f"only {_size(f['free'])} free for the {key} folder {f['path']}.")
    if report["device"].get("gpu_error"):
        out.append(f"GPU error: {report['device']['gpu_error']}")
    return out


def collect(check: bool = True) -> dict:
    packages = {module: _package(module, dist) for _, module, dist in PACKAGES}
    report = {
        "roto_studio": __version__,
        "bundle": bool(getattr(sys, "frozen", False)),
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "platform": platform.platform(),
        "packages": packages,
        "device": _device(packages["torch"]["state"] == "ok"),
        "cpu_runtime": _cpu_runtime(),
        "weights": _weights(check),
        "folders": _folders(),
    }
    report["problems"] = _problems(report)
    return report


def _size(n) -> str:
    if n is None:
        return "?"
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _package_line(label: str, module: str, p: dict) -> str:
    if p["state"] != "ok":
        return f"{label:<14}{p['state']}" + (f" ({p['detail']})" if p.get("detail") else "")
    text = p["version"] or "?"
    if module == "torch":
        text += f", CUDA {p['cuda']} build" if p.get("cuda") else ", no CUDA in this build"
        text += f", cuDNN {p['cudnn']}" if p.get("cudnn") else ""
    elif module == "PySide6":
        text += f", Qt {p.get('qt')}"
    elif module == "av":
        text = f"{p.get('ffmpeg') or '?'} (PyAV {p['version']})"
    return f"{label:<14}{text}"


def render(r: dict) -> str:
    lines = [f"Roto Studio {r['roto_studio']} ({'bundle' if r['bundle'] else 'Python install'})",
             f"{'Python':<14}{r['python']['version']} ({r['python']['executable']})",
             f"{'Platform':<14}{r['platform']}"]
    lines += [_package_line(label, module, r["packages"][module]) for label, module, _ in PACKAGES]
    d = r["device"]
    lines += ["", f"{'Device':<14}{d['device'] or '-'} ({d['dtype'] or '-'}): {d['reason']}",
              f"{'Memory':<14}RAM {_size(d['ram']['total'])}, {_size(d['ram']['available'])} available; "
              f"{d['cpu_count']} CPUs"]
    for g in d["gpus"]:
        lines.append(f"{'GPU ' + str(g['index']):<14}{g['name']}: {_size(g['memory_total'])}, "
                     f"{_size(g['memory_free'])} free, compute {g['capability']}")
    c = r["cpu_runtime"]
    have = c["installed"]
    found = ", ".join(f"{name} {have[key]}" for key, name in (("onnx", "ONNX Runtime"), ("openvino", "OpenVINO"))
                      if have.get(key)) or "PyTorch only (install the cpu-runtime extra for ONNX Runtime)"
    lines.append(f"{'CPU runtime':<14}{c['requested'] or 'invalid'} (ROTO_CPU_RUNTIME; {found}); "
                 f"{c['exports']} cached export(s) in {c['cache']}")
    w = r["weights"]
    lines += ["", f"Weights in {w['folder']}" + (f" (offline: {', '.join(w['offline'])})" if w["offline"] else "")]
    for m in w["models"]:
        where = f"  {m['path']}" if m["path"] else ""
        size = _size(m["size"]) if m["path"] else ""
        use = "commercial use" if m["commercial"] else (
            "NON-COMMERCIAL" + ("" if m["auto"] else ", not auto-picked"))
        lines.append(f"  {m['name']:<20}{m['state']:<14}{size:>10}  {m['licence'] or '?'} ({use}){where}".rstrip())
    lines += ["", "Folders"]
    for key, f in r["folders"].items():
        state = "writable" if f["writable"] else "NOT writable"
        state += "" if f["exists"] else " (made on first use)"
        lines.append(f"  {key:<10}{_size(f['free']) + ' free':<14}{state:<32}{f['path']}")
    lines += ["", "Problems" if r["problems"] else "No problems found."]
    lines += [f"  - {p}" for p in r["problems"]]
    return "\n".join(lines)


def run(args) -> int:
    report = collect(check=not args.no_check)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
