"""Model weights: where they live, download (huggingface_hub or a plain URL), checksums, loading.

The weights folder is env ROTO_WEIGHTS_DIR, else platformdirs' user data folder
(`.../roto-studio/weights`). Offline folders (env ROTO_WEIGHTS_OFFLINE, several joined with the
path separator, or `set_offline_folders`) are searched too: copy the files there by hand on a
machine without internet. Files are checked against their sha256 before first use (or the md5
upstream publishes, when no sha256 is known); a file that fails is renamed aside (`NAME.bad`) in our
own folder and never used. Entries with a `url` (Cutie's GitHub release files) are streamed with
urllib, following redirects, instead of going through the hub.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models import registry

DISK_MARGIN = 256 * 2**20  # free space kept beyond the file itself
SIDECAR = ".sha256"  # `FILE.sha256` next to a download: the hub's checksum, when the registry has none
_VERIFIED = "verified.json"  # cache of (path, size, mtime) -> sha256 / md5 so big files are hashed once
URL_CHUNK = 1 * 2**20  # bytes read per step of a plain-URL download (cancel is checked between steps)
URL_TIMEOUT = 30  # seconds without data before a plain-URL download gives up

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
    return hash_file(path, ("sha256",), progress, cancel)["sha256"]


def hash_file(path: Path, algos=("sha256",), progress: Callable[[int, int], None] | None = None,
              cancel: Callable[[], bool] | None = None) -> dict[str, str]:
    """{algo: hex digest} of one file, read once for all the algorithms."""
    hashes = {a: hashlib.new(a) for a in algos}
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(4 * 2**20)
            if not chunk:
                break
            for h in hashes.values():
                h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
            if cancel and cancel():
                raise Cancelled(f"checking {path.name} was cancelled.")
    return {a: h.hexdigest() for a, h in hashes.items()}


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


def _cached_hash(path: Path, algo: str = "sha256") -> str | None:
    try:
        st = path.stat()
        data = json.loads(_cache_file().read_text())
        entry = data.get(str(path.resolve()))
        if entry and entry["size"] == st.st_size and entry["mtime_ns"] == st.st_mtime_ns:
            return entry.get(algo)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _remember_hash(path: Path, digest: str, algo: str = "sha256") -> None:
    with _lock:
        try:
            data = json.loads(_cache_file().read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        st = path.stat()
        key = str(path.resolve())
        entry = data.get(key)
        if not (isinstance(entry, dict) and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns):
            entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        entry[algo] = digest
        data[key] = entry
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
    algo, want = "sha256", expected_sha256(s, path)
    if want is None and s.md5:
        algo, want = "md5", s.md5.lower()
    if want is None:
        return "unverified"
    got = _cached_hash(path, algo) if use_cache else None
    if got is None:
        got = hash_file(path, (algo,))[algo]
        _remember_hash(path, got, algo)
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
    no partial or final file is left). The hub address comes from env HF_ENDPOINT at call time;
    entries with a `url` are fetched from it directly (sha256 checked if known, else md5).
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
        if s.url:
            path, digests = _fetch_url(s, staging, progress, cancel)
            digest = digests["sha256"]
            if s.sha256:
                good = digest == s.sha256.lower()
            else:
                good = not s.md5 or digests["md5"] == s.md5.lower()
        else:
            path = _fetch(s, staging, progress, cancel)
            digest = sha256_file(path, cancel=cancel)
            want = s.sha256.lower() if s.sha256 else _hub_sha256(staging, s.filename)
            good = want is None or digest == want
        if not good:
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


class _KeepHead(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, but keep a HEAD a HEAD (urllib turns it into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        return new


def _open_url(url: str, method: str = "GET"):
    from roto_studio import __version__

    req = urllib.request.Request(url, method=method, headers={"User-Agent": f"roto-studio/{__version__}"})
    return urllib.request.build_opener(_KeepHead()).open(req, timeout=URL_TIMEOUT)


def _length(resp) -> int | None:
    try:
        n = int(resp.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return n if n > 0 else None


def _url_error(s: registry.WeightSpec, exc: BaseException) -> ModelError:
    """One plain line for a failed plain-URL download."""
    by_hand = f"or download {s.url} by hand into a folder and point ROTO_WEIGHTS_OFFLINE at it."
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in (404, 410):
            return ModelError(f"{s.url} is gone (HTTP {exc.code}); update Roto Studio, {by_hand}")
        return ModelError(f"the server refused the download of {s.name} (HTTP {exc.code}); try again later, {by_hand}")
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, TimeoutError):
        host = urllib.parse.urlsplit(s.url).hostname or s.url
        return ModelError(f"cannot reach {host} to download {s.name} ({_first_line(exc.reason)}); "
                          f"check the internet connection, {by_hand}")
    return ModelError(f"downloading {s.name} failed ({_first_line(exc)}); run `{fix_command(s.name)}` again, {by_hand}")


def _url_size(s: registry.WeightSpec) -> int | None:
    """Content-Length from a HEAD request (after redirects), or None when the server will not say."""
    try:
        with _open_url(s.url, "HEAD") as resp:
            return _length(resp)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise _url_error(s, exc) from None
        return None  # some hosts refuse HEAD; the GET's Content-Length is checked instead
    except (OSError, http.client.HTTPException) as exc:
        raise _url_error(s, exc) from None


def _fetch_url(s: registry.WeightSpec, staging: Path, progress, cancel) -> tuple[Path, dict[str, str]]:
    """Stream s.url into staging/filename, hashing as it goes; returns the file and its sha256 + md5."""
    stopped = Cancelled(f"download of {s.name} cancelled; nothing was kept.")
    staging.mkdir(parents=True, exist_ok=True)
    size = s.size
    if size is None:
        size = _url_size(s)
        if size:
            check_disk_space(staging.parent, size)
    if cancel is not None and cancel():
        raise stopped
    part = staging / s.filename
    hashes = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    done = 0
    try:
        with _open_url(s.url) as resp:
            total = _length(resp) or size
            if total and total != size:
                check_disk_space(staging.parent, total)
            with open(part, "wb") as f:
                while True:
                    if cancel is not None and cancel():
                        raise stopped
                    chunk = resp.read1(URL_CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, int(total or 0))
    except (OSError, http.client.HTTPException) as exc:
        raise _url_error(s, exc) from None
    if (total and done != total) or done == 0:
        raise ModelError(f"the download of {s.name} stopped early ({done} of {total or '?'} bytes); "
                         f"run `{fix_command(s.name)}` again.")
    return part, {a: h.hexdigest() for a, h in hashes.items()}


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
