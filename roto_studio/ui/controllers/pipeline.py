"""The window's pipeline entries (File menu): import another tool's mask sequence as the current
object's keyframes (ops.mask_import; files read on a worker thread, stored by the GUI thread
with one undo step), and conform an edit into a folder of shot projects (ops.conform, on a
worker thread; the summary is shown when it is done)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog

from roto_studio.ui import undo as cmd
from roto_studio.workers.jobs import Job

MASK_FILTER = "Masks (*.png *.exr *.tif *.tiff);;All files (*)"
EDIT_FILTER = "Edits (*.edl *.xml *.fcpxml *.otio);;All files (*)"


class PipelineController(QObject):
    finished = Signal(str, str)  # what ('masks' | 'conform'), the message shown

    def __init__(self, shot, parent_widget, parent=None):
        super().__init__(parent)
        self.shot, self.parent_widget = shot, parent_widget
        self.job: Job | None = None
        self._spec = ""
        self._out = ""

    def _busy(self) -> bool:
        if (self.job is not None and self.job.is_running()) or self.shot.job_running():
            self.shot.say("a job is running; wait for it or press Esc to cancel it.")
            return True
        return False

    # ------------------------------------------------------------------ masks in
    def import_masks_dialog(self) -> None:
        if self.shot.project is None:
            return
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Import masks: choose one file of the sequence",
                                              "", MASK_FILTER)
        if path:
            from roto_studio.core.media import sequence_pattern_for

            self.import_masks(sequence_pattern_for(path) or path)

    def import_masks(self, spec, offset: int = 0) -> Job | None:
        """Read the masks `spec` names (folder, pattern or file) and store them as keyframes of the
        current object (a new object when none is selected)."""
        shot = self.shot
        if shot.project is None or shot.media is None or self._busy():
            return None
        from roto_studio.ops.mask_import import find_masks, match_frames, read_masks

        numbers, width, height = list(shot.media.frame_numbers), int(shot.media.width), int(shot.media.height)

        def run(progress, cancelled):
            plan = match_frames(find_masks(spec), numbers, offset)
            return plan, read_masks(plan, width, height, lambda d, t: progress(d, t, None), cancelled)

        job = Job(run, "import masks")
        self._spec = str(spec)
        # bound methods of this GUI-thread object: Qt queues the calls to the GUI thread
        job.succeeded.connect(self._store_masks)
        job.failed.connect(self._masks_failed)
        self.job = job.start()
        return job

    def _masks_failed(self, text: str) -> None:
        self._done("masks", text, error=True)

    def _store_masks(self, result) -> None:
        from roto_studio.ops.mask_import import store_keyframes
        from roto_studio.workers.model_work import mask_png_bytes

        shot = self.shot
        if shot.project is None:
            return
        plan, alphas = result
        project = shot.project
        if shot.current_obj is None:
            name = Path(self._spec).stem.split(".")[0] or None
            obj = project.add_object(None if name is None or project.object_by_name(name) else name)
            shot.select_object(obj.id)
        oid = shot.current_obj
        before = {(oid, f): mask_png_bytes(project.masks, oid, f) for f in alphas}
        written = store_keyframes(project, oid, alphas)
        if written:
            shot.undo.push(cmd.PropagationRun(shot, {k: v for k, v in before.items() if k[1] in written},
                                              f"Import masks ({len(written)} frames)"))
        shot.project_changed(oid)
        left = f"; {len(plan.outside)} had no plate frame" if plan.outside else ""
        self._done("masks", f"Imported {len(written)} masks as keyframes of {project.object(oid).name}{left}.")

    # ------------------------------------------------------------------ conform
    def conform_dialog(self) -> None:
        edit, _ = QFileDialog.getOpenFileName(self.parent_widget, "Conform an edit", "", EDIT_FILTER)
        if not edit:
            return
        root = QFileDialog.getExistingDirectory(self.parent_widget, "Folder holding the plates")
        if not root:
            return
        out = QFileDialog.getExistingDirectory(self.parent_widget, "Folder for the shot projects")
        if not out:
            return
        handles, ok = QInputDialog.getInt(self.parent_widget, "Conform", "Handles (frames each side)", 8, 0, 1000)
        if ok:
            self.conform_to(edit, root, out, handles)

    def conform_to(self, edit, media_root, out_dir, handles: int = 0, fps: float = 24.0) -> Job | None:
        if self._busy():
            return None
        from roto_studio.ops.conform import summary
        from roto_studio.ops.conform import plan, write_projects

        def run(progress, cancelled):
            result = plan(edit, media_root, handles, fps)
            write_projects(result, out_dir, handles, edit)
            return summary(result, handles)

        job = Job(run, "conform")
        self._out = str(out_dir)
        job.succeeded.connect(self._conformed)
        job.failed.connect(self._conform_failed)
        self.job = job.start()
        return job

    def _conformed(self, text: str) -> None:
        self._done("conform", text.splitlines()[-1] + f" (projects in {self._out})", error=False)

    def _conform_failed(self, text: str) -> None:
        self._done("conform", text, error=True)

    def _done(self, what: str, text: str, error: bool = False) -> None:
        self.shot.say(text, error=error)
        self.finished.emit(what, text)
