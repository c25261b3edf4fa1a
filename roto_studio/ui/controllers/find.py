"""Finding objects by name on the current frame: the Find field's phrases go to the model thread
(workers.find_work), and what comes back becomes one object per instance ("person 1", "person
2"...), each with its mask as a keyframe on that frame, all in one undo step (a QUndoStack macro)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from roto_studio.ui import undo as cmd


class FindController(QObject):
    objectsFound = Signal(object)  # [obj_id] of the objects one Find made

    def __init__(self, shot, bar, parent=None):
        super().__init__(parent)
        self.shot, self.bar = shot, bar
        self._request = None
        self._text = ""
        bar.findRequested.connect(self.find)
        shot.serviceChanged.connect(self._connect_service)
        shot.opened.connect(lambda: bar.setEnabled(True))
        bar.setEnabled(shot.project is not None)

    def _connect_service(self, service) -> None:
        self._request = None
        self.bar.set_busy(False)
        if service is not None:
            service.callDone.connect(self._answered)
            service.failed.connect(self._failed)

    def find(self, text: str, min_score: float) -> int | None:
        from roto_studio.models.text.find import split_phrases
        from roto_studio.workers.find_work import find_on_frame

        shot = self.shot
        phrases = split_phrases(text)
        if shot.project is None or shot.service is None or shot.frame is None:
            return None
        if not phrases:
            shot.say("type what to find, e.g. person, dog")
            return None
        self._text = ", ".join(phrases)
        self.bar.set_busy(True)
        shot.status(f"finding {self._text} on frame {shot.frame}…")
        self._request = shot.service.call(find_on_frame, int(shot.frame), phrases, float(min_score))
        return self._request

    def _failed(self, rid: int, message: str, _retry) -> None:
        if rid == self._request:
            self._request = None
            self.bar.set_busy(False)
            self.shot.say(message)
            self.objectsFound.emit([])

    def _answered(self, rid: int, answer) -> None:
        if rid != self._request:
            return
        self._request = None
        self.bar.set_busy(False)
        shot = self.shot
        if shot.project is None:
            return
        found, frame = answer["found"], answer["frame"]
        if not found:
            shot.say(f"nothing found for {self._text} on frame {frame} ({answer['backend']}).", error=False)
            self.objectsFound.emit([])
            return
        before = {o.id for o in shot.project.objects}
        self.add_objects(frame, found)
        self.objectsFound.emit([o.id for o in shot.project.objects if o.id not in before])
        shot.status(f"found {len(found)} objects for {self._text} ({answer['backend']})", 8000)

    def add_objects(self, frame: int, found) -> None:
        """One undo step: an object per (phrase, alpha, score), its mask a keyframe on `frame`."""
        from roto_studio.core.prompt import Prompt
        from roto_studio.models.text.backends import next_name

        shot = self.shot
        shot.undo.beginMacro(f"Find {self._text or 'objects'}")
        try:
            for phrase, alpha, _score in found:
                add = cmd.ObjectAdd(shot, next_name({o.name for o in shot.project.objects}, phrase))
                shot.undo.push(add)
                obj = add.obj
                assert obj is not None, "push ran the command's redo"
                shot.undo.push(cmd.MaskEdit(shot, obj.id, frame, None, Prompt(),
                                            Prompt(has_mask=True), alpha, text=f"Mask of {obj.name}"))
        finally:
            shot.undo.endMacro()
