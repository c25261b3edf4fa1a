"""Track through the shot: with the Find field's "Track through the shot" box ticked, Enter
follows the phrases from this frame to the end of the range with SAM 3 video (as `roto-studio
segment --text ... --backend sam3 --propagate forward`), and every instance, also one that
appears later, becomes an object named after its phrase, in one undo step. Without SAM 3 the
phrases are found on this frame (Grounding DINO + SAM 2) and those objects are propagated with
the shot's backend, and the window says so. The model thread writes only masks, under fresh ids;
the objects are made here, on the GUI thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand

from roto_studio.workers.find_work import track_text
from roto_studio.workers.jobs import JobKind

if TYPE_CHECKING:
    from roto_studio.core.project import ObjectInfo


class TrackedObjects(QUndoCommand):
    """Objects a tracking run made (their masks are already in the store): undo removes them and
    their masks, redo puts both back."""

    def __init__(self, shot, created, written, text: str):
        super().__init__(text)
        self.shot, self.created, self.written = shot, created, written
        self.objects: list[ObjectInfo] | None = None  # ObjectInfo per created id, made at the first redo
        self.saved: dict | None = None  # {(obj_id, frame): PNG bytes} kept at undo

    def redo(self) -> None:
        from roto_studio.core.project import PALETTE, ObjectInfo
        from roto_studio.core.prompt import Prompt
        from roto_studio.models.text.backends import next_name

        p = self.shot.project
        if self.objects is None:
            made: list[ObjectInfo] = []
            for oid, phrase, _first in self.created:
                name = next_name({o.name for o in p.objects} | {o.name for o in made}, phrase)
                r, g, b = PALETTE[(len(p.objects) + len(made)) % len(PALETTE)]
                made.append(ObjectInfo(id=oid, name=name, color=(r, g, b)))
            self.objects = made
        elif self.saved is not None:
            from roto_studio.ui.undo import decode_alpha

            for (oid, f), data in self.saved.items():
                if data is not None:
                    p.masks.set(oid, f, decode_alpha(data))
        for obj, (oid, _phrase, first) in zip(self.objects, self.created):
            p.objects.append(obj)
            p.set_prompt(oid, first, Prompt(has_mask=True))  # the first frame is its keyframe
        if self.objects:
            self.shot.select_object(self.objects[0].id)
        self.shot.project_changed()

    def undo(self) -> None:
        from roto_studio.workers.model_work import mask_png_bytes

        p = self.shot.project
        self.saved = {(oid, f): mask_png_bytes(p.masks, oid, f) for oid, fs in self.written.items() for f in fs}
        for obj in self.objects or []:
            if obj in p.objects:
                p.remove_object(obj.id, delete_masks=True)
        self.shot.select_object(p.objects[0].id if p.objects else None)
        self.shot.project_changed()


class TrackTextController(QObject):
    def __init__(self, shot, bar, find, jobs, timeline, parent=None):
        super().__init__(parent)
        self.shot, self.bar, self.find, self.jobs, self.timeline = shot, bar, find, jobs, timeline
        self._phrases: list[str] = []
        self._then_propagate: set[str] | None = None
        bar.trackRequested.connect(self.track)
        find.objectsFound.connect(self._found)

    def track(self, text: str, min_score: float):
        """Follow the phrases from this frame forward over the range (SAM 3 video)."""
        from roto_studio.models.text.find import split_phrases

        shot = self.shot
        phrases = split_phrases(text)
        if shot.project is None or shot.frame is None or shot.service is None:
            return None
        if not phrases:
            shot.say("type what to track, e.g. person, dog")
            return None
        self._phrases = phrases
        numbers = self.timeline.numbers
        rng = self.timeline.frame_range() or (numbers[0], numbers[-1])
        stop = max(rng[1], shot.frame)
        taken = {o.id for o in shot.project.objects}
        self.bar.set_busy(True)
        task = self.jobs.run_service_job(JobKind.TRACK, track_text, phrases, int(shot.frame), "forward", stop,
                                         float(min_score), taken, on_done=self._done, span=(shot.frame, stop))
        if task is None:
            self.bar.set_busy(False)
        return task

    def _done(self, task) -> None:
        self.bar.set_busy(False)
        shot = self.shot
        value = task.result or {}
        if task.state not in ("succeeded", "cancelled") or shot.project is None:
            return
        if value.get("fallback"):
            # no SAM 3: find on this frame, then propagate those objects with the shot's backend
            before = {o.id for o in shot.project.objects}
            self._then_propagate = before
            shot.say("SAM 3 is not installed: finding the phrases on this frame, then propagating them "
                     "with the shot's backend (Settings > models: SAM 3 tracks new instances too).", error=False)
            self.find.find(", ".join(self._phrases), self.bar.score.value())
            return
        created, written = value.get("created", []), value.get("written", {})
        if not created:
            shot.say(f"nothing found for {', '.join(self._phrases)} by SAM 3 video.", error=False)
            return
        n = sum(len(v) for v in written.values())
        shot.undo.push(TrackedObjects(shot, created, written, f"Track {', '.join(self._phrases)}"))
        self.jobs.job_label.setText(f"Tracked {len(created)} objects through the shot ({n} masks, SAM 3 video).")

    def _found(self, obj_ids) -> None:
        """After the fallback's Find made its objects: propagate just those."""
        if self._then_propagate is None or self.shot.project is None:
            return
        self._then_propagate = None
        if obj_ids:
            self.jobs.propagate_objects(list(obj_ids), "forward")
