"""What export and the clean plate read of a shot: its objects and their final alphas.

An `Alphas` is built from a project (`Project.alphas()`: the project's own masks) or by the
render stages (a store that serves the render's mattes for some objects and the masks for the
rest). Export and clean plate take one of these and an open plate, never a whole project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from roto_studio.core.errors import ProjectError

if TYPE_CHECKING:
    from roto_studio.core.project import ObjectInfo


class AlphaStore(Protocol):
    """Stored alphas per object and frame (core.masks.MaskStore, or a render's source store)."""

    def get(self, obj_id: str, frame: int) -> npt.NDArray[Any] | None: ...

    def has(self, obj_id: str, frame: int) -> bool: ...

    def frames(self, obj_id: str) -> list[int]: ...

    def path(self, obj_id: str, frame: int) -> Path: ...


@dataclass
class Alphas:
    """A shot's objects and where their alphas come from.

    name: the shot's name for `{project}` in file names; project_file and plate_path: what the
    files' provenance records (plate_path is used when the plate itself cannot be opened);
    fps: the shot's saved frame rate, used when there is no plate to ask.
    """

    name: str
    objects: list[ObjectInfo]
    store: AlphaStore
    project_file: Path | None = None
    plate_path: Path | None = None
    fps: str | None = None

    def object(self, obj_id: str) -> ObjectInfo:
        for o in self.objects:
            if o.id == obj_id:
                return o
        raise ProjectError(f"no object with id {obj_id!r} in this shot.")

    def frames(self, obj_id: str) -> list[int]:
        return self.store.frames(obj_id)

    def stored(self, obj_id: str, frame: int) -> npt.NDArray[Any] | None:
        """The stored alpha, without the object's edge settings."""
        return self.store.get(obj_id, frame)

    def final_alpha(self, obj_id: str, frame: int) -> np.ndarray | None:
        """The stored alpha with the object's edge settings applied (None when there is none)."""
        from roto_studio.core import refine

        return refine.final_alpha_from_store(self.store, obj_id, frame, self.object(obj_id).refine)
