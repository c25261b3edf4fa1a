"""Prompting and tools: clicks, boxes and brush strokes on the canvas become undoable mask edits;
clicks and boxes are sent to the model service (the newest request per frame wins) and its
answers fill in the edits. Also the tool choice, the view mode and the overlay opacity."""

from __future__ import annotations

import copy

from PySide6.QtCore import QObject

from roto_studio.ui import undo as cmd
from roto_studio.ui.canvas import VIEW_MODES, rasterize_stroke

TOOL_HINTS = {"click": "Click: left includes, Alt / right click excludes",
              "box": "Box: drag around the object",
              "brush": "Brush: drag paints, Alt / right drag erases, [ ] size",
              "pan": "Pan: drag to move the view"}


class PromptController(QObject):
    def __init__(self, shot, canvas, timeline, mode_combo, opacity, tool_label, pixel_label, parent=None):
        super().__init__(parent)
        self.shot, self.canvas, self.timeline = shot, canvas, timeline
        self.mode_combo, self.tool_label, self.pixel_label = mode_combo, tool_label, pixel_label
        self._requests: dict[int, tuple] = {}  # request id -> (MaskEdit, 'after' | 'before')
        self._forgotten: dict[int, cmd.MaskEdit] = {}
        canvas.pointClicked.connect(self.on_click)
        canvas.boxDrawn.connect(self.on_box)
        canvas.strokeFinished.connect(self.on_stroke)
        canvas.hovered.connect(self._hover)
        mode_combo.currentIndexChanged.connect(lambda _i: self.set_view_mode(mode_combo.currentData()))
        opacity.valueChanged.connect(lambda v: canvas.set_opacity(v / 100))
        shot.frameChanged.connect(lambda _f: self.show_prompt())
        shot.objectChanged.connect(lambda _o: self.show_prompt())
        shot.changed.connect(lambda _o, _f: self.show_prompt())
        shot.serviceChanged.connect(self._connect_service)
        shot.closing.connect(self._requests.clear)
        shot.maskRequested.connect(self.request_mask)
        shot.requestForgotten.connect(self.forget_request)

    def _connect_service(self, service) -> None:
        self._requests.clear()
        if service is not None:
            service.promptDone.connect(self._mask_ready)
            service.dropped.connect(self._on_dropped)
            service.failed.connect(self._on_failed)

    # ------------------------------------------------------------------ tools and view
    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.tool_label.setText(TOOL_HINTS[tool])
        self.shot.status(TOOL_HINTS[tool], 4000)

    def scale_brush(self, factor: float) -> None:
        self.canvas.set_brush_radius(self.canvas.brush_radius * factor)

    def set_view_mode(self, mode: str) -> None:
        self.canvas.set_view_mode(mode)
        i = self.mode_combo.findData(mode)
        if i != self.mode_combo.currentIndex():
            self.mode_combo.setCurrentIndex(i)

    def next_view_mode(self) -> None:
        i = (VIEW_MODES.index(self.canvas.view_mode) + 1) % len(VIEW_MODES)
        self.set_view_mode(VIEW_MODES[i])

    def _hover(self, x: float, y: float) -> None:
        self.pixel_label.setText(f"x {x:.1f}  y {y:.1f}  zoom {self.canvas.zoom() * 100:.0f}%")

    def show_prompt(self) -> None:
        p, oid, frame = self.shot.project, self.shot.current_obj, self.shot.frame
        if p is None or oid is None or frame is None:
            self.canvas.set_prompt([], None)
            return
        fp = p.prompts.get(oid, {}).get(frame)
        color = next((o.color for o in p.objects if o.id == oid), (255, 255, 255))
        self.canvas.set_prompt(fp.clicks if fp else [], fp.box if fp else None, color)

    # ------------------------------------------------------------------ editing
    def _editable(self) -> bool:
        shot = self.shot
        if shot.project is None or shot.frame is None:
            return False
        if shot.current_obj is None:
            shot.undo.push(cmd.ObjectAdd(shot))
        if shot.project.is_locked(shot.current_obj, shot.frame):
            shot.say("this object is locked on this frame; unlock it (Objects panel or Ctrl+Shift+L) to edit.")
            return False
        return True

    def _current_prompt(self):
        from roto_studio.core.prompt import Prompt

        fp = self.shot.project.prompts.get(self.shot.current_obj, {}).get(self.shot.frame)
        return copy.deepcopy(fp) if fp else Prompt()

    def on_click(self, x: float, y: float, label: int) -> None:
        if not self._editable():
            return
        before = self._current_prompt()
        after = before.with_click(float(x), float(y), int(label))
        self._prompt_edit(before, after, "Include click" if label else "Exclude click")

    def on_box(self, x1, y1, x2, y2) -> None:
        if not self._editable():
            return
        before = self._current_prompt()
        after = before.with_box((float(x1), float(y1), float(x2), float(y2)))  # the clicks go
        self._prompt_edit(before, after, "Box")

    def _prompt_edit(self, before, after, text: str) -> None:
        shot = self.shot
        oid, frame = shot.current_obj, shot.frame
        waiting = any((c.obj_id, c.frame) == (oid, frame) for c, _ in self._requests.values())
        command = cmd.MaskEdit(shot, oid, frame, shot.project.masks.get(oid, frame), before, after,
                               text=text, after_known=False, before_known=not waiting)
        shot.undo.push(command)
        self.request_mask(oid, frame, command, "after")

    def on_stroke(self, points, radius: float, add: bool) -> None:
        if not self._editable() or self.canvas.image is None:
            return
        import numpy as np

        shot = self.shot
        oid, frame = shot.current_obj, shot.frame
        h, w = self.canvas.image.shape[:2]
        before = shot.project.masks.get(oid, frame)
        alpha = before.copy() if before is not None else np.zeros((h, w), np.float32)
        hit = rasterize_stroke((h, w), points, radius)
        alpha[hit] = 1.0 if add else 0.0
        fp_before = self._current_prompt()
        fp_after = fp_before.keyed()
        shot.undo.push(cmd.MaskEdit(shot, oid, frame, before, fp_before, fp_after, after_alpha=alpha,
                                    text="Brush" if add else "Erase"))

    def clear_mask(self) -> None:
        if not self._editable():
            return
        from roto_studio.core.prompt import Prompt

        shot = self.shot
        oid, frame = shot.current_obj, shot.frame
        before = shot.project.masks.get(oid, frame)
        shot.undo.push(cmd.MaskEdit(shot, oid, frame, before, self._current_prompt(), Prompt(),
                                    text="Clear mask"))

    def lock_range(self, lock: bool = True) -> None:
        shot = self.shot
        rng = self.timeline.frame_range()
        if shot.project is not None and shot.current_obj and rng:
            shot.undo.push(cmd.LockRange(shot, shot.current_obj, rng[0], rng[1], lock))

    def unlock_range(self) -> None:
        self.lock_range(False)

    # ------------------------------------------------------------------ the model's answers
    def request_mask(self, obj_id: str, frame: int, command, which: str = "after") -> None:
        """Ask the engine (newest request wins) for the mask of command's prompt `which`."""
        prompt = command.after_prompt if which == "after" else command.before_prompt
        service = self.shot.service
        if service is None or prompt is None or prompt.is_empty():
            return
        self.forget_request(command)
        rid = service.prompt(obj_id, frame, prompt.for_model())
        self._requests[rid] = (command, which)
        self.shot.status("Segmenting…")

    def forget_request(self, command) -> None:
        for rid, (c, _w) in list(self._requests.items()):
            if c is command:
                del self._requests[rid]
                self._forgotten[rid] = c

    def pending_requests(self) -> int:
        return len(self._requests)

    def _mask_ready(self, rid: int, obj_id: str, frame: int, alpha) -> None:
        entry = self._requests.pop(rid, None)
        if entry is None:
            # the engine stored a mask for a click that was undone meanwhile: put the state back
            c = self._forgotten.pop(rid, None)
            if c is not None and not c.active:
                c.restore_before()
            return
        command, which = entry
        if which == "after":
            command.set_after(alpha)
            # a later click on this frame, made before this answer came, started from this mask
            for c, w in self._requests.values():
                if (c.obj_id, c.frame) == (obj_id, frame) and not c.before_known \
                        and c.before_prompt == command.after_prompt:
                    c.set_before(alpha)
        else:
            command.set_before(alpha)
        if any(r > rid and (c.obj_id, c.frame) == (obj_id, frame) for r, (c, _w) in self._requests.items()):
            return  # a newer click on this frame is on its way; it wins
        self.shot.project.set_prompt(obj_id, frame, copy.deepcopy(
            command.after_prompt if which == "after" else command.before_prompt))
        self.shot.status("Mask updated", 2000)
        self.shot.project_changed(obj_id, frame)

    def _on_failed(self, rid: int, message: str, retry) -> None:
        self._requests.pop(rid, None)  # the service controller tells the user

    def _on_dropped(self, rid: int) -> None:
        # a newer click on the same frame replaced this one before it ran
        self._requests.pop(rid, None)
