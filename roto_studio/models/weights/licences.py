"""Model licences: whether Auto may pick a model, and which licences the user has accepted.

Auto picks only models whose licence permits commercial use (registry `commercial=True`) unless
the user allowed others: env ROTO_ALLOW_NONCOMMERCIAL=1, the CLI's `--allow-noncommercial`, or the
window's setting (`set_allow_noncommercial`). A model the user names explicitly is never refused
here. Models with `commercial=False` download only after their licence is accepted: `accept(NAME)`
(the CLI's `models download NAME --accept-licence`, the window's model manager) records it in
`licences.json` in the user's config folder (env ROTO_CONFIG_DIR, else platformdirs'), a JSON
object {NAME: {"licence": ..., "accepted": ISO time}}. No Qt, no torch.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from roto_studio.core.errors import ModelError
from roto_studio.models.weights import registry

ALLOW_ENV = "ROTO_ALLOW_NONCOMMERCIAL"
CONFIG_ENV = "ROTO_CONFIG_DIR"
FILE = "licences.json"

_allow: bool | None = None  # set by the CLI flag or the window's setting; None = the env decides
_lock = threading.Lock()


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("roto-studio", appauthor=False))


def licences_file() -> Path:
    return config_dir() / FILE


def set_allow_noncommercial(allow: bool | None) -> None:
    """Let Auto pick models whose licence forbids commercial use (None: back to the env's say)."""
    global _allow
    _allow = allow


def allow_noncommercial() -> bool:
    if _allow is not None:
        return _allow
    return os.environ.get(ALLOW_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def auto_may_use(name: str) -> bool:
    """Whether Auto may pick registry model NAME (its licence permits commercial use, or the user
    allowed non-commercial models)."""
    spec = next((s for s in registry.all_specs() if s.name == name), None)
    return spec is None or spec.commercial or allow_noncommercial()  # unknown: its lookup says so later


def use_line(spec: registry.WeightSpec) -> str:
    """'commercial use: yes' / 'no (...)' for lists and reports."""
    return "yes" if spec.commercial else "no (non-commercial licence)"


def skipped_line(names) -> str:
    """Why Auto left out models NAMES (one line, with the way to allow them)."""
    names = list(names)
    specs = [registry.get(n) for n in names]
    what = ", ".join(f"{s.name} ({s.licence or 'licence unknown'})" for s in specs)
    return (f"not picked automatically: {what} does not permit commercial use; set {ALLOW_ENV}=1 "
            "(or --allow-noncommercial) to let Auto use it")


def _read() -> dict:
    try:
        data = json.loads(licences_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def accepted(name: str) -> bool:
    """Whether the user accepted NAME's licence (always True for licences that permit commercial
    use: they need no acceptance here)."""
    spec = registry.get(name)
    if spec.commercial:
        return True
    entry = _read().get(spec.name)
    return isinstance(entry, dict) and entry.get("licence") == spec.licence


def accept(name: str) -> Path:
    """Record that the user accepted NAME's licence; returns the file it was written to."""
    spec = registry.get(name)
    path = licences_file()
    with _lock:
        data = _read()
        data[spec.name] = {"licence": spec.licence, "accepted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise ModelError(f"cannot record the licence acceptance in {path} ({exc.strerror or exc}); "
                             f"set {CONFIG_ENV} to a writable folder.") from None
    return path


def revoke(name: str) -> None:
    spec = registry.get(name)
    with _lock:
        data = _read()
        if data.pop(spec.name, None) is not None:
            licences_file().write_text(json.dumps(data, indent=1), encoding="utf-8")


def require_accepted(name: str) -> None:
    """A ModelError (one line) when NAME's licence must be accepted before it is downloaded."""
    spec = registry.get(name)
    if accepted(name):
        return
    where = f" ({spec.licence_url})" if spec.licence_url else ""
    raise ModelError(f"{spec.name} is under {spec.licence or 'a licence'}{where}, which does not permit "
                     f"commercial use; read it, then run `roto-studio models download {spec.name} "
                     "--accept-licence` to accept it and download.")
