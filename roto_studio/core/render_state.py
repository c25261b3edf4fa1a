"""What headless renders have finished: one small JSON record per stage, scope and frame.

A record holds a digest of everything the frame was computed from (`inputs`) and the sha256 of
each file it wrote, relative to a base folder. A frame is finished when its record exists, its
inputs digest equals the one computed now (a changed prompt, mask or option re-runs it) and every
output still exists with the recorded content (a deleted or replaced file re-runs it). Records and
outputs are written atomically, so a killed render leaves only whole files; concurrent farm tasks
write different records, or the same record with the same content.

Layout: <root>/<stage>/<scope>/<frame>.json
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from roto_studio.core.atomic import write_text

RECORD_VERSION = 1


def digest(*parts: Any) -> str:
    """A stable sha256 of JSON-able parts (tuples become lists; dict keys sorted)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str | None:
    """sha256 of a file's bytes, or None when it does not exist."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return h.hexdigest()


class Records:
    """Finished-frame records under `root`; output paths are stored relative to `base`."""

    def __init__(self, root: str | os.PathLike[str], base: str | os.PathLike[str]):
        self.root = Path(root)
        self.base = Path(base)

    def path(self, stage: str, scope: str, frame: int) -> Path:
        return self.root / stage / _safe(scope) / f"{int(frame)}.json"

    def read(self, stage: str, scope: str, frame: int) -> dict[str, Any] | None:
        try:
            rec = json.loads(self.path(stage, scope, frame).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and rec.get("version") == RECORD_VERSION else None

    def intact(self, stage: str, scope: str, frame: int) -> dict[str, Any] | None:
        """The record when every output it lists still holds the recorded content, else None."""
        rec = self.read(stage, scope, frame)
        outputs = rec.get("outputs") if rec is not None else None
        if not isinstance(outputs, dict):
            return None
        ok = all(isinstance(rel, str) and file_digest(self.base / rel) == sha for rel, sha in outputs.items())
        return rec if ok else None

    def finished(self, stage: str, scope: str, frame: int, inputs: str) -> bool:
        rec = self.read(stage, scope, frame)
        if rec is None or rec.get("inputs") != inputs:
            return False
        return self.intact(stage, scope, frame) is not None

    def record(self, stage: str, scope: str, frame: int, inputs: str, outputs: Iterable[Path] = (),
               status: str = "written", meta: dict[str, Any] | None = None) -> None:
        """Record a finished frame (call after its outputs are in place)."""
        hashes = {}
        for p in outputs:
            p = Path(p)
            sha = file_digest(p)
            if sha is None:
                raise FileNotFoundError(2, "an output vanished before it was recorded", str(p))
            hashes[_relative(p, self.base)] = sha
        target = self.path(stage, scope, frame)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, json.dumps({"version": RECORD_VERSION, "frame": int(frame), "status": status,
                                       "inputs": inputs, "outputs": hashes, "meta": meta or {}},
                                      sort_keys=True))

    def forget(self, stage: str, scope: str, frame: int) -> None:
        try:
            self.path(stage, scope, frame).unlink()
        except FileNotFoundError:
            pass


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path.resolve())


def _safe(scope: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(scope))
    return out.strip(".") or "_"
