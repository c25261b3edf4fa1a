"""Long jobs and their bookkeeping: propagation and matting (run by the model service), export and
clean plate (workers.jobs.Job threads), one at a time, with the progress bar, the cancel button
(Esc keeps the finished frames), an undo step for what a run replaced, and the check for
propagated frames that need attention."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from roto_studio.ui import undo as cmd
from roto_studio.ui.tasks import PropagationTask, ServiceTask
from roto_studio.workers.jobs import Job, JobKind
from roto_studio.workers.model_work import matte_frames, snapshot_masks
from roto_studio.ui import settings_keys as keys

BUSY = "a job is running; wait for it or press Esc to cancel it."


class JobsController(QObject):
    attentionChecked = Signal(object)  # {obj_id: [frames needing attention]} after a propagation

    def __init__(self, shot, timeline, progress, job_label, cancel_button, parent_widget, parent=None):
        super().__init__(parent)
        self.shot, self.timeline = shot, timeline
        self.progress, self.job_label, self.cancel_button = progress, job_label, cancel_button
        self.parent_widget = parent_widget  # for dialogs
        cancel_button.clicked.connect(self.cancel_job)
        self.interrupted: dict | None = None  # a propagation the model server's loss cut short
        self._attention_job: Job | None = None  # the check after a propagation (check_attention)
        shot.closing.connect(self._closing)
        shot.serviceChanged.connect(self._connect_service)

    # ------------------------------------------------------------------ bookkeeping
    def _closing(self) -> None:
        for running in (self._attention_job, self.shot.job):  # both stop before the media closes
            if running is not None and running.is_running():
                running.cancel()
                running.wait(10)
        job = self.shot.job
        if job is not None:
            self.shot.job = None  # a service task ends with its service; its late signals are ignored
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            self.timeline.busy = None

    def _connect_service(self, service) -> None:
        if service is None:
            return
        service.progress.connect(self._on_service_progress)
        service.frameWritten.connect(self._on_frame_written)
        service.jobFinished.connect(self._on_job_finished)
        service.jobDone.connect(self._on_service_job_done)
        service.failed.connect(self._on_service_failed)

    def _task(self, rid: int, kind=ServiceTask):
        """The running service task with request id `rid`, else None."""
        job = self.shot.job
        return job if isinstance(job, kind) and job.request_id == rid else None

    def _start_job(self, job: Job, kind: JobKind, span=None) -> None:
        self.shot.job, self.shot.job_kind = job, kind
        job.progress.connect(lambda d, t, i, j=job: self._job_progress(d, t, i) if self.shot.job is j else None)
        job.ended.connect(lambda j=job: self._job_ended() if self.shot.job is j else None)
        self._show_job_started(kind, span)
        job.start()

    def _show_job_started(self, kind: JobKind, span=None) -> None:
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.job_label.setText(f"{kind.capitalize()}: starting…")
        self.timeline.busy = span
        self.shot.jobStarted.emit(kind)

    def run_service_job(self, kind: JobKind, fn, *args, on_done=None, span=None):
        """Run fn(engine, progress, cancelled, *args) in the model thread as the window's job
        (progress row, Esc cancels); on_done(task) runs in the GUI thread when it ends."""
        shot = self.shot
        if shot.project is None or shot.service is None or self._refuse_if_busy():
            return None

        def ended():
            if on_done is not None:
                on_done(task)
            self._job_ended()

        task = ServiceTask(shot.service, kind, ended)
        shot.job, shot.job_kind = task, kind
        self._show_job_started(kind, span)
        task.request_id = shot.service.job(fn, *args)
        return task

    def _refuse_if_busy(self) -> bool:
        if self.shot.job_running():
            self.shot.say(BUSY)
            return True
        return False

    def cancel_job(self) -> bool:
        """Cancel the running job (finished frames are kept); False when none runs."""
        if not self.shot.job_running():
            return False
        self.shot.job.cancel()
        self.job_label.setText(f"{self.shot.job_kind.capitalize()}: cancelling (finished frames are kept)…")
        return True

    def _job_progress(self, done: int, total: int, info) -> None:
        job = self.shot.job
        if job is None:
            return
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        fps, left = job.rate()
        left_txt = f", {left:.0f} s left" if left is not None and done else ""
        self.job_label.setText(f"{self.shot.job_kind.capitalize()}: {done} / {total} frames, {fps:.1f} fps{left_txt}")

    def _job_ended(self) -> None:
        job, kind = self.shot.job, self.shot.job_kind
        if job is None:
            return
        state = job.state
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.timeline.busy = None
        out = job.run_info.get("out_dir", "")
        done = {JobKind.PROPAGATE: self._propagation_done, JobKind.MATTE: self._matte_done}.get(kind)
        if done is not None:
            done(job)
        written = {JobKind.EXPORT: ("Exported {n} files to {out}.", "Export cancelled; finished files were kept."),
                   JobKind.CLEAN_PLATE: ("Wrote {n} clean plate frames to {out}.",
                                         "Clean plate cancelled; finished frames were kept.")}.get(kind)
        if written is not None and state in ("succeeded", "cancelled"):
            text = written[0] if state == "succeeded" else written[1]
            self.job_label.setText(text.format(n=len(job.result or []), out=out))
        if state == "failed":
            if kind != JobKind.PROPAGATE:  # a propagation says what it kept
                self.job_label.setText(f"{kind.capitalize()} failed.")
            self.shot.say(job.error or f"{kind} failed.")
        self.shot.jobEnded.emit(kind, state)

    # ------------------------------------------------------------------ the service's reports
    def _on_service_progress(self, rid: int, done: int, total: int) -> None:
        task = self._task(rid)
        if task is not None:
            task.done, task.total = done, total
            self._job_progress(done, total, None)

    def _on_frame_written(self, rid: int, frame: int, written) -> None:
        if self._task(rid, PropagationTask) is not None:
            self.shot.masksWritten.emit(frame, list(written))

    def _on_job_finished(self, rid: int, result) -> None:
        task = self._task(rid, PropagationTask)
        if task is None:
            return
        if result.error:  # the run failed after writing result.written: the failure comes with it
            task.result = result
            self._task_failed(task, result.error, result.retry)
        else:
            task.finish("cancelled" if result.cancelled else "succeeded", result)

    def _on_service_failed(self, rid: int, message: str, retry) -> None:
        task = self._task(rid)
        if task is None or task.state != "running":
            return  # not a job (the service controller tells the user), or handled with its result
        self._task_failed(task, message, retry)

    def _task_failed(self, task, message: str, retry) -> None:
        """A job failed; a propagation cut short by the model server's loss can be resumed, and
        one that ran out of GPU memory is tried once more at a smaller size."""
        retry = tuple(retry or ())
        if ("smaller" in retry and isinstance(task, PropagationTask)
                and not task.smaller_retry and self.shot.server is not None):
            self._retry_smaller(task, message)
            return
        if "resume" in retry and isinstance(task, PropagationTask):
            message = self._interrupted(task)
        task.error = message
        task.finish("failed", task.result, message)

    def _on_service_job_done(self, rid: int, state: str, value) -> None:
        task = self._task(rid)
        if task is not None:
            task.finish(state, value)

    def _retry_smaller(self, task, message: str) -> None:
        """The model server's GPU ran out of memory during a propagation: once, a new server
        session at a smaller SAM 2 size runs the rest (finished frames are kept, as on resume)."""
        self._interrupted(task)
        if task.state == "running":
            task.finish("cancelled", task.result)
        self.shot.say("The model server ran out of GPU memory; trying once more at a smaller SAM 2 size "
                      "(finished frames are kept).", error=False)
        self.shot.service.call(lambda engine: engine.retry("smaller"))
        again = self.resume()
        if again is not None:
            again.smaller_retry = True

    # ------------------------------------------------------------------ resuming after the server died
    def _interrupted(self, task) -> str:
        """Remember a propagation the model server's loss cut short; the one line to show."""
        self.interrupted, n, last = task.interruption(self.interrupted)
        where = f" after frame {last}" if last is not None else ""
        local = self.shot.server is not None and self.shot.server.mode == "local"
        then = "It is restarting: press Ctrl+R to resume." if local else \
            "Check that it runs (Settings > Models run in), then press Ctrl+R to resume."
        return f"The model server stopped during the propagation{where}; {n} finished frames are kept. {then}"

    def resume(self):
        """Ctrl+R: run the interrupted propagation again; the frames it finished are kept as they
        are (the model replays them to rebuild its memory, so the rest matches an uninterrupted
        run) and writing picks up after the last finished frame."""
        info = self.interrupted
        shot = self.shot
        if info is None:
            shot.say("nothing to resume: no job was interrupted by the model server.", error=False)
            return None
        if shot.project is None or self._refuse_if_busy():
            return None
        return self._propagate(info["obj_ids"], info["start"], info["direction"], info["stop"], info["done"])

    # ------------------------------------------------------------------ propagation
    def propagation_objects(self, all_objects: bool = False) -> list[str]:
        """The objects F (the current one) or Propagate all (each with a mask here) runs on."""
        shot = self.shot
        if shot.project is None or shot.frame is None:
            return []
        if not all_objects:
            oid = shot.current_obj
            return [oid] if oid is not None and shot.project.masks.has(oid, shot.frame) else []
        return [o.id for o in shot.project.objects if shot.project.masks.has(o.id, shot.frame)]

    def name_propagation_actions(self, actions: dict) -> None:
        """The Track menu's propagation entries say which objects they run on."""
        p = self.shot.project
        cur = p.object(self.shot.current_obj).name if p is not None and self.shot.current_obj in \
            {o.id for o in p.objects} else "the current object"
        for name, way in (("prop_forward", "forward"), ("prop_backward", "backward"), ("prop_both", "both ways")):
            actions[name].setText(f"Propagate {cur} {way}")
        ids = self.propagation_objects(True)
        n = len(p.objects) if p is not None else 0
        actions["prop_all"].setText(f"Propagate all objects forward ({len(ids)} of {n} have a mask here)")
        actions["prop_all"].setToolTip("Propagate every object that has a mask on this frame forward "
                                       f"({len(ids)} of {n}) (Ctrl+Shift+F)")
        actions["prop_all"].setIconText("Propagate all")

    def propagate_objects(self, obj_ids, direction: str = "forward"):
        """Propagate these objects (those with a mask on this frame) over the in/out range."""
        return self.propagate(direction, all_objects=True, only=set(obj_ids))

    def propagate_all(self, direction: str = "forward"):
        """Propagate every object with a mask on this frame over the in/out range (one run)."""
        return self.propagate(direction, all_objects=True)

    def propagate(self, direction: str = "forward", all_objects: bool = False, only=None):
        """Propagate the current object (or every object with a mask here) from this frame over
        the in/out range (F, B, Shift+F; Ctrl+Shift+F for all)."""
        shot = self.shot
        if shot.project is None or shot.frame is None:
            return None
        if self._refuse_if_busy():
            return None
        ids = [o for o in self.propagation_objects(all_objects) if only is None or o in only]
        if not ids:
            shot.say("make a mask on this frame first (click on the object), then propagate."
                     if not all_objects else "no object has a mask on this frame: click on one, then propagate.")
            return None
        names = ", ".join(shot.project.object(o).name for o in ids)
        others = len(shot.project.objects) - len(ids)
        tail = f" ({others} other object{'s' if others != 1 else ''} not propagated: Ctrl+Shift+F runs all " \
            f"with a mask here)" if others and not all_objects else ""
        shot.status(f"Propagating {names} {direction}{tail}.", 8000)
        numbers = self.timeline.numbers
        a, b = self.timeline.frame_range() or (numbers[0], numbers[-1])
        start = shot.frame
        a, b = min(a, start), max(b, start)
        lo, hi = {"forward": (start, b), "backward": (a, start), "both": (a, b)}[direction]
        stop = {"forward": b, "backward": a, "both": (a, b)}[direction]
        self.interrupted = None  # a new run: the interrupted one is not resumed any more
        return self._propagate(ids, start, direction, stop)

    def _propagate(self, obj_ids, start, direction, stop, done=None):
        shot = self.shot
        lo, hi = (stop if direction == "both" else (start, stop) if direction == "forward" else (stop, start))
        lo, hi = min(lo, start), max(hi, start)
        masks, service = shot.project.masks, shot.service
        task = PropagationTask(service, self._job_ended, list(obj_ids), start, direction, stop)
        task.skip = done

        def snapshot(progress, cancelled):  # every object's masks the run may replace, for undo
            before = {}
            for oid in obj_ids:
                before.update(snapshot_masks(masks, oid, lo, hi, start, cancelled))
            return before

        prep = Job(snapshot, "propagation")
        task.prep = prep

        def go(before):
            task.before = before
            if task.cancel_requested:
                task.finish("cancelled", None)
                return
            task.request_id = service.propagate(task.obj_ids, start, direction, stop, skip=task.skip)

        prep.succeeded.connect(go)
        prep.failed.connect(lambda msg: task.finish("failed", None, msg))
        prep.cancelled.connect(lambda: task.finish("cancelled", None))
        shot.job, shot.job_kind = task, JobKind.PROPAGATE
        self._show_job_started(JobKind.PROPAGATE, (lo, hi))
        task.started_at = time.perf_counter()
        prep.start()
        return task

    def _propagation_done(self, task) -> None:
        result = task.result
        written = result.written if result is not None else {}
        before = {}
        for oid, frames in written.items():
            for f in frames:
                before[(oid, f)] = task.before.get((oid, f))
        n = sum(len(v) for v in written.values())
        if before:
            self.shot.undo.push(cmd.PropagationRun(self.shot, before, f"Propagate {task.direction} ({n} frames)"))
        self.shot.project_changed()
        if written:
            self.check_attention(written)
        if task.state == "succeeded" and self.interrupted and self.interrupted["key"] == task.key:
            self.interrupted = None  # resumed to the end
        if task.state == "succeeded":
            skipped = "; ".join(result.skipped.values()) if result is not None and result.skipped else ""
            names = ", ".join(self.shot.project.object(o).name for o in written
                              if o in {x.id for x in self.shot.project.objects})
            self.job_label.setText(f"Propagated {n} frames" + (f" of {names}" if names else "") + "."
                                   + (f" {skipped}." if skipped else ""))
        elif task.state == "cancelled":
            self.job_label.setText(f"Propagation cancelled; kept {n} finished frames.")
        elif task.state == "failed":
            self.job_label.setText(f"Propagation stopped by an error; kept {n} finished frames.")

    def check_attention(self, written: dict) -> None:
        """After a propagation: in a thread, mark frames whose mask area jumps versus the frame
        before (or empties), or that may be leaking or drifting onto the background (ops.leak_check);
        shown in red on the timeline with the reason in its tooltip, A / Shift+A jump to them."""
        from roto_studio.ops.leak_check import leak_frames
        from roto_studio.workers.jobs import attention_frames

        project, media, numbers = self.shot.project, self.shot.media, list(self.timeline.numbers)
        written = {oid: list(frames) for oid, frames in written.items()}
        keys = {oid: [f for f in project.prompted_frames(oid)] for oid in written}

        def run(progress, cancelled):
            found = {}
            for oid, frames in written.items():
                why = {f: "the mask's area jumps by more than 30% (or empties) versus the frame before"
                       for f in attention_frames(project.masks, oid, frames, numbers, cancelled=cancelled)}
                for f, reason in leak_frames(project.masks, media, oid, frames, numbers, keys[oid],
                                             cancelled).items():
                    why[f] = f"{why[f]}; {reason}" if f in why else reason
                found[oid] = why
            return found

        def done(found):
            if self.shot.project is not project:
                return
            marks = project.settings.setdefault("attention", {})
            reasons = project.settings.setdefault("attention_why", {})
            for oid, why in found.items():
                keep = set(marks.get(oid, [])) - set(written[oid])
                marks[oid] = sorted(keep | set(why))
                old = {k: v for k, v in reasons.get(oid, {}).items() if int(k) in keep}
                reasons[oid] = {**old, **{str(f): r for f, r in why.items()}}
            total = sum(len(v) for v in found.values())
            if total:
                self.shot.status(f"{total} propagated frame{'s' if total != 1 else ''} may need a look "
                                 "(A jumps to the next; the tooltip on its red mark says why).", 8000)
            self.attentionChecked.emit({oid: sorted(why) for oid, why in found.items()})

        job = Job(run, "attention check", parent=self)
        job.succeeded.connect(done)
        self._attention_job = job
        job.start()

    # ------------------------------------------------------------------ matting
    def _range_frames(self, obj_id: str) -> list[int]:
        """Frames of obj_id with a mask inside the in/out range (all of them without a range)."""
        rng = self.timeline.frame_range()
        frames = self.shot.project.masks.frames(obj_id)
        return [f for f in frames if rng is None or rng[0] <= f <= rng[1]]

    def matte(self, backend: str | None = None, band: int | None = None):
        """Turn the current object's masks over the in/out range into soft mattes (ViTMatte when
        its weights are installed, classical matting otherwise), in the model thread (Esc cancels;
        undo puts back the masks it replaced)."""
        shot = self.shot
        if shot.project is None or self._refuse_if_busy():
            return None
        oid = shot.current_obj
        if oid is None:
            return None
        frames = [f for f in self._range_frames(oid) if not shot.project.is_locked(oid, f)]
        if not frames:
            shot.say("this object has no unlocked masks in the range; click or propagate first, then matte.")
            return None
        backend = backend or str(keys.MATTE_BACKEND.read(shot.settings))
        task = ServiceTask(shot.service, JobKind.MATTE, self._job_ended)
        task.run_info = {"frames": len(frames), "backend": backend}
        shot.job, shot.job_kind = task, JobKind.MATTE
        self._show_job_started(JobKind.MATTE, (frames[0], frames[-1]))
        task.request_id = shot.service.job(matte_frames, oid, frames, backend, band, task.before)
        return task

    def _matte_done(self, task) -> None:
        written = task.result or []
        before = dict(task.before)  # every frame the run touched, also when it stopped early
        n = len(before)
        if before:
            self.shot.undo.push(cmd.PropagationRun(self.shot, before, f"Matte edges ({n} frames)"))
        self.shot.project_changed()
        if task.state == "succeeded":
            self.job_label.setText(f"Matted {len(written)} frames.")
        elif task.state == "cancelled":
            self.job_label.setText(f"Matting cancelled; kept {n} finished frames.")

    # ------------------------------------------------------------------ export and clean plate
    def export_dialog(self) -> None:
        shot = self.shot
        if shot.project is None:
            return
        from roto_studio.ui.dialogs import ExportDialog

        last = keys.EXPORT_FOLDER.read(shot.settings, str(Path.home() / "roto_exports" / shot.project.name))
        config = getattr(shot.media, "colour_config", None)
        d = ExportDialog(shot.project, self.timeline.frame_range(), last, self.parent_widget,
                         spaces=config.spaces() if config is not None else (),
                         plate_space=getattr(shot.media, "colorspace", "") or "")
        if d.exec():
            out = d.out.text().strip()
            if not out:
                shot.say("choose a folder to export to.")
                return
            keys.EXPORT_FOLDER.write(shot.settings, out)
            self.export_to(out, d.options())

    def export_to(self, out_dir, options) -> Job | None:
        if self.shot.project is None or self._refuse_if_busy():
            return None
        from roto_studio.core.export import export_project

        project = self.shot.project

        def run(progress, cancelled):
            from roto_studio.ops.provenance import model_entries

            if options.provenance is None:  # the models, for the files' provenance
                options.provenance = {"models": model_entries(project)}
            return export_project(project, out_dir, options, progress=lambda d, t: progress(d, t, None),
                                  cancel=cancelled)

        job = Job(run, JobKind.EXPORT.value)
        job.run_info = {"out_dir": str(out_dir)}
        self._start_job(job, JobKind.EXPORT)
        return job

    def clean_plate_to(self, out_dir) -> Job | None:
        """Remove the current object over the in/out range and write the clean frames to out_dir
        (a cancellable job with progress)."""
        shot = self.shot
        if shot.project is None or shot.current_obj is None or self._refuse_if_busy():
            return None
        oid, project = shot.current_obj, shot.project
        if not project.masks.frames(oid):
            shot.say("this object has no masks yet; segment or propagate it first, then make a clean plate.")
            return None
        rng = self.timeline.frame_range()
        frames = [f for f in self.timeline.numbers if rng is None or rng[0] <= f <= rng[1]]

        host = shot.server
        from roto_studio.ops.cleanplate import make_inpainter_for, settings_for, write_clean_plate

        # read on the GUI thread, which owns the project; the job gets values
        settings, alphas, open_plate = settings_for(project), project.alphas(), project.open_media

        def run(progress, cancelled):
            inpainter = None
            if host is not None:  # the fill runs on the model server, with the project's settings
                inpainter = make_inpainter_for(settings, client=host.client())
            with open_plate() as media:
                return write_clean_plate(alphas, media, oid, out_dir, settings, frames=frames, inpainter=inpainter,
                                         progress=lambda d, t: progress(d, t, None), cancel=cancelled)

        job = Job(run, JobKind.CLEAN_PLATE.value)
        job.run_info = {"out_dir": str(out_dir)}
        self._start_job(job, JobKind.CLEAN_PLATE, (frames[0], frames[-1]) if frames else None)
        return job
