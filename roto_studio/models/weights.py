"""Model weights: where they live, download (huggingface_hub), sha256 checks, loading.

The weights folder is env ROTO_WEIGHTS_DIR, else platformdirs' user data folder
(`.../roto-studio/weights`). Offline folders (env ROTO_WEIGHTS_OFFLINE, several joined with the
path separator, or `set_offline_folders`) are searched too: copy the files there by hand on a
machine without internet. Files are checked against their sha256 before first use; a file that
fails is renamed aside (`NAME.bad`) in our own folder and never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models import registry

DISK_MARGIN = 256 * 2**20  # free space kept beyond the file itself
SIDECAR = ".sha256"  # `FILE.sha256` next to a download: the hub's checksum, when the registry has none
_VERIFIED = "verified.json"  # cache of (path, size, mtime) -> sha256 so big files are hashed once

_offline_extra: list[Path] = []
_lock = threading.Lock()


@dataclass
class WeightStatus:
    name: str
    state: str  # 'ok' | 'missing' | 'bad checksum' | 'unverified' (no checksum known) | 'wrong size'
    path: Path | None
    size: int | None  # bytes expected (registry) or found

    @property
    def usable(self) -> bool:
        return self.state in ("ok", "unverified")


def fix_command(name: str) -> str:
    return f"roto-studio models download {name}"


def weights_dir() -> Path:
    env = os.environ.get("ROTO_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("roto-studio", appauthor=False)) / "weights"


def set_offline_folders(folders) -> None:
    """Extra offline folders (e.g. from the app settings), searched after ROTO_WEIGHTS_OFFLINE."""
    _offline_extra[:] = [Path(f).expanduser() for f in (folders or []) if f]


def offline_folders() -> list[Path]:
    env = os.environ.get("ROTO_WEIGHTS_OFFLINE", "")
    out = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return out + [p for p in _offline_extra if p not in out]


def spec(name: str) -> registry.WeightSpec:
    return registry.get(name)


def _candidates(s: registry.WeightSpec) -> list[Path]:
    own = weights_dir()
    paths = [own / s.filename, own / s.name / s.filename]
    for folder in offline_folders():
        paths += [folder / s.filename, folder / s.name / s.filename, folder / s.repo_id.split("/")[-1] / s.filename]
    return paths


def _is_own(path: Path) -> bool:
    try:
        path.resolve().relative_to(weights_dir().resolve())
        return True
    except ValueError:
        return False


def sha256_file(path: Path, progress: Callable[[int, int], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(4 * 2**20)
            if not chunk:
                break
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
            if cancel and cancel():
                raise Cancelled(f"checking {path.name} was cancelled.")
    return h.hexdigest()


def expected_sha256(s: registry.WeightSpec, path: Path) -> str | None:
    if s.sha256:
        return s.sha256.lower()
    side = path.with_name(path.name + SIDECAR)
    try:
        text = side.read_text().strip().lower()
    except OSError:
        return None
    return text if _is_hex64(text) else None


def _is_hex64(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _cache_file() -> Path:
    return weights_dir() / _VERIFIED


def _cached_hash(path: Path) -> str | None:
    try:
        st = path.stat()
        data = json.loads(_cache_file().read_text())
        entry = data.get(str(path.resolve()))
        if entry and entry["size"] == st.st_size and entry["mtime_ns"] == st.st_mtime_ns:
            return entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _remember_hash(path: Path, digest: str) -> None:
    with _lock:
        try:
            data = json.loads(_cache_file().read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        st = path.stat()
        data[str(path.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        try:
            _cache_file().parent.mkdir(parents=True, exist_ok=True)
            tmp = _cache_file().with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, _cache_file())
        except OSError:
            pass  # a read-only weights folder only costs re-hashing next time


def _check(s: registry.WeightSpec, path: Path, use_cache: bool = True) -> str:
    """State of one file: 'ok', 'unverified', 'wrong size' or 'bad checksum'."""
    size = path.stat().st_size
    if s.size and size != s.size:
        return "wrong size"
    want = expected_sha256(s, path)
    if want is None:
        return "unverified"
    got = _cached_hash(path) if use_cache else None
    if got is None:
        got = sha256_file(path)
        _remember_hash(path, got)
    return "ok" if got == want else "bad checksum"


def _set_aside(path: Path) -> Path | None:
    """Rename a failing file in our folder to NAME.bad (never delete a user's data silently)."""
    if not _is_own(path):
        return None
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
        return bad
    except OSError:
        return None


def status(name: str, check: bool = True) -> WeightStatus:
    """Where NAME is and whether it passes its checks (check=False: existence only)."""
    s = spec(name)
    first_bad: WeightStatus | None = None
    for path in _candidates(s):
        if not path.is_file():
            continue
        if not check:
            return WeightStatus(name, "present", path, path.stat().st_size)
        state = _check(s, path)
        if state in ("ok", "unverified"):
            return WeightStatus(name, state, path, path.stat().st_size)
        first_bad = first_bad or WeightStatus(name, state, path, path.stat().st_size)
    return first_bad or WeightStatus(name, "missing", None, s.size)


def find(name: str) -> Path | None:
    """A usable file for NAME (checked), or None. Files failing their checksum are set aside."""
    s = spec(name)
    for path in _candidates(s):
        if not path.is_file():
            continue
        state = _check(s, path)
        if state in ("ok", "unverified"):
            return path
        _set_aside(path)
    return None


def require(name: str) -> Path:
    """The checked file for NAME, or a ModelError naming the command that fixes it."""
    path = find(name)
    if path is None:
        raise ModelError(f"the {name} weights are missing; run `{fix_command(name)}` "
                         "(or point ROTO_WEIGHTS_OFFLINE at a folder holding them).")
    return path


def verify(name: str) -> WeightStatus:
    """Re-hash the file(s) of NAME now, ignoring the cache; a failing file in our folder is set aside."""
    s = spec(name)
    found: WeightStatus | None = None
    for path in _candidates(s):
        if not path.is_file():
            continue
        state = _check(s, path, use_cache=False)
        st = WeightStatus(name, state, path, path.stat().st_size)
        if state in ("ok", "unverified"):
            return st
        bad = _set_aside(path)
        if bad is not None:
            st.path = bad
        found = found or st
    return found or WeightStatus(name, "missing", None, s.size)


def check_disk_space(folder: Path, size: int | None, margin: int = DISK_MARGIN) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    need = (size or 0) + margin
    if free < need:
        raise ModelError(f"not enough disk space in {folder}: {_mb(need)} needed, {_mb(free)} free; "
                         "free some space or set ROTO_WEIGHTS_DIR to another disk.")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


class _Stop(Exception):
    """Raised inside the download loop to cancel it."""


def _progress_class(progress, cancel):
    from tqdm.auto import tqdm

    class Progress(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # we report through the callback, not the terminal
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            self._total = kwargs.get("total")

        def update(self, n=1):
            if cancel is not None and cancel():
                raise _Stop()
            self._done += int(n or 0)
            if progress is not None:
                progress(self._done, int(self._total or 0))
            return super().update(n)

    return Progress


def download(name: str, progress: Callable[[int, int], None] | None = None,
             cancel: Callable[[], bool] | None = None, force: bool = False) -> Path:
    """Download NAME (pinned revision) into the weights folder, check it, return its path.

    progress(done_bytes, total_bytes); cancel() -> True stops between chunks (Cancelled is raised,
    no partial or final file is left). The hub address comes from env HF_ENDPOINT at call time.
    """
    s = spec(name)
    if not force:
        found = find(name)
        if found is not None:
            return found
    folder = weights_dir()
    check_disk_space(folder, s.size)
    staging = folder / f".download-{s.name}-{os.getpid()}-{threading.get_ident()}"
    try:
        path = _fetch(s, staging, progress, cancel)
        digest = sha256_file(path, cancel=cancel)
        want = s.sha256.lower() if s.sha256 else _hub_sha256(staging, s.filename)
        if want is not None and digest != want:
            bad = folder / (s.filename + ".bad")
            os.replace(path, bad)
            raise ModelError(f"the downloaded {name} weights fail their checksum (kept aside as {bad.name}); "
                             f"run `{fix_command(name)}` again.")
        if s.size and path.stat().st_size != s.size:
            raise ModelError(f"the downloaded {name} weights have the wrong size; run `{fix_command(name)}` again.")
        for extra in s.extra_files:
            src = staging / extra
            dst = folder / s.name / extra
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        final = folder / s.filename
        if not s.sha256:
            final.with_name(final.name + SIDECAR).write_text(digest + "\n")
        os.replace(path, final)
        _remember_hash(final, digest)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(s: registry.WeightSpec, staging: Path, progress, cancel) -> Path:
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub import errors as hf_errors
    except ImportError:
        raise ModelError("downloading needs the huggingface_hub package; pip install huggingface_hub.") from None
    endpoint = os.environ.get("HF_ENDPOINT") or None
    tqdm_class = _progress_class(progress, cancel)
    path = None
    try:
        for filename in (s.filename, *s.extra_files):
            p = hf_hub_download(s.repo_id, filename, revision=s.revision, local_dir=staging,
                                endpoint=endpoint, tqdm_class=tqdm_class)
            if filename == s.filename:
                path = Path(p)
    except _Stop:
        raise Cancelled(f"download of {s.name} cancelled; nothing was kept.") from None
    except hf_errors.OfflineModeIsEnabled:
        raise ModelError(f"HF_HUB_OFFLINE is set, so {s.name} cannot be downloaded; copy the file into "
                         "a folder and point ROTO_WEIGHTS_OFFLINE at it.") from None
    except hf_errors.LocalEntryNotFoundError:
        raise ModelError(f"cannot reach the model hub to download {s.name}; check the internet connection, "
                         "or copy the file into a folder and point ROTO_WEIGHTS_OFFLINE at it.") from None
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError,
            hf_errors.EntryNotFoundError) as exc:
        raise ModelError(f"{s.repo_id}@{s.revision} has no {s.filename} ({type(exc).__name__}); "
                         "update Roto Studio.") from None
    except hf_errors.HfHubHTTPError as exc:
        raise ModelError(f"the model hub refused the download of {s.name} ({_first_line(exc)}); try again later.") from None
    except OSError as exc:
        if cancel is not None and cancel():
            raise Cancelled(f"download of {s.name} cancelled; nothing was kept.") from None
        raise ModelError(f"downloading {s.name} failed ({_first_line(exc)}); run `{fix_command(s.name)}` again.") from None
    assert path is not None
    return path


def _hub_sha256(staging: Path, filename: str) -> str | None:
    """The hub's checksum of an LFS file (its ETag), from the metadata huggingface_hub kept."""
    meta = staging / ".cache" / "huggingface" / "download" / (filename + ".metadata")
    try:
        lines = meta.read_text().splitlines()
    except OSError:
        return None
    etag = lines[1].strip().strip('"').lower() if len(lines) > 1 else ""
    return etag if _is_hex64(etag) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def load_state_dict(path: Path):
    """Weights as a state dict: safetensors, or torch.load with weights_only=True (never pickle code)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        import torch

        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or hostile file
        raise ModelError(f"cannot load weights from {path} ({_first_line(exc)}); run `roto-studio models verify`.") from None
