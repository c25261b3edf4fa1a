"""Shapes in the window: the outline view (View > Shapes: the fitted shapes and their points on
every frame, keys marked on the timeline, the point count of the frame in the Edges panel), the
tolerance and point budget (saved in the project's settings), and File > Export shapes....

The shapes are computed in a worker thread (workers.shapes_work, a Job) over the in/out range and
come back as a value; an edit of the project makes them stale and, while the view is on, they are
computed again a moment later. The GUI thread only draws them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from roto_studio.ops.shapes import DEFAULT_KEY_TOLERANCE
from roto_studio.ui.shapes_dialog import ExportShapesDialog, ShapesPanel
from roto_studio.ui.shapes_overlay import ShapesOverlay
from roto_studio.workers.jobs import Job
from roto_studio.workers.shapes_work import export_shapes, project_shapes
from roto_studio.ui import settings_keys as keys

DEFAULTS = {"tolerance": 1.0, "max_points": 0, "key_tolerance": DEFAULT_KEY_TOLERANCE}


class ShapesController(QObject):
    viewToggled = Signal(bool)  # the outline view was turned on or off

    def __init__(self, shot, canvas, timeline, edges, parent=None):
        super().__init__(parent)
        self.shot, self.canvas, self.timeline = shot, canvas, timeline
        self.panel = ShapesPanel()
        edges.add_section(self.panel)
        self.overlay = ShapesOverlay(canvas.scene())
        self.on = False
        self.doc = None  # the last computed ShapeDoc
        self.doc_key: tuple | None = None  # (settings, frames) it was computed for; None when stale
        self.job: Job | None = None
        self.job_key: tuple | None = None  # the _key() self.job computes for
        self.export_job: Job | None = None
        self.dialog: ExportShapesDialog | None = None
        self.points = 0  # points drawn on the current frame
        self._later = QTimer(self, singleShot=True, interval=400)
        self._later.timeout.connect(self._compute_if_on)
        self.panel.settingsChanged.connect(self._settings_changed)
        shot.opened.connect(self._opened)
        shot.closing.connect(self._closing)
        shot.frameChanged.connect(lambda _f: self.redraw())
        shot.changed.connect(lambda _o, _f: self._stale())

    # ------------------------------------------------------------------ state
    def settings(self) -> dict:
        p = self.shot.project
        saved = (p.settings.get("shapes") if p is not None else None) or {}
        return {**DEFAULTS, **{k: saved[k] for k in DEFAULTS if k in saved}}

    def _frames(self) -> list[int]:
        rng = self.timeline.frame_range()
        return [f for f in self.timeline.numbers if rng is None or rng[0] <= f <= rng[1]]

    def _key(self):
        s = self.settings()
        return (s["tolerance"], s["max_points"], tuple(self._frames()), s["key_tolerance"])

    def _opened(self) -> None:
        s = self.settings()
        self.panel.set_values(s["tolerance"], s["max_points"], s["key_tolerance"])
        self.doc = self.doc_key = None
        self.redraw()
        self._compute_if_on()

    def _closing(self) -> None:
        for job in (self.job, self.export_job):
            if job is not None and job.is_running():
                job.cancel()
                job.wait(10)
        self.job = self.export_job = None
        self.doc = self.doc_key = None
        self.overlay.clear()

    def _settings_changed(self, tolerance: float, max_points: int, key_tolerance: float) -> None:
        p = self.shot.project
        if p is None:
            return
        p.settings["shapes"] = {"tolerance": float(tolerance), "max_points": int(max_points),
                                "key_tolerance": float(key_tolerance)}
        self._stale()

    def _stale(self) -> None:
        self.doc_key = None
        if self.on:
            self._later.start()

    # ------------------------------------------------------------------ the outline view
    def toggle_view(self) -> None:
        self.set_view(not self.on)

    def set_view(self, on: bool) -> None:
        self.on = bool(on)
        self.viewToggled.emit(self.on)
        if self.on:
            self._compute_if_on()
        self.redraw()

    def _compute_if_on(self) -> None:
        if self.on and self.shot.project is not None and self.doc_key != self._key():
            self.compute()

    def compute(self) -> Job | None:
        """Fit the visible objects' shapes over the in/out range in a worker thread."""
        shot = self.shot
        if shot.project is None or shot.media is None:
            return None
        if self.job is not None and self.job.is_running():
            self.job.cancel()
        project, media, key = shot.project, shot.media, self._key()
        s = self.settings()

        def run(progress, cancelled):
            return project_shapes(project, media, key[2], s["tolerance"], s["max_points"],
                                  progress=progress, cancelled=cancelled, key_tolerance=s["key_tolerance"])

        job = Job(run, "shapes", parent=self)
        job.progress.connect(self._progress)
        job.succeeded.connect(self._computed)
        job.failed.connect(self._failed)
        self.job, self.job_key = job, key
        self.panel.count.setText("Shapes: fitting…")
        job.start()
        return job

    def _progress(self, done: int, total: int, _info) -> None:
        if self.sender() is self.job:
            self.panel.count.setText(f"Shapes: fitting {done} / {total} frames…")

    def _computed(self, doc) -> None:
        job = self.sender()
        if job is not self.job or self.shot.project is None:
            return
        self.doc, self.doc_key = doc, self.job_key
        if self.doc_key != self._key():  # edited meanwhile
            self._later.start()
        self.redraw()

    def _failed(self, message: str) -> None:
        self.panel.count.setText("Shapes: failed")
        self.shot.say(message)

    def redraw(self) -> None:
        frame = self.shot.frame
        doc = self.doc if self.on else None
        self.points = self.overlay.show(doc, frame) if frame is not None else 0
        keys = sorted({f for o in doc.objects for f in o.key_frames()}) if doc is not None else []
        self.timeline.set_shape_keys(keys)
        if not self.on:
            self.panel.count.setText("Shapes: off (View > Shapes)")
        elif doc is not None and frame is not None:
            per = ", ".join(f"{o.name} {sum(len(k) for _, k in o.at(frame))}" for o in doc.objects)
            shapes = sum(len(o.at(frame)) for o in doc.objects)
            self.panel.count.setText(f"This frame: {self.points} points in {shapes} shapes ({per}); "
                                     f"{len(keys)} key frames")

    # ------------------------------------------------------------------ export
    def export_dialog(self) -> None:
        shot = self.shot
        if shot.project is None:
            return
        folder = keys.SHAPES_FOLDER.read(shot.settings, str(Path.home() / "roto_exports" / shot.project.name))
        fmt = keys.SHAPES_FORMAT.read(shot.settings)
        self.dialog = ExportShapesDialog(shot.project.name, str(folder), str(fmt), self.canvas.window())
        self.dialog.accepted.connect(self._dialog_accepted)
        self.dialog.open()

    def _dialog_accepted(self) -> None:
        d = self.dialog
        assert d is not None, "export_dialog made the dialog whose accepted signal calls this"
        out = d.out.text().strip()
        if not out:
            self.shot.say("choose where to write the shapes, then export again.")
            return
        fmt = d.chosen_format()
        keys.SHAPES_FORMAT.write(self.shot.settings, fmt)
        keys.SHAPES_FOLDER.write(self.shot.settings, str(Path(out).parent if fmt != "svg" else Path(out)))
        self.export_to(out, fmt)

    def export_to(self, out, fmt: str) -> Job | None:
        """Write the shapes (fitted now, or the outline view's when current) to `out` as `fmt`."""
        shot = self.shot
        if shot.project is None or shot.media is None:
            return None
        if self.export_job is not None and self.export_job.is_running():
            shot.say("shapes are being exported; wait for them to finish.")
            return None
        project, media, key, s = shot.project, shot.media, self._key(), self.settings()
        ready = self.doc if self.doc_key == key else None

        def run(progress, cancelled):
            doc = ready or project_shapes(project, media, key[2], s["tolerance"], s["max_points"],
                                          progress=progress, cancelled=cancelled,
                                          key_tolerance=s["key_tolerance"])
            return export_shapes(doc, out, fmt, project.name)

        job = Job(run, "shape export", parent=self)
        job.succeeded.connect(self._exported)
        job.failed.connect(self._failed)
        self.export_job = job
        shot.status("Exporting shapes…", 0)
        job.start()
        return job

    def _exported(self, paths) -> None:
        where = paths[0] if len(paths) == 1 else Path(paths[0]).parent
        self.shot.say(f"Exported shapes: {len(paths)} file{'s' if len(paths) != 1 else ''} at {where}.", error=False)
