"""Playback and the timeline: which frame is shown, loading its pixels and masks off the GUI
thread (workers.jobs.FrameReader), stepping, playing, the in / out range, the timeline marks and
jumping to frames that need attention."""

from __future__ import annotations

import bisect

from PySide6.QtCore import QObject, QTimer, Signal

from roto_studio.workers.jobs import FrameReader


class PlaybackController(QObject):
    frameShown = Signal(int)  # after the canvas shows a frame (image and masks)

    def __init__(self, shot, canvas, timeline, frame_spin, parent=None):
        super().__init__(parent)
        self.shot, self.canvas, self.timeline, self.frame_spin = shot, canvas, timeline, frame_spin
        self.reader: FrameReader | None = None
        self.shown_frame: int | None = None
        self._play_dir = 0
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._play_tick)
        timeline.frameRequested.connect(self.set_frame)
        frame_spin.valueChanged.connect(self.set_frame)
        shot.opened.connect(self._opened)
        shot.closing.connect(self._closing)
        shot.changed.connect(self._changed)
        shot.masksWritten.connect(self._masks_written)
        shot.aboutToSave.connect(self.store_view_state)
        shot.objectChanged.connect(lambda _o: self.refresh_marks())

    # ------------------------------------------------------------------ shot life
    def _opened(self) -> None:
        shot = self.shot
        numbers = list(shot.media.frame_numbers)
        self.reader = FrameReader(self._load_view, numbers, prefetch=self._prefetch, parent=self)
        self.reader.frameReady.connect(self._show_loaded)
        self.reader.failed.connect(lambda f, m: shot.say(m))
        self.timeline.set_frames(numbers)
        self.frame_spin.blockSignals(True)
        self.frame_spin.setRange(numbers[0], numbers[-1])
        self.frame_spin.blockSignals(False)
        rng = shot.project.settings.get("range")
        if rng:
            self.timeline.set_range(*rng)
        self.canvas.image = None
        shot.frame = None
        self.set_frame(int(shot.project.settings.get("frame", numbers[0])))
        self.refresh_marks()

    def _closing(self) -> None:
        self.stop()
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def _changed(self, obj_id, frame) -> None:
        self.refresh_marks()
        if frame is None or frame == self.shot.frame:
            self.refresh_view()

    def _masks_written(self, frame: int, obj_ids) -> None:
        if frame == self.shot.frame:
            self.refresh_view()  # the canvas shows frames as they finish
        if self.shot.current_obj in obj_ids:
            self.timeline.done.append((frame, frame))
            self.timeline.update()

    def store_view_state(self) -> None:
        """The current frame and range go into the project settings (saved with it)."""
        project = self.shot.project
        if project is None:
            return
        project.settings["frame"] = self.shot.frame
        rng = self.timeline.frame_range()
        if rng:
            project.settings["range"] = list(rng)

    # ------------------------------------------------------------------ frames
    def _load_view(self, frame: int):
        """Worker thread: the image, the visible objects' alphas for `frame` and their overlay
        (composited here, not on the GUI thread)."""
        source = self.shot.view_source  # the clean-plate view: its frames, no masks over them
        image = source(frame) if source is not None else None
        if image is not None and image.shape[:2] == (self.shot.media.height, self.shot.media.width):
            return image, [], (self.canvas.overlay_key(), None)
        image = self.shot.media.read(frame)
        layers = []
        project = self.shot.project
        for o in list(project.objects):
            if not o.visible:
                continue
            a = project.final_alpha(o.id, frame)
            if a is not None and a.shape == image.shape[:2]:
                layers.append((a, o.color))
        key = self.canvas.overlay_key()
        return image, layers, (key, self.canvas.make_overlay(image, layers, key))

    def _prefetch(self, frame: int) -> None:
        self.shot.media.read(frame)

    def set_frame(self, frame: int) -> None:
        if self.shot.media is None or self.reader is None:  # no shot, or it is closing
            return
        numbers = self.timeline.numbers
        if frame not in numbers:
            i = min(bisect.bisect_left(numbers, frame), len(numbers) - 1)
            frame = numbers[i]
        frame = int(frame)
        self.timeline.set_current(frame)
        self.frame_spin.blockSignals(True)
        self.frame_spin.setValue(frame)
        self.frame_spin.blockSignals(False)
        self.shot.set_frame_value(frame)
        self.reader.request(frame)

    def refresh_view(self) -> None:
        if self.reader is not None and self.shot.frame is not None:
            self.reader.request(self.shot.frame)

    def _show_loaded(self, frame: int, result) -> None:
        if frame != self.shot.frame:
            return  # a newer frame was asked for; keep painting cheap
        image, layers, overlay = result
        self.canvas.show_frame(image, layers, overlay)
        self.shown_frame = frame
        self.frameShown.emit(frame)

    def step(self, n: int) -> None:
        if self.shot.frame is None:
            return
        numbers = self.timeline.numbers
        i = numbers.index(self.shot.frame) if self.shot.frame in numbers else 0
        self.set_frame(numbers[min(max(i + n, 0), len(numbers) - 1)])

    def first_frame(self) -> None:
        if self.timeline.numbers:
            self.set_frame(self.timeline.numbers[0])

    def last_frame(self) -> None:
        if self.timeline.numbers:
            self.set_frame(self.timeline.numbers[-1])

    # ------------------------------------------------------------------ playing
    def play(self, direction: int) -> None:
        media = self.shot.media
        if media is None:
            return
        self._play_dir = direction
        fps = float(media.fps) if getattr(media, "fps", None) else 24.0
        self.play_timer.start(max(10, int(1000 / max(fps, 1.0))))

    def stop(self) -> None:
        self._play_dir = 0
        self.play_timer.stop()

    def toggle_play(self) -> None:
        if self.play_timer.isActive():
            self.stop()
        else:
            self.play(1)

    def _play_tick(self) -> None:
        if self.reader is not None and not self.reader.idle():
            return  # decoding is behind: drop this tick rather than queue frames
        numbers = self.timeline.numbers
        i = numbers.index(self.shot.frame) + self._play_dir
        a, b = self.timeline.frame_range() or (numbers[0], numbers[-1])
        lo, hi = numbers.index(a) if a in numbers else 0, numbers.index(b) if b in numbers else len(numbers) - 1
        if i > hi:
            i = lo
        elif i < lo:
            i = hi
        self.set_frame(numbers[i])

    # ------------------------------------------------------------------ range and marks
    def set_in(self) -> None:
        self.timeline.set_range(self.shot.frame, None)
        self.store_view_state()

    def set_out(self) -> None:
        self.timeline.set_range(None, self.shot.frame)
        self.store_view_state()

    def refresh_marks(self) -> None:
        p, oid = self.shot.project, self.shot.current_obj
        if p is None or oid is None or oid not in {o.id for o in p.objects}:
            self.timeline.set_marks(prompted=[], done_frames=[], locked=[], attention=[])
            return
        done = p.masks.frames(oid)
        locked = list(p.locked.get(oid, []))
        if p.object(oid).locked and self.timeline.numbers:
            locked = [(self.timeline.numbers[0], self.timeline.numbers[-1])]
        have = set(done)  # marks of frames whose mask was undone since go away
        attention = [f for f in p.settings.get("attention", {}).get(oid, []) if f in have]
        self.timeline.set_marks(prompted=p.prompted_frames(oid), done_frames=done, locked=locked,
                                attention=attention)

    def jump_attention(self, direction: int = 1) -> None:
        marks = sorted(self.timeline.attention)
        frame = self.shot.frame
        if frame is None or not marks:
            self.shot.status("No frames need attention.", 3000)
            return
        after = [f for f in marks if f > frame] if direction > 0 else [f for f in marks if f < frame][::-1]
        if not after:
            self.shot.status("No more frames needing attention that way.", 3000)
            return
        self.set_frame(after[0])
