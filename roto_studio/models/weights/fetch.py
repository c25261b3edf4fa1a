"""Downloading a model: every file of a registry entry, at its pinned revision, into the model's own
folder (`<weights folder>/NAME/<path in repo>`, huggingface_hub's local_dir layout), each checked
against its pin before it is moved there.

Hub files go through huggingface_hub (hf_hub_download into a staging folder; the address comes from
env HF_ENDPOINT at call time); files with a `url` (Cutie's GitHub release) are streamed with urllib,
following redirects. A file that fails its pin is renamed aside in the model folder (`FILE.bad`),
never used; an unpinned file gets its sha256 recorded next to it (`FILE.sha256`) and stays
`unverified`. Cancel or failure leaves no partial file, unless `resume=True` (the window's model
manager): the staging folder (`.partial-NAME`) is then kept, and the next resumed download goes on
from where it stopped with a Range request (pinned hub files are then streamed from the hub's
resolve address like plain URLs, since huggingface_hub keeps no partial file; the hub token, when
one is stored, is sent to the hub's host only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models.weights import registry
from roto_studio.models.weights import store as W

URL_CHUNK = 1 * 2**20  # bytes read per step of a plain-URL download (cancel is checked between steps)
URL_TIMEOUT = 30  # seconds without data before a plain-URL download gives up


class _Stop(Exception):
    """Raised inside the download loop to cancel it."""


def download(name: str, progress: Callable[[int, int], None] | None = None,
             cancel: Callable[[], bool] | None = None, force: bool = False, resume: bool = False) -> Path:
    """Download NAME (pinned revision) into its folder, check every file, return the main file.

    progress(done_bytes, total_bytes) over all files; cancel() -> True stops between chunks
    (Cancelled is raised, no partial or final file is left). Without `force`, a usable copy already
    there (or in an offline folder) is returned without touching the network. resume: keep what
    was fetched when stopped, and go on from it next time.
    """
    s = W.spec(name)
    from roto_studio.models.weights import licences

    licences.require_accepted(name)
    if not force:
        found = W.find(name)
        if found is not None:
            return found
    root = W.weights_dir()
    W.check_disk_space(root, s.known_size)
    dest = W.model_dir(name)
    if resume:
        staging = root / f".partial-{s.name}"
        stopped = Cancelled(f"download of {s.name} cancelled; what was fetched is kept for resuming.")
    else:
        staging = root / f".download-{s.name}-{os.getpid()}-{threading.get_ident()}"
        stopped = Cancelled(f"download of {s.name} cancelled; nothing was kept.")
    finished = False
    try:
        fetched = []
        done_before = 0
        for i, f in enumerate(s.files):
            rest = sum(g.size or 0 for g in s.files[i + 1:])

            def report(done, total, base=done_before, rest=rest):
                if progress is not None:
                    progress(base + done, base + (total or 0) + rest)

            if f.url:
                path, digests = _fetch_url(s, f, staging, report, cancel, resume)
            elif resume and f.pinned:
                hub_file = dataclasses.replace(f, url=_hub_url(s, f))
                path, digests = _fetch_url(s, hub_file, staging, report, cancel, resume, token=_hub_token())
            else:
                path = _fetch_hub(s, f, staging, report, cancel)
                digests = W.hash_file(path, ("sha256", "md5"), cancel=cancel)
            _check_download(s, f, path, digests, staging, dest)
            fetched.append((f, path, digests))
            done_before += path.stat().st_size
        if cancel is not None and cancel():
            raise stopped
        for f, path, digests in fetched:
            final = dest / f.path
            final.parent.mkdir(parents=True, exist_ok=True)
            side = final.with_name(final.name + W.SIDECAR)
            if f.pinned:
                side.unlink(missing_ok=True)
            else:
                side.write_text(digests["sha256"] + "\n")
            os.replace(path, final)
            W.remember_hash(final, digests)
        meta = staging / ".cache"
        if meta.is_dir():  # huggingface_hub's own record of what it downloaded, kept with the files
            shutil.copytree(meta, dest / ".cache", dirs_exist_ok=True)
        finished = True
        return dest / s.filename
    except Cancelled:
        raise stopped from None
    finally:
        if finished or not resume:
            shutil.rmtree(staging, ignore_errors=True)


def _check_download(s: registry.WeightSpec, f: registry.WeightFile, path: Path, digests: dict[str, str],
                    staging: Path, dest: Path) -> None:
    """Refuse a downloaded file that differs from its pin (set aside in the model folder)."""
    size = path.stat().st_size
    why = ""
    if f.size and size != f.size:
        why = f"has the wrong size ({size} bytes, the pin says {f.size})"
    for algo, want in (("sha256", f.sha256), ("md5", f.md5)):
        if not why and want and digests[algo] != want.lower():
            why = f"does not match its checksum ({algo} {digests[algo][:12]}..., the pin says {want.lower()[:12]}...)"
    if not why and not f.pinned and not f.url:
        hub = _hub_sha256(staging, f.path)  # transfer check only: the hub is the file's only source
        if hub is not None and digests["sha256"] != hub:
            why = f"does not match the hub's checksum ({digests['sha256'][:12]}..., the hub says {hub[:12]}...)"
    if not why:
        return
    bad = dest / (f.path + ".bad")
    bad.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, bad)
    state = "wrong size" if why.startswith("has the wrong size") else "bad hash"
    W.note_aside(bad, state, why[why.index("(") + 1:why.rindex(")")])
    raise ModelError(f"the downloaded {f.path} of {s.name} {why}, so it was refused and set aside as "
                     f"{bad}; run `{W.fix_command(s.name)}` again, or report it if it keeps failing.")


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
            progress(self._done, int(self._total or 0))
            return super().update(n)

    return Progress


def _fetch_hub(s: registry.WeightSpec, f: registry.WeightFile, staging: Path, progress, cancel) -> Path:
    try:
        from huggingface_hub import errors as hf_errors
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ModelError("downloading needs the huggingface_hub package; pip install huggingface_hub.") from None
    endpoint = os.environ.get("HF_ENDPOINT") or None
    by_hand = f"or copy {s.name}'s files into a folder and point ROTO_WEIGHTS_OFFLINE at it."
    try:
        return Path(hf_hub_download(s.repo_id, f.path, revision=s.revision, local_dir=staging,
                                    endpoint=endpoint, tqdm_class=_progress_class(progress, cancel)))
    except _Stop:
        raise Cancelled(f"download of {s.name} cancelled; nothing was kept.") from None
    except hf_errors.OfflineModeIsEnabled:
        raise ModelError(f"HF_HUB_OFFLINE is set, so {s.name} cannot be downloaded; {by_hand}") from None
    except hf_errors.LocalEntryNotFoundError:
        raise ModelError(f"cannot reach the model hub to download {s.name}; check the internet connection, "
                         f"{by_hand}") from None
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError,
            hf_errors.EntryNotFoundError) as exc:
        raise ModelError(f"{s.repo_id}@{s.revision} has no {f.path} ({type(exc).__name__}); "
                         "update Roto Studio.") from None
    except hf_errors.HfHubHTTPError as exc:
        raise ModelError(f"the model hub refused the download of {s.name} ({W.first_line(exc)}); "
                         "try again later.") from None
    except OSError as exc:
        if cancel is not None and cancel():
            raise Cancelled(f"download of {s.name} cancelled; nothing was kept.") from None
        raise ModelError(f"downloading {s.name} failed ({W.first_line(exc)}); run "
                         f"`{W.fix_command(s.name)}` again.") from None


def _hub_sha256(staging: Path, filename: str) -> str | None:
    """The hub's checksum of an LFS file (its ETag), from the metadata huggingface_hub kept."""
    meta = staging / ".cache" / "huggingface" / "download" / (filename + ".metadata")
    try:
        lines = meta.read_text().splitlines()
    except OSError:
        return None
    etag = lines[1].strip().strip('"').lower() if len(lines) > 1 else ""
    return etag if W.is_hex(etag) else None


# ---------------------------------------------------------------- plain URLs

class _KeepHead(urllib.request.HTTPRedirectHandler):
    """Follow redirects as urllib does, but keep a HEAD a HEAD (urllib turns it into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        if new is not None and urllib.parse.urlsplit(newurl).hostname != urllib.parse.urlsplit(req.full_url).hostname:
            new.remove_header("Authorization")  # the hub's token never goes to a CDN
        return new


def _hub_url(s: registry.WeightSpec, f: registry.WeightFile) -> str:
    from huggingface_hub import constants, hf_hub_url

    if constants.HF_HUB_OFFLINE:  # as hf_hub_download would refuse
        raise ModelError(f"HF_HUB_OFFLINE is set, so {s.name} cannot be downloaded; copy {s.name}'s files "
                         "into a folder and point ROTO_WEIGHTS_OFFLINE at it.")

    return hf_hub_url(s.repo_id, f.path, revision=s.revision, endpoint=os.environ.get("HF_ENDPOINT") or None)


def _hub_token() -> str | None:
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # noqa: BLE001 - no token: public repos still download
        return None


def _open_url(url: str, method: str = "GET", start: int = 0, token: str | None = None):
    from roto_studio import __version__

    headers = {"User-Agent": f"roto-studio/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if start:
        headers["Range"] = f"bytes={start}-"
    req = urllib.request.Request(url, method=method, headers=headers)
    return urllib.request.build_opener(_KeepHead()).open(req, timeout=URL_TIMEOUT)


def _length(resp) -> int | None:
    try:
        n = int(resp.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return n if n > 0 else None


def _url_error(s: registry.WeightSpec, f: registry.WeightFile, exc: BaseException) -> ModelError:
    """One plain line for a failed plain-URL download."""
    by_hand = f"or download {f.url} by hand into a folder and point ROTO_WEIGHTS_OFFLINE at it."
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in (404, 410):
            return ModelError(f"{f.url} is gone (HTTP {exc.code}); update Roto Studio, {by_hand}")
        return ModelError(f"the server refused the download of {s.name} (HTTP {exc.code}); try again later, {by_hand}")
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, TimeoutError):
        host = urllib.parse.urlsplit(f.url or "").hostname or f.url
        return ModelError(f"cannot reach {host} to download {s.name} ({W.first_line(exc.reason)}); "
                          f"check the internet connection, {by_hand}")
    return ModelError(f"downloading {s.name} failed ({W.first_line(exc)}); run `{W.fix_command(s.name)}` again, {by_hand}")


def _url_size(s: registry.WeightSpec, f: registry.WeightFile, token: str | None = None) -> int | None:
    """Content-Length from a HEAD request (after redirects), or None when the server will not say."""
    assert f.url is not None  # a plain-URL file
    try:
        with _open_url(f.url, "HEAD", token=token) as resp:
            return _length(resp)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise _url_error(s, f, exc) from None
        return None  # some hosts refuse HEAD; the GET's Content-Length is checked instead
    except (OSError, http.client.HTTPException) as exc:
        raise _url_error(s, f, exc) from None


def _fetch_url(s: registry.WeightSpec, f: registry.WeightFile, staging: Path, progress,
               cancel, resume: bool = False, token: str | None = None) -> tuple[Path, dict[str, str]]:
    """Stream f.url into staging/path, hashing as it goes; returns the file and its sha256 + md5.
    resume: a part left by a stopped download is hashed and continued with a Range request (from
    the start when the server ignores the range)."""
    assert f.url is not None  # a plain-URL file (the caller sets one for a hub file)
    stopped = Cancelled(f"download of {s.name} cancelled; nothing was kept.")
    staging.mkdir(parents=True, exist_ok=True)
    size = f.size
    if size is None:
        size = _url_size(s, f, token)
        if size:
            W.check_disk_space(staging.parent, size)
    if cancel is not None and cancel():
        raise stopped
    part = staging / f.path
    part.parent.mkdir(parents=True, exist_ok=True)
    hashes = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    done = part.stat().st_size if resume and part.is_file() else 0
    if size and done >= size:
        done = 0  # a whole (or too long) part: fetch it again rather than guess
    total = size
    try:
        with _open_url(f.url, start=done, token=token) as resp:
            if done and resp.status == 206:
                with open(part, "rb") as old:
                    for chunk in iter(lambda: old.read(4 * 2**20), b""):
                        for h in hashes.values():
                            h.update(chunk)
                total = (_length(resp) or 0) + done or size
            else:
                done = 0
                total = _length(resp) or size
            if total and total != size:
                W.check_disk_space(staging.parent, total)
            with open(part, "ab" if done else "wb") as out:
                while True:
                    if cancel is not None and cancel():
                        raise stopped
                    chunk = resp.read1(URL_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    done += len(chunk)
                    progress(done, int(total or 0))
    except (OSError, http.client.HTTPException) as exc:
        raise _url_error(s, f, exc) from None
    if (total and done != total) or done == 0:
        raise ModelError(f"the download of {s.name} stopped early ({done} of {total or '?'} bytes); "
                         f"run `{W.fix_command(s.name)}` again.")
    return part, {a: h.hexdigest() for a, h in hashes.items()}
