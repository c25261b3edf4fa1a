"""Objects and their edges: the objects panel (add, delete, rename, colour, show, lock, reorder,
select) and the edge panel of the current object, each change an undo step."""

from __future__ import annotations

from PySide6.QtCore import QObject

from roto_studio.ui import undo as cmd


class ObjectsController(QObject):
    def __init__(self, shot, panel, edges, edges_dock, parent=None):
        super().__init__(parent)
        self.shot, self.panel, self.edges, self.edges_dock = shot, panel, edges, edges_dock
        panel.addRequested.connect(self.add_object)
        panel.deleteRequested.connect(self.delete_object)
        panel.renameRequested.connect(lambda o, n: self.change_object(o, "name", n))
        panel.colorRequested.connect(lambda o, c: self.change_object(o, "color", tuple(c)))
        panel.visibleRequested.connect(lambda o, v: self.change_object(o, "visible", v))
        panel.lockRequested.connect(lambda o, v: self.change_object(o, "locked", v))
        panel.moveRequested.connect(lambda o, d: shot.undo.push(cmd.ObjectMove(shot, o, d)))
        panel.currentChanged.connect(self.select_object)
        edges.settingChanged.connect(self.change_edge)
        edges.resetRequested.connect(self.reset_edges)
        shot.opened.connect(self._opened)
        shot.objectChanged.connect(lambda _o: self.refresh())
        shot.changed.connect(lambda _o, _f: self.refresh())

    def _opened(self) -> None:
        objects = self.shot.project.objects
        self.shot.current_obj = objects[0].id if objects else None
        self.refresh()

    def refresh(self) -> None:
        """The objects panel and the edge panel show the project as it is now."""
        p = self.shot.project
        if p is None:
            self.panel.refresh([], None)
            self.refresh_edges()
            return
        ids = [o.id for o in p.objects]
        if self.shot.current_obj not in ids:
            self.shot.current_obj = ids[0] if ids else None
        self.panel.refresh(p.objects, self.shot.current_obj)
        self.refresh_edges()

    # ------------------------------------------------------------------ objects
    def add_object(self) -> None:
        if self.shot.project is not None:
            self.shot.undo.push(cmd.ObjectAdd(self.shot))

    def delete_object(self, obj_id: str) -> None:
        if self.shot.project is not None:
            self.shot.undo.push(cmd.ObjectDelete(self.shot, obj_id))

    def change_object(self, obj_id: str, attr: str, value) -> None:
        p = self.shot.project
        if p is None:
            return
        if attr == "name":
            other = p.object_by_name(value)
            if other is not None and other.id != obj_id:
                self.shot.say(f"an object named {value!r} already exists; choose another name.")
                self.refresh()
                return
        self.shot.undo.push(cmd.ObjectChange(self.shot, obj_id, attr, value))

    def select_object(self, obj_id: str) -> None:
        self.shot.select_object(obj_id)

    def select_object_number(self, k: int) -> None:
        p = self.shot.project
        if p is not None and 1 <= k <= len(p.objects):
            self.select_object(p.objects[k - 1].id)

    # ------------------------------------------------------------------ edges
    def refresh_edges(self) -> None:
        p, oid = self.shot.project, self.shot.current_obj
        if p is None or oid is None or oid not in {o.id for o in p.objects}:
            self.edges.set_settings(None, enabled=False)
            return
        obj = p.object(oid)
        self.edges.set_settings(obj.refine, enabled=not obj.locked)
        self.edges_dock.setWindowTitle(f"Edges: {obj.name}")

    def change_edge(self, key: str, value) -> None:
        """An edge setting of the current object changed (undoable; a slider drag is one step).
        The canvas shows the result at once: the frame reader computes the final alpha off the
        GUI thread."""
        p, oid = self.shot.project, self.shot.current_obj
        if p is None or oid is None:
            return
        from roto_studio.core import refine

        obj = p.object(oid)
        settings = refine.changed({**refine.normalize(obj.refine), key: value})
        if settings == refine.changed(obj.refine):
            return
        self.shot.undo.push(cmd.RefineChange(self.shot, obj.id, settings, key))

    def reset_edges(self) -> None:
        p, oid = self.shot.project, self.shot.current_obj
        if p is None or oid is None:
            return
        if p.object(oid).refine:
            self.shot.undo.push(cmd.RefineChange(self.shot, oid, {}, ""))
