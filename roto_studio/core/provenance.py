"""Provenance of exported files: which plate, frames, project, objects and models made them.

`build` makes the record for one export; each file gets it with its own frames: EXR files in
header attributes (`rotoStudio/...`: a few flat ones a compositor's metadata viewer shows, and
the whole record as JSON in `rotoStudio/provenance`), PNG frames in an iTXt text chunk
(keyword `rotoStudio/provenance`, which PIL, exiftool and OpenImageIO show: no extra file per
frame in a sequence folder), ProRes movies in a sidecar JSON beside the movie (`NAME.mov.json`).
`read` finds the record of any of them for `roto-studio info FILE`. The record holds no time stamps, so re-rendering a shot in chunks or
on a farm gives the same bytes.
"""

from __future__ import annotations

from typing import Any, Iterable

import os
import copy
import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roto_studio.core.alphas import Alphas

FORMAT = "roto-studio-provenance"
ATTRIBUTE = "rotoStudio/provenance"
SIDECAR_SUFFIX = ".json"


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def build(alphas: Alphas, media: Any, objects: Iterable[Any], export_format: str,
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record shared by every file of one export (each file adds its own `frames`)."""
    from roto_studio import __version__

    plate = None
    if media is not None:
        numbers = list(getattr(media, "frame_numbers", []) or [])
        plate = {"path": str(getattr(media, "path", "") or ""),
                 "frames": [numbers[0], numbers[-1]] if numbers else None,
                 "size": [int(media.width), int(media.height)]}
    elif alphas.plate_path is not None:
        plate = {"path": str(alphas.plate_path), "frames": None, "size": None}
    project_file = Path(alphas.project_file or "")
    record = {
        "format": FORMAT,
        "roto_studio": __version__,
        "source_plate": plate,
        "project": {"file": str(project_file), "sha256": _sha256(project_file) if project_file.name else None},
        "objects": [{"id": o.id, "name": o.name} for o in objects],
        "export": {"format": export_format},
        "models": [],
    }
    for key, value in (extra or {}).items():
        record[key] = copy.deepcopy(value)
    return record


def with_objects(record: dict[str, Any] | None, objects: Iterable[Any]) -> dict[str, Any] | None:
    """The record for a file holding only `objects` (one object's file of a per-object export)."""
    if not record:
        return record
    return {**record, "objects": [{"id": o.id, "name": o.name} for o in objects]}


def for_file(record: dict[str, Any], first: int, last: int) -> dict[str, Any]:
    out = dict(record)
    out["frames"] = [int(first), int(last)]
    return out


def _text(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def exr_attributes(record: dict[str, Any] | None, first: int, last: int) -> dict[str, str]:
    """Header attributes for an EXR holding plate frames first..last."""
    if not record:
        return {}
    rec = for_file(record, first, last)
    plate = rec.get("source_plate") or {}
    return {
        "rotoStudio/version": str(rec["roto_studio"]),
        "rotoStudio/plate": str(plate.get("path") or ""),
        "rotoStudio/frames": f"{first}-{last}",
        "rotoStudio/project": rec["project"]["file"],
        "rotoStudio/projectSha256": rec["project"]["sha256"] or "",
        "rotoStudio/objects": ", ".join(o["name"] for o in rec["objects"]),
        ATTRIBUTE: _text(rec),
    }


def with_exr(attributes: dict[str, Any] | None, record: dict[str, Any] | None, first: int, last: int) -> dict[str, Any] | None:
    """`attributes` with the provenance ones added (None stays None when there is no record)."""
    extra = exr_attributes(record, first, last)
    if not extra:
        return attributes
    return {**(attributes or {}), **extra}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_record(png: bytes, record: dict[str, Any] | None, first: int, last: int) -> bytes:
    """The PNG with the record in an uncompressed iTXt chunk before IEND (unchanged without one)."""
    if not record:
        return png
    text = _text(for_file(record, first, last)).encode("utf-8")
    # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword
    chunk = _png_chunk(b"iTXt", ATTRIBUTE.encode("latin-1") + b"\0\0\0\0\0" + text)
    end = png.rfind(b"IEND") - 4
    if end < 8:
        return png
    return png[:end] + chunk + png[end:]


def _png_record(path: Path) -> dict[str, Any] | None:
    data = path.read_bytes()
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"iTXt" and body.startswith(ATTRIBUTE.encode("latin-1") + b"\0"):
            rest = body[len(ATTRIBUTE) + 1:]
            compressed, _method = rest[0], rest[1]
            rest = rest[2:]
            rest = rest[rest.index(b"\0") + 1:]  # language tag
            rest = rest[rest.index(b"\0") + 1:]  # translated keyword
            record: dict[str, Any] = json.loads(zlib.decompress(rest) if compressed else rest.decode("utf-8"))
            return record
        if kind == b"IEND":
            break
        at += 12 + length
    return None


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_sidecar(path: str | os.PathLike[str], record: dict[str, Any] | None, first: int, last: int) -> Path | None:
    """Write the sidecar JSON of `path` (atomically); None when there is no record."""
    if not record:
        return None
    from roto_studio.core.atomic import write_text

    target = sidecar_path(path)
    rec = for_file(record, first, last)
    rec["file"] = Path(path).name
    write_text(target, json.dumps(rec, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return target


def read(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The provenance of an exported file (EXR header or sidecar JSON), or None when it has none."""
    path = Path(path)
    side = path if path.name.endswith(SIDECAR_SUFFIX) else sidecar_path(path)
    if side.is_file():
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None
    if path.suffix.lower() == ".png" and path.is_file():
        try:
            data = _png_record(path)
        except (OSError, ValueError, IndexError, zlib.error):
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None
    if path.suffix.lower() == ".exr" and path.is_file():
        try:
            import OpenEXR

            with OpenEXR.File(str(path), header_only=True) as f:
                value = f.header().get(ATTRIBUTE)
        except Exception:  # noqa: BLE001 - not a readable EXR: no provenance
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        try:
            data = json.loads(value) if isinstance(value, str) else None
        except ValueError:
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None
    return None


def describe(record: dict[str, Any]) -> list[str]:
    """Plain lines for `info`."""
    plate = record.get("source_plate") or {}
    frames = record.get("frames") or []
    plate_frames = plate.get("frames")
    lines = [
        f"made by:       Roto Studio {record.get('roto_studio')}",
        f"plate:         {plate.get('path') or 'unknown'}"
        + (f" (frames {plate_frames[0]}-{plate_frames[1]})" if plate_frames else ""),
        f"frames:        {frames[0]}-{frames[1]}" if len(frames) == 2 else "frames:        unknown",
        f"project:       {record.get('project', {}).get('file')}",
        f"project sha256: {record.get('project', {}).get('sha256') or 'unknown'}",
        "objects:       " + ", ".join(o.get("name", "?") for o in record.get("objects") or []),
        f"export:        {(record.get('export') or {}).get('format')}",
    ]
    for m in record.get("models") or []:
        weights = ", ".join(f"{w.get('file')} sha256 {w.get('sha256') or 'unknown'}" for w in m.get("weights") or [])
        lines.append(f"model:         {m.get('role')}: {m.get('name')}"
                     + (f" revision {m['revision']}" if m.get("revision") else "")
                     + (f" ({weights})" if weights else ""))
    return lines
