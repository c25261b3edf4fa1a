"""The project: media reference, objects, prompts, locked ranges and settings.

On disk a project is a folder `NAME.roto/` holding `project.json` (versioned JSON, written
atomically), `autosave.json` (same format, written by the autosave timer), `masks/` (MaskStore)
and `cache/` (scratch data, e.g. SAM 2's spill folders: core.spill; never copied by save-as).
Loading a damaged or newer file raises ProjectError and changes nothing on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, Sequence

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from roto_studio.core.alphas import Alphas, AlphaStore
from roto_studio.core.atomic import write_text
from roto_studio.core.errors import ProjectError
from roto_studio.core.masks import MaskStore
from roto_studio.core.prompt import Prompt

if TYPE_CHECKING:
    from fractions import Fraction

    import numpy as np

    from roto_studio.core.media import Media

FORMAT = "roto-studio-project"
VERSION = 1
PROJECT_FILE = "project.json"
AUTOSAVE_FILE = "autosave.json"
MASKS_DIR = "masks"
SUFFIX = ".roto"

PALETTE = [
    (255, 80, 80), (80, 200, 255), (120, 230, 90), (255, 200, 60),
    (200, 110, 255), (255, 130, 200), (90, 240, 210), (240, 240, 240),
]


@dataclass
class ObjectInfo:
    id: str
    name: str
    color: tuple[int, int, int] = (255, 80, 80)
    visible: bool = True
    locked: bool = False
    refine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "color": list(self.color),
                "visible": self.visible, "locked": self.locked, "refine": dict(self.refine)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ObjectInfo":
        color = tuple(int(c) for c in d.get("color", (255, 80, 80)))
        if len(color) != 3 or not all(0 <= c <= 255 for c in color):
            raise ValueError("bad colour")
        refine = d.get("refine") or {}
        if not isinstance(refine, dict):
            raise ValueError("bad refine settings")
        return cls(id=_check_id(d["id"]), name=_str(d["name"]), color=color,
                   visible=_bool(d.get("visible", True)), locked=_bool(d.get("locked", False)),
                   refine=refine)


class Project:
    def __init__(self, folder: str | os.PathLike[str], media_path: str = ""):
        self.folder = Path(folder)
        self.media_path = str(media_path)
        self.objects: list[ObjectInfo] = []
        self.prompts: dict[str, dict[int, Prompt]] = {}
        self.locked: dict[str, list[tuple[int, int]]] = {}
        self.settings: dict[str, Any] = {}
        self._masks: MaskStore | None = None

    # -- files
    @property
    def project_file(self) -> Path:
        return self.folder / PROJECT_FILE

    @property
    def autosave_file(self) -> Path:
        return self.folder / AUTOSAVE_FILE

    @property
    def masks(self) -> MaskStore:
        if self._masks is None:
            self._masks = MaskStore(self.folder / MASKS_DIR)
        return self._masks

    @property
    def name(self) -> str:
        return self.folder.name[: -len(SUFFIX)] if self.folder.name.endswith(SUFFIX) else self.folder.name

    # -- media
    def media_ref(self) -> Path:
        """Absolute path of the media (stored relative to the project folder when inside it)."""
        p = Path(self.media_path)
        return p if p.is_absolute() else (self.folder / p)

    def open_media(self, **kwargs: Any) -> Media:
        from roto_studio.core.media import open_media

        if not self.media_path:
            raise ProjectError("this project has no media; open a video or image sequence first.")
        kwargs.setdefault("colorspace", self.settings.get("colorspace") or None)
        kwargs.setdefault("colour_config", self.settings.get("ocio_config") or None)
        kwargs.setdefault("display", self.settings.get("display") or None)
        kwargs.setdefault("view", self.settings.get("view") or None)
        media = open_media(self.media_ref(), **kwargs)
        if self.settings.get("fps"):  # the shot's frame rate, set by the user
            try:
                media.set_fps(str(self.settings["fps"]))
            except BaseException:
                media.close()
                raise
        shot_range = self.settings.get("shot_range")  # a shot conformed from an edit (ops.conform)
        if shot_range:
            try:
                media.restrict(int(shot_range[0]), int(shot_range[1]))
            except BaseException:
                media.close()
                raise
        config = getattr(media, "colour_config", None)
        if config is not None and config.source == "built-in":
            self.settings.setdefault("ocio_config", config.name)  # reopens identically after an OCIO upgrade
        return media

    def set_fps(self, fps: Fraction | float | str | None) -> None:
        """Save the shot's frame rate (text like '24000/1001' or a Fraction); None: the files' own."""
        if fps is None or fps == "":
            self.settings.pop("fps", None)
            return
        from roto_studio.core.framerate import fps_text, parse_fps

        self.settings["fps"] = fps_text(parse_fps(str(fps)))

    # -- objects
    def add_object(self, name: str | None = None, color: Sequence[int] | None = None) -> ObjectInfo:
        n = 1
        ids = {o.id for o in self.objects}
        while f"obj{n}" in ids:
            n += 1
        obj_id = f"obj{n}"
        names = {o.name for o in self.objects}
        if name is None:
            k = len(self.objects) + 1
            while f"Object {k}" in names:
                k += 1
            name = f"Object {k}"
        elif name in names:
            raise ProjectError(f"an object named {name!r} already exists; choose another name.")
        if color is None:
            color = PALETTE[len(self.objects) % len(PALETTE)]
        r, g, b = (int(c) for c in color)
        obj = ObjectInfo(id=obj_id, name=name, color=(r, g, b))
        self.objects.append(obj)
        return obj

    def object(self, obj_id: str) -> ObjectInfo:
        for o in self.objects:
            if o.id == obj_id:
                return o
        raise ProjectError(f"no object with id {obj_id!r} in this project.")

    def object_by_name(self, name: str) -> ObjectInfo | None:
        for o in self.objects:
            if o.name == name:
                return o
        return None

    def remove_object(self, obj_id: str, delete_masks: bool = True) -> ObjectInfo:
        obj = self.object(obj_id)
        self.objects.remove(obj)
        self.prompts.pop(obj_id, None)
        self.locked.pop(obj_id, None)
        if delete_masks:
            self.masks.remove_object(obj_id)
        return obj

    # -- prompts and locks
    def set_prompt(self, obj_id: str, frame: int, prompt: Prompt | None) -> None:
        frames = self.prompts.setdefault(obj_id, {})
        if prompt is None or prompt.is_empty():
            frames.pop(int(frame), None)
        else:
            frames[int(frame)] = prompt

    def prompted_frames(self, obj_id: str) -> list[int]:
        return sorted(self.prompts.get(obj_id, {}))

    def lock_range(self, obj_id: str, first: int, last: int) -> None:
        a, b = sorted((int(first), int(last)))
        ranges = sorted(self.locked.get(obj_id, []) + [(a, b)])
        merged: list[tuple[int, int]] = []
        for s, e in ranges:
            if merged and s <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        self.locked[obj_id] = merged

    def unlock_range(self, obj_id: str, first: int, last: int) -> None:
        a, b = sorted((int(first), int(last)))
        out = []
        for s, e in self.locked.get(obj_id, []):
            if e < a or s > b:
                out.append((s, e))
                continue
            if s < a:
                out.append((s, a - 1))
            if e > b:
                out.append((b + 1, e))
        self.locked[obj_id] = out

    def is_locked(self, obj_id: str, frame: int) -> bool:
        obj = next((o for o in self.objects if o.id == obj_id), None)
        if obj is not None and obj.locked:
            return True
        return any(s <= frame <= e for s, e in self.locked.get(obj_id, []))

    # -- alpha for display and export
    def alphas(self, store: AlphaStore | None = None) -> Alphas:
        """What export and the clean plate read: the objects and their alphas (the project's
        masks unless another `store` is given, e.g. a render's mattes)."""
        return Alphas(self.name, list(self.objects),
                      self.masks if store is None else store, self.project_file,
                      self.media_ref() if self.media_path else None,
                      str(self.settings["fps"]) if self.settings.get("fps") else None)

    def final_alpha(self, obj_id: str, frame: int) -> np.ndarray | None:
        """The stored mask with the object's edge settings applied (None when no mask)."""
        obj = self.object(obj_id)
        if obj.refine:
            from roto_studio.core import refine

            return refine.final_alpha(self, obj_id, frame)
        return self.masks.get(obj_id, frame)

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "media": {"path": self.media_path},
            "objects": [o.to_dict() for o in self.objects],
            "prompts": {oid: {str(f): p.to_dict() for f, p in sorted(fr.items())}
                        for oid, fr in self.prompts.items() if fr},
            "locked": {oid: [list(r) for r in rs] for oid, rs in self.locked.items() if rs},
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, folder: str | os.PathLike[str], d: dict[str, Any], source: str = "project file") -> "Project":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ProjectError(f"{source} is not a Roto Studio project; choose a .roto folder or its project.json.")
        version = d.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ProjectError(f"{source} has no valid version number; it may be damaged. Restore a backup.")
        if version > VERSION:
            raise ProjectError(
                f"{source} was saved by a newer Roto Studio (format {version}, this one reads up to "
                f"{VERSION}); update Roto Studio to open it.")
        try:
            p = cls(folder, _str((d.get("media") or {}).get("path", "")))
            p.objects = [ObjectInfo.from_dict(o) for o in d.get("objects") or []]
            ids = {o.id for o in p.objects}
            if len(ids) != len(p.objects):
                raise ValueError("duplicate object ids")
            for oid, frames in (d.get("prompts") or {}).items():
                _check_id(oid)
                p.prompts[oid] = {int(f): Prompt.from_dict(v) for f, v in frames.items()}
            for oid, ranges in (d.get("locked") or {}).items():
                _check_id(oid)
                p.locked[oid] = [(int(a), int(b)) for a, b in ranges]
            settings = d.get("settings") or {}
            if not isinstance(settings, dict):
                raise ValueError("settings must be an object")
            p.settings = settings
        except ProjectError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ProjectError(f"{source} is damaged ({_short(exc)}); restore a backup or the autosave.") from None
        return p

    def save(self, folder: str | os.PathLike[str] | None = None) -> Path:
        """Write project.json atomically (Save, or Save As to a new folder), drop the autosave."""
        if folder is not None:
            folder = Path(folder)
            if folder.resolve() != self.folder.resolve():
                self._copy_masks_to(folder)
                if self.media_path and not Path(self.media_path).is_absolute():
                    self.media_path = str(self.media_ref().resolve())
                self.folder = folder
                self._masks = None
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(self.project_file, json.dumps(self.to_dict(), indent=1))
        try:
            self.autosave_file.unlink()
        except FileNotFoundError:
            pass
        return self.project_file

    def autosave(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(self.autosave_file, json.dumps(self.to_dict(), indent=1))
        return self.autosave_file

    def _copy_masks_to(self, folder: Path) -> None:
        import shutil

        src = self.folder / MASKS_DIR
        if src.is_dir():
            shutil.copytree(src, folder / MASKS_DIR, dirs_exist_ok=True)


def create_project(folder: str | os.PathLike[str], media_path: str | os.PathLike[str]) -> Project:
    """A new project in `folder` (created) for the media; the media path is kept as chosen."""
    folder = Path(folder)
    if (folder / PROJECT_FILE).exists():
        raise ProjectError(f"{folder} already holds a project; open it or choose another folder.")
    media = Path(media_path)
    p = Project(folder, str(media.resolve() if media.exists() else media))
    return p


def project_folder(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.name in (PROJECT_FILE, AUTOSAVE_FILE):
        return path.parent
    return path


def _read_json(file: Path, source: str) -> dict[str, Any]:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"no project at {file.parent}; check the path or create a project first.") from None
    except IsADirectoryError:
        raise ProjectError(f"{file} is a folder, not a project file.") from None
    except OSError as exc:
        raise ProjectError(f"cannot read {file} ({exc.strerror}); check its permissions.") from None
    if not raw.strip():
        raise ProjectError(f"{source} is empty (an interrupted save?); restore a backup or the autosave.")
    try:
        data: dict[str, Any] = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        return data
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError):
        raise ProjectError(f"{source} is damaged (not valid JSON); restore a backup or the autosave.") from None


def load_project(path: str | os.PathLike[str], use_autosave: bool = False) -> Project:
    folder = project_folder(path)
    file = folder / (AUTOSAVE_FILE if use_autosave else PROJECT_FILE)
    source = f"the project file {file}"
    if use_autosave and not file.exists():
        raise ProjectError(f"there is no autosave in {folder}.")
    d = _read_json(file, source)
    p = Project.from_dict(folder, d, source)
    return p


def autosave_is_newer(path: str | os.PathLike[str]) -> bool:
    """True when an autosave exists that is newer than the saved project (e.g. after a crash)."""
    folder = project_folder(path)
    auto, main = folder / AUTOSAVE_FILE, folder / PROJECT_FILE
    if not auto.exists():
        return False
    return not main.exists() or auto.stat().st_mtime_ns >= main.stat().st_mtime_ns


def _check_id(v: object) -> str:
    if not isinstance(v, str) or not v or "/" in v or "\\" in v or v in (".", "..") or len(v) > 200:
        raise ValueError(f"bad object id {v!r:.40}")
    return v


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError("expected text")
    return v


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true/false")
    return v


def _num(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError("expected a number")
    return float(v)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def _short(exc: Exception) -> str:
    if isinstance(exc, (AttributeError, TypeError)):
        return "a field has the wrong type"
    if isinstance(exc, KeyError):
        return f"the field {exc.args[0]!r:.40} is missing"
    s = str(exc) or type(exc).__name__
    return s[:80]
