"""Model weights on disk: where they live, their state, the message for each state, loading.

Each model has its own folder, `<weights folder>/NAME/`, holding its files at their repo paths (the
layout huggingface_hub gives with local_dir); models.weights.fetch's `download` writes exactly that
and the loaders read it. The weights folder is env ROTO_WEIGHTS_DIR, else platformdirs' user data
folder (`.../roto-studio/weights`). Offline folders (env ROTO_WEIGHTS_OFFLINE, several joined with
the path separator, or `set_offline_folders`) are searched after it, as `F/NAME/`, `F/<repo name>/`
or, for single-file models, `F/` itself.

States of a file, and of a model (its worst file): ok (matches its published pin), unverified (no
pin published: checked only against the sha256 recorded at download, `FILE.sha256`), missing,
wrong size, bad hash, unreadable. A file that fails in our own folder is renamed aside
(`FILE.bad`), never deleted; `message()` names the file and the command that fixes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from roto_studio.core.errors import Cancelled, ModelError
from roto_studio.models.weights import registry

DISK_MARGIN = 256 * 2**20  # free space kept beyond the files themselves
SIDECAR = ".sha256"  # `FILE.sha256` next to an unpinned file: its hash, recorded at download
_VERIFIED = "verified.json"  # cache of (path, size, mtime) -> digests so big files are hashed once
USABLE = ("ok", "unverified")
# Worst first: the state of a model is that of its worst file.
_ORDER = ("unreadable", "bad hash", "wrong size", "missing", "present", "unverified", "ok")

_offline_extra: list[Path] = []
_lock = threading.Lock()


@dataclass
class FileState:
    file: registry.WeightFile
    state: str
    path: Path  # where it is (or was looked for)
    size: int | None = None  # bytes found
    detail: str = ""  # why (expected vs found, the OS error)
    aside: Path | None = None  # the `.bad` name it was renamed to


@dataclass
class WeightStatus:
    name: str
    state: str  # one of _ORDER ('present': found, not hashed yet, with check=False)
    path: Path | None  # the main file (the model's folder holds the rest)
    size: int | None  # bytes expected (registry) or found
    files: list[FileState] = field(default_factory=list)
    own: bool = False  # in our weights folder (not an offline one)

    @property
    def usable(self) -> bool:
        return self.state in USABLE

    @property
    def folder(self) -> Path | None:
        return self.path.parent if self.path else None

    @property
    def worst(self) -> FileState | None:
        bad = [f for f in self.files if f.state == self.state]
        return bad[0] if bad else None


def fix_command(name: str) -> str:
    return f"roto-studio models download {name}"


def weights_dir() -> Path:
    env = os.environ.get("ROTO_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("roto-studio", appauthor=False)) / "weights"


def model_dir(name: str) -> Path:
    """The folder `download` writes NAME's files into."""
    return weights_dir() / name


def set_offline_folders(folders) -> None:
    """Extra offline folders (e.g. from the app settings), searched after ROTO_WEIGHTS_OFFLINE."""
    _offline_extra[:] = [Path(f).expanduser() for f in (folders or []) if f]


def add_offline_folder(folder) -> None:
    """Search `folder` first among the extra offline folders (`--weights DIR`)."""
    set_offline_folders([folder, *_offline_extra])


def offline_folders() -> list[Path]:
    env = os.environ.get("ROTO_WEIGHTS_OFFLINE", "")
    out = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return out + [p for p in _offline_extra if p not in out]


def spec(name: str) -> registry.WeightSpec:
    return registry.get(name)


def _folders(s: registry.WeightSpec) -> list[tuple[Path, bool]]:
    """(folder, ours) to look in, in order. A flat folder only for single-file models (two
    models may share a file name, e.g. config.json)."""
    single = len(s.files) == 1
    own = weights_dir()
    out = [(own / s.name, True)] + ([(own, True)] if single else [])
    for folder in offline_folders():
        out += [(folder / s.name, False), (folder / s.repo_id.split("/")[-1], False)]
        if single:
            out.append((folder, False))
    return out


def _is_own(path: Path) -> bool:
    try:
        path.resolve().relative_to(weights_dir().resolve())
        return True
    except (ValueError, OSError):
        return False


# ---------------------------------------------------------------- hashing

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


def is_hex(text: str, n: int = 64) -> bool:
    return len(text) == n and all(c in "0123456789abcdef" for c in text)


def recorded_sha256(path: Path) -> str | None:
    """The hash recorded next to an unpinned file at download (`FILE.sha256`), if any."""
    try:
        text = path.with_name(path.name + SIDECAR).read_text().strip().lower()
    except OSError:
        return None
    text = text.split()[0] if text else ""
    return text if is_hex(text) else None


def _cache_file() -> Path:
    return weights_dir() / _VERIFIED


def _cached(path: Path, algos) -> dict[str, str] | None:
    try:
        st = path.stat()
        entry = json.loads(_cache_file().read_text()).get(str(path.resolve()))
        if entry and entry["size"] == st.st_size and entry["mtime_ns"] == st.st_mtime_ns \
                and all(a in entry for a in algos):
            return {a: entry[a] for a in algos}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def remember_hash(path: Path, digests: dict[str, str]) -> None:
    with _lock:
        try:
            data = json.loads(_cache_file().read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        try:
            st = path.stat()
        except OSError:
            return
        key = str(path.resolve())
        entry = data.get(key)
        if not (isinstance(entry, dict) and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns):
            entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        entry.update(digests)
        data[key] = entry
        try:
            _cache_file().parent.mkdir(parents=True, exist_ok=True)
            tmp = _cache_file().with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, _cache_file())
        except OSError:
            pass  # a read-only weights folder only costs re-hashing next time


# ---------------------------------------------------------------- states

def check_file(f: registry.WeightFile, path: Path, hash_it: bool = True, use_cache: bool = True) -> FileState:
    """The state of one file against its pin (hash_it=False: size only; 'present' if it would
    need hashing and no cached hash is known)."""
    try:
        if not path.exists():
            return FileState(f, "missing", path)
        if not path.is_file():
            return FileState(f, "unreadable", path, detail="not a file")
        size = path.stat().st_size
    except OSError as exc:
        return FileState(f, "unreadable", path, detail=_os_reason(exc))
    if f.size and size != f.size:
        return FileState(f, "wrong size", path, size, f"{size} bytes, the pin says {f.size}")
    want = {a: v.lower() for a, v in (("sha256", f.sha256), ("md5", f.md5)) if v}
    pinned = bool(want)
    if not pinned:
        recorded = recorded_sha256(path)
        if recorded is None:
            return FileState(f, "unverified", path, size, "no published checksum, none recorded")
        want = {"sha256": recorded}
    got = _cached(path, tuple(want)) if use_cache else None
    if got is None:
        if not hash_it:
            return FileState(f, "present" if pinned else "unverified", path, size)
        try:
            got = hash_file(path, tuple(want))
        except OSError as exc:
            return FileState(f, "unreadable", path, size, _os_reason(exc))
        remember_hash(path, got)
    for algo, value in want.items():
        if got[algo] != value:
            what = "its published" if pinned else "the recorded"
            return FileState(f, "bad hash", path, size, f"{algo} {got[algo][:12]}..., {what} {algo} is {value[:12]}...")
    return FileState(f, "ok" if pinned else "unverified", path, size,
                     "" if pinned else "no published checksum; matches the sha256 recorded at download")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _worst(files: list[FileState]) -> str:
    return min((f.state for f in files), key=_ORDER.index)


def _status_in(s: registry.WeightSpec, folder: Path, own: bool, hash_it: bool, use_cache: bool) -> WeightStatus | None:
    """NAME's state in one folder, or None when none of its files is there."""
    paths = [folder / f.path for f in s.files]
    if not any(p.exists() for p in paths):
        return None
    files = [check_file(f, p, hash_it, use_cache) for f, p in zip(s.files, paths)]
    found = files[0].size if files[0].size is not None else s.size
    return WeightStatus(s.name, _worst(files), paths[0], found, files, own)


def _locate(name: str, hash_it: bool = True, use_cache: bool = True, aside: bool = False) -> WeightStatus:
    """The first usable copy of NAME; else the first copy found (failing files in our folder renamed
    aside when `aside`); else 'missing' at the model's own folder."""
    s = spec(name)
    first_bad: WeightStatus | None = None
    for folder, own in _folders(s):
        st = _status_in(s, folder, own, hash_it, use_cache)
        if st is None:
            continue
        if st.state in USABLE or st.state == "present":
            return st
        if aside and own:
            _set_aside(st)
        first_bad = first_bad or st
    if first_bad is not None:
        return first_bad
    folder = model_dir(name)
    files = [FileState(f, "missing", folder / f.path) for f in s.files]
    return WeightStatus(name, "missing", folder / s.filename, s.size, files, True)


def _set_aside(st: WeightStatus) -> None:
    """Rename the failing files of a copy in our folder to FILE.bad (FILE.bad-2, ... when taken)."""
    for fs in st.files:
        if fs.state not in ("bad hash", "wrong size") or not _is_own(fs.path):
            continue
        bad = fs.path.with_name(fs.path.name + ".bad")
        n = 2
        while bad.exists():
            bad = fs.path.with_name(f"{fs.path.name}.bad-{n}")
            n += 1
        try:
            os.replace(fs.path, bad)
        except OSError:
            continue
        fs.aside = bad
        note_aside(bad, fs.state, fs.detail)


def note_aside(bad: Path, state: str, detail: str) -> None:
    """Record next to a set-aside file (`FILE.bad.why`) why it went, so later messages can say so."""
    try:
        bad.with_name(bad.name + ".why").write_text(f"{state}\t{detail}\n")
    except OSError:
        pass


def _last_aside(path: Path) -> tuple[Path, str, str] | None:
    """(FILE.bad..., state, detail) of the latest copy of `path` set aside, if any."""
    try:
        bads = [p for p in path.parent.glob(path.name + ".bad*") if not p.name.endswith(".why")]
    except OSError:
        return None
    if not bads:
        return None
    bad = max(bads, key=lambda p: p.stat().st_mtime_ns)
    try:
        state, detail = bad.with_name(bad.name + ".why").read_text().strip().split("\t", 1)
    except (OSError, ValueError):
        state, detail = "failed its check", ""
    return bad, state, detail


def status(name: str, check: bool = True) -> WeightStatus:
    """Where NAME is and its state. check=False hashes nothing: a pinned file not hashed yet is
    'present' (sizes and cached hashes still count; unpinned files show as 'unverified')."""
    return _locate(name, hash_it=check)


def find(name: str) -> Path | None:
    """The main file of a usable copy of NAME (checked), or None. Failing files in our folder are
    set aside."""
    st = _locate(name, aside=True)
    return st.path if st.usable else None


def require(name: str) -> Path:
    """The main file of a usable copy of NAME, or a ModelError saying what is wrong with which file
    and the command that fixes it."""
    st = _locate(name, aside=True)
    if st.usable:
        assert st.path is not None  # usable: its main file was found
        return st.path
    raise ModelError(message(st))


def problem(name: str) -> str | None:
    """Why NAME cannot be used (the message of its state), or None when it can."""
    st = _locate(name, aside=True)
    return None if st.usable else message(st)


def pick(names, auto: bool = True) -> tuple[str | None, Path | None, str]:
    """(name, main file, "") of the first usable model among NAMES, else (None, None, why): the
    message of the first one present but failing (wrong size, bad hash...), else the first missing.
    auto: leave out models whose licence does not permit commercial use unless the user allowed
    them (models.weights.licences); pass False when the user named the model."""
    from roto_studio.models.weights import licences

    failing = []
    names = list(names)
    barred = [n for n in names if not licences.auto_may_use(n)] if auto else []
    for name in names:
        if name in barred:
            continue
        st = _locate(name, aside=True)
        if st.usable:
            return name, st.path, ""
        failing.append(st)
    if barred and (not failing or any(_locate(n).usable for n in barred)):
        return None, None, licences.skipped_line(barred)  # present (or all there is), but not for Auto
    if not failing:
        return None, None, "no model of this kind is registered"
    present = [st for st in failing if st.state != "missing"]
    return None, None, message((present or failing)[0])


def verify(name: str) -> WeightStatus:
    """Re-hash the files of NAME now, ignoring the cache; failing files in our folder are set aside."""
    return _locate(name, use_cache=False, aside=True)


def message(st: WeightStatus) -> str:
    """One line for the state of NAME naming the file and the command that fixes it."""
    fix = fix_command(st.name)
    fs = st.worst
    if st.state == "ok":
        return f"{st.name}: ok, {st.path} matches its published checksum."
    if st.state == "present":
        return f"{st.name}: {st.path} is present, not checked yet; `roto-studio models verify {st.name}` checks it."
    if st.state == "unverified":
        files = ", ".join(f.path.name for f in st.files if f.state == "unverified")
        return (f"{st.name} is unverified: no checksum is published for {files} in {st.folder}; its sha256 "
                f"was recorded at download and is checked before use (`roto-studio models verify {st.name}`).")
    assert fs is not None
    if st.state == "missing":
        asides = [(f, _last_aside(f.path)) for f in st.files if f.state == "missing"] if st.own else []
        gone = [(f, a) for f, a in asides if a is not None]
        if gone:  # it was there and failed its check: say so, never just "missing"
            f, (bad, state, detail) = gone[0]
            what = {"wrong size": "has the wrong size", "bad hash": "does not match its checksum"}.get(state, state)
            why = f" ({detail})" if detail else ""
            return f"{f.path} {what}{why}, so it was set aside as {bad.name}; run `{fix}`."
        if all(f.state == "missing" for f in st.files):
            where = f"no {fs.path.name} in {fs.path.parent} nor in an offline folder"
            return f"the {st.name} weights are missing ({where}); run `{fix}`."
        return f"the {st.name} weights are incomplete: {fs.path} is missing; run `{fix}`."
    if st.state == "unreadable":
        return f"cannot read {fs.path} ({fs.detail}); fix its permissions or run `{fix}`."
    what = "has the wrong size" if st.state == "wrong size" else "does not match its checksum"
    then = f", so it was set aside as {fs.aside.name}" if fs.aside else ", so it is not used"
    fix_it = f"run `{fix}`" if st.own else f"replace it or run `{fix}`"
    return f"{fs.path} {what} ({fs.detail}){then}; {fix_it}."


def check_disk_space(folder: Path, size: int | None, margin: int = DISK_MARGIN) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    need = (size or 0) + margin
    if free < need:
        raise ModelError(f"not enough disk space in {folder}: {_mb(need)} needed, {_mb(free)} free; "
                         "free some space or set ROTO_WEIGHTS_DIR to another disk.")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def accept_licence(name: str) -> Path:
    """Record that the user accepted NAME's licence (needed before a non-commercial model
    downloads); returns the file it is recorded in. For the window's model manager and the CLI."""
    from roto_studio.models.weights import licences

    return licences.accept(name)


def licence_accepted(name: str) -> bool:
    """Whether NAME may download: its licence permits commercial use, or the user accepted it."""
    from roto_studio.models.weights import licences

    return licences.accepted(name)


def first_line(exc: BaseException | str) -> str:
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
        raise ModelError(f"cannot load weights from {path} ({first_line(exc)}); run `roto-studio models verify`.") from None
