"""Undo commands. Each edit of the project goes through one of these on the shot's QUndoStack.

A command changes the project (core) and then tells the shot what to redraw via
`shot.project_changed(obj_id=None, frame=None)`. Mask bytes a command keeps for undo go into
the shot's `undo_payloads` (core.undo_payloads: a memory limit, older payloads in a file in the
project's cache folder), never straight onto the stack.
"""

from __future__ import annotations

import copy
import os
import shutil
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from roto_studio.core.project import ObjectInfo

# numpy / OpenCV are imported when a mask is first encoded, not at start-up


def encode_alpha(alpha) -> bytes | None:
    """Lossless, compact copy of a mask (16-bit PNG, the mask store's own precision)."""
    if alpha is None:
        return None
    import cv2
    import numpy as np

    from roto_studio.core.masks import to_alpha

    data = np.round(to_alpha(alpha) * 65535.0).astype(np.uint16)
    ok, buf = cv2.imencode(".png", data, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError("could not encode a mask for undo")
    return buf.tobytes()


def decode_alpha(data: bytes | None):
    if data is None:
        return None
    import cv2
    import numpy as np

    from roto_studio.core.masks import to_alpha

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError("could not decode a mask kept for undo")
    return to_alpha(image)


def keep(shot, data: dict):
    """A payload for `data` in the shot's bounded store (plain, unbounded, before a project opens)."""
    from roto_studio.core.undo_payloads import plain

    store = getattr(shot, "undo_payloads", None)
    return store.add(data) if store is not None else plain(data)


def _put(masks, obj_id: str, frame: int, alpha) -> None:
    if alpha is None:
        masks.delete(obj_id, frame)
    else:
        masks.set(obj_id, frame, alpha)


class MaskEdit(QUndoCommand):
    """A click, box, brush stroke or cleared mask on one object and frame.

    For a click the mask comes back from the engine later: `after_known` is False until
    set_after(). When the click came while an earlier answer for the same frame was still on its
    way, the mask before it is not known either (`before_known`); undo then asks again.
    """

    def __init__(self, shot, obj_id: str, frame: int, before_alpha, before_prompt,
                 after_prompt, after_alpha=None, text: str = "Edit mask", after_known: bool = True,
                 before_known: bool = True):
        super().__init__(text)
        self.shot = shot
        self.obj_id, self.frame = obj_id, int(frame)
        self._before = keep(shot, {"mask": encode_alpha(before_alpha)})
        self.before_prompt = copy.deepcopy(before_prompt)
        self.after_prompt = copy.deepcopy(after_prompt)
        self._after = keep(shot, {"mask": encode_alpha(after_alpha)})
        self.after_known = after_known
        self.before_known = before_known
        self.active = False  # True while done (not undone)
        self._pushed = False

    @property
    def before(self) -> bytes | None:
        return self._before.get()["mask"]

    @property
    def after(self) -> bytes | None:
        return self._after.get()["mask"]

    def set_after(self, alpha) -> None:
        self._after = keep(self.shot, {"mask": encode_alpha(alpha)})
        self.after_known = True

    def set_before(self, alpha) -> None:
        self._before = keep(self.shot, {"mask": encode_alpha(alpha)})
        self.before_known = True

    def redo(self) -> None:
        p = self.shot.project
        self.active = True
        p.set_prompt(self.obj_id, self.frame, copy.deepcopy(self.after_prompt))
        if self.after_known:
            _put(p.masks, self.obj_id, self.frame, decode_alpha(self.after))
        elif self._pushed:
            self.shot.request_mask(self.obj_id, self.frame, self, "after")  # its answer never came
        self._pushed = True
        self.shot.project_changed(self.obj_id, self.frame)

    def undo(self) -> None:
        self.active = False
        self.shot.forget_request(self)
        self.restore_before()
        if not self.before_known and not self.before_prompt.is_empty():
            self.shot.request_mask(self.obj_id, self.frame, self, "before")

    def restore_before(self) -> None:
        p = self.shot.project
        p.set_prompt(self.obj_id, self.frame, copy.deepcopy(self.before_prompt))
        _put(p.masks, self.obj_id, self.frame, decode_alpha(self.before))
        self.shot.project_changed(self.obj_id, self.frame)


class PropagationRun(QUndoCommand):
    """A propagation run: undo puts back the masks it replaced (and removes the ones it added)."""

    def __init__(self, shot, before: dict, text: str = "Propagate"):
        super().__init__(text)
        self.shot = shot
        # {(obj_id, frame): 16-bit PNG bytes | None} for every frame the run wrote
        self._before = keep(shot, before)
        self._after = None  # the same for the run's own masks, taken at the first undo
        self._first = True

    @property
    def before(self) -> dict:
        return self._before.get()

    @property
    def after(self) -> dict | None:
        return self._after.get() if self._after is not None else None

    def redo(self) -> None:
        if self._first:  # the run already wrote its masks
            self._first = False
            return
        masks = self.shot.project.masks
        for (oid, f), data in (self.after or {}).items():
            _put(masks, oid, f, decode_alpha(data))
        self.shot.project_changed()

    def undo(self) -> None:
        masks = self.shot.project.masks
        before = self.before
        if self._after is None:
            from roto_studio.workers.model_work import mask_png_bytes

            self._after = keep(self.shot, {(oid, f): mask_png_bytes(masks, oid, f) for (oid, f) in before})
        for (oid, f), data in before.items():
            _put(masks, oid, f, decode_alpha(data))
        self.shot.project_changed()


class ObjectAdd(QUndoCommand):
    def __init__(self, shot, name=None, color=None):
        super().__init__("Add object")
        self.shot = shot
        self.name, self.color = name, color
        self.obj: ObjectInfo | None = None
        self.index = 0  # of the object in the project's list (set on the first redo)

    def redo(self) -> None:
        p = self.shot.project
        if self.obj is None:
            self.obj = p.add_object(self.name, self.color)
            self.index = len(p.objects) - 1
        else:
            p.objects.insert(self.index, self.obj)
        self.shot.select_object(self.obj.id)
        self.shot.project_changed()

    def undo(self) -> None:
        p = self.shot.project
        assert self.obj is not None, "QUndoStack.push runs redo before any undo"
        p.remove_object(self.obj.id, delete_masks=True)
        self.shot.project_changed()


class ObjectDelete(QUndoCommand):
    """Deletes an object; its masks move to a trash folder in the project so undo restores them."""

    def __init__(self, shot, obj_id: str):
        super().__init__("Delete object")
        self.shot = shot
        self.obj_id = obj_id
        self.saved: dict[str, Any] | None = None  # set by redo: what undo puts back

    def _dirs(self):
        masks = self.shot.project.masks
        trash = self.shot.project.folder / ".trash"
        if self.saved is None:
            import uuid

            name = f"{self.obj_id}-{uuid.uuid4().hex[:8]}"
        else:
            name = self.saved["trash"]
        return masks.object_folder(self.obj_id), trash / name, name

    def redo(self) -> None:
        p = self.shot.project
        obj = p.object(self.obj_id)
        live, trash, name = self._dirs()
        self.saved = {"obj": obj, "index": p.objects.index(obj), "prompts": p.prompts.get(self.obj_id),
                      "locked": p.locked.get(self.obj_id), "trash": name}
        if live.is_dir():
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.replace(live, trash)
        p.remove_object(self.obj_id, delete_masks=False)
        p.masks.clear_cache()
        self.shot.project_changed()

    def undo(self) -> None:
        p = self.shot.project
        s = self.saved
        assert s is not None, "QUndoStack.push runs redo before any undo"
        live, trash, _ = self._dirs()
        if trash.is_dir():
            if live.exists():
                shutil.rmtree(live)
            live.parent.mkdir(parents=True, exist_ok=True)
            os.replace(trash, live)
        p.objects.insert(s["index"], s["obj"])
        if s["prompts"] is not None:
            p.prompts[self.obj_id] = s["prompts"]
        if s["locked"] is not None:
            p.locked[self.obj_id] = s["locked"]
        p.masks.clear_cache()
        self.shot.select_object(self.obj_id)
        self.shot.project_changed()


class ObjectChange(QUndoCommand):
    """Rename, colour, show/hide, lock: one attribute of an ObjectInfo."""

    LABELS = {"name": "Rename object", "color": "Change colour", "visible": "Show / hide object",
              "locked": "Lock / unlock object", "refine": "Edge settings"}

    def __init__(self, shot, obj_id: str, attr: str, value):
        super().__init__(self.LABELS.get(attr, "Change object"))
        self.shot = shot
        self.obj_id, self.attr = obj_id, attr
        self.new = copy.deepcopy(value)
        self.old = copy.deepcopy(getattr(shot.project.object(obj_id), attr))

    def _set(self, value) -> None:
        setattr(self.shot.project.object(self.obj_id), self.attr, copy.deepcopy(value))
        self.shot.project_changed(self.obj_id)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class ObjectMove(QUndoCommand):
    def __init__(self, shot, obj_id: str, delta: int):
        super().__init__("Reorder objects")
        self.shot = shot
        self.obj_id, self.delta = obj_id, delta

    def _move(self, delta: int) -> None:
        objs = self.shot.project.objects
        i = next(k for k, o in enumerate(objs) if o.id == self.obj_id)
        j = min(max(i + delta, 0), len(objs) - 1)
        objs.insert(j, objs.pop(i))
        self.shot.project_changed()

    def redo(self) -> None:
        self._move(self.delta)

    def undo(self) -> None:
        self._move(-self.delta)


class LockRange(QUndoCommand):
    def __init__(self, shot, obj_id: str, first: int, last: int, lock: bool = True):
        super().__init__("Lock range" if lock else "Unlock range")
        self.shot = shot
        self.obj_id, self.first, self.last, self.lock = obj_id, first, last, lock
        self.old = list(shot.project.locked.get(obj_id, []))

    def redo(self) -> None:
        p = self.shot.project
        (p.lock_range if self.lock else p.unlock_range)(self.obj_id, self.first, self.last)
        self.shot.project_changed(self.obj_id)

    def undo(self) -> None:
        self.shot.project.locked[self.obj_id] = list(self.old)
        self.shot.project_changed(self.obj_id)


class RefineChange(QUndoCommand):
    """One edge setting of an object (ObjectInfo.refine). Consecutive changes of the same setting
    of the same object (a slider drag) merge into one undo step."""

    MERGE_SECONDS = 1.5

    def __init__(self, shot, obj_id: str, settings: dict, key: str = ""):
        super().__init__("Edge settings")
        import time

        self.shot = shot
        self.obj_id, self.key = obj_id, key
        self.old = copy.deepcopy(shot.project.object(obj_id).refine)
        self.new = copy.deepcopy(settings)
        self.at = time.monotonic()

    def id(self) -> int:
        return 7001

    def mergeWith(self, other) -> bool:
        if not isinstance(other, RefineChange) or other.obj_id != self.obj_id or other.key != self.key \
                or not self.key or other.at - self.at > self.MERGE_SECONDS:
            return False
        self.new, self.at = copy.deepcopy(other.new), other.at
        return True

    def _set(self, value) -> None:
        self.shot.project.object(self.obj_id).refine = copy.deepcopy(value)
        self.shot.project_changed(self.obj_id)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class ProjectSetting(QUndoCommand):
    """One entry of project.settings (e.g. the shot's backend); `after(value)` is called on do/undo."""

    MISSING = object()

    def __init__(self, shot, key: str, value, text: str, after=None):
        super().__init__(text)
        self.shot, self.key = shot, key
        self.new = copy.deepcopy(value)
        old = shot.project.settings.get(key, self.MISSING)
        self.old = old if old is self.MISSING else copy.deepcopy(old)
        self.after = after

    def _set(self, value) -> None:
        settings = self.shot.project.settings
        if value is self.MISSING:
            settings.pop(self.key, None)
        else:
            settings[self.key] = copy.deepcopy(value)
        if self.after is not None:
            self.after(None if value is self.MISSING else value)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)
