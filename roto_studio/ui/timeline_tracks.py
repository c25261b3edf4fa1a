"""The timeline an artist reads, around the scrub bar (ui.timeline): a strip of frame thumbnails
above it and a track per object below it, each showing that object's keys (yellow), propagated
frames (its colour), locked ranges (grey) and frames flagged for a look (red, the reason in the
tooltip). Clicking a track selects its object and goes to that frame. Both widgets take their
frame-to-x layout from the scrub bar, so everything lines up.

Thumbnails are decoded in a thread (workers.thumbnails), cached (small, a few hundred at most)
and only painted here; the tracks are redrawn from the project after each change."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QVBoxLayout, QWidget

from roto_studio.ui.timeline import Timeline, spans
from roto_studio.workers.jobs import Job
from roto_studio.workers.thumbnails import make_thumbnails

ROW = 13  # px per object track while up to ROWS of them fit
ROWS = 4  # the tracks' area always has this height (the canvas never moves when objects come);
MAX_ROWS = 12  # more objects share it in thinner rows, up to this many


class ThumbStrip(QWidget):
    """Thumbnails of frames spread along the scrub bar's width."""

    HEIGHT = 40
    CACHE = 400

    def __init__(self, timeline: Timeline, parent=None):
        super().__init__(parent)
        self.setObjectName("thumb_strip")
        self.timeline = timeline
        self.setFixedHeight(self.HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.media = None
        self.cache: OrderedDict[int, QPixmap] = OrderedDict()
        self.aspect = 16 / 9
        self._job: Job | None = None
        self._again = QTimer(self, singleShot=True, interval=120)
        self._again.timeout.connect(self._request)

    def set_media(self, media) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self.media = media
        self.cache.clear()
        if media is not None:
            try:
                w, h = media.width, media.height
                self.aspect = w / max(h, 1)
            except AttributeError:
                self.aspect = 16 / 9
        self._again.start()
        self.update()

    def slot_width(self) -> int:
        return max(24, int(round((self.HEIGHT - 4) * self.aspect)))

    def slots(self) -> list[tuple[float, float, int]]:
        """(x, width, frame) of each thumbnail: the frame under the middle of its slot."""
        numbers = self.timeline.numbers
        if not numbers:
            return []
        left, right = self.timeline.edge_x(numbers[0]), self.timeline.edge_x(numbers[-1], "right")
        w = self.slot_width()
        n = max(1, min(len(numbers), int((right - left) // w)))
        step = (right - left) / n
        out = []
        for i in range(n):
            frame = self.timeline.frame_at(left + (i + 0.5) * step)
            assert frame is not None, "the timeline has frames (numbers is not empty)"
            out.append((left + i * step, step, frame))
        return out

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._again.start()

    def _request(self) -> None:
        if self.media is None:
            return
        want = [f for _x, _w, f in self.slots() if f not in self.cache]
        if not want or (self._job is not None and self._job.is_running()):
            if want:
                self._again.start()  # after the running batch
            return
        job = Job(make_thumbnails(self.media, want, self.HEIGHT - 4), "thumbnails", parent=self)
        job.progress.connect(lambda _d, _t, info, j=job: self._arrived(info) if self._job is j else None)
        self._job = job
        job.start()

    def _arrived(self, info) -> None:
        frame, rgb = info
        h, w = rgb.shape[:2]
        self.cache[frame] = QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())
        while len(self.cache) > self.CACHE:
            self.cache.popitem(last=False)
        self.update()

    def close_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.wait(2)

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 26))
        for x, w, f in self.slots():
            pm = self.cache.get(f)
            target = QRectF(x + 1, 2, w - 2, self.HEIGHT - 4)
            if pm is None:
                p.fillRect(target, QColor(44, 44, 48))
                continue
            # centre crop to the slot
            sw = min(pm.width(), pm.height() * target.width() / max(target.height(), 1))
            src = QRectF((pm.width() - sw) / 2, 0, sw, pm.height())
            p.drawPixmap(target, pm, src)
        cur = self.timeline.current
        if cur is not None and self.timeline.numbers:
            x = self.timeline.x_of(cur)
            p.fillRect(QRectF(x - 1, 0, 2, self.HEIGHT), QColor(255, 90, 60))
        p.end()


class ObjectTracks(QWidget):
    """One row per object: keys, propagated frames, locked ranges, flagged frames."""

    objectClicked = Signal(str, int)  # obj_id, frame clicked

    KEY = QColor(255, 200, 40)
    LOCK = QColor(150, 150, 150)
    FLAG = QColor(240, 60, 50)

    def __init__(self, timeline: Timeline, parent=None):
        super().__init__(parent)
        self.setObjectName("object_tracks")
        self.timeline = timeline
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.rows: list[dict] = []  # {id, name, color, keys, done, locked, flagged: {frame: why}}
        self.current: str | None = None
        self.setFixedHeight(ROWS * ROW + 2)

    def sizeHint(self) -> QSize:
        return QSize(600, self.height())

    def set_rows(self, rows: list[dict], current: str | None) -> None:
        self.rows = rows[:MAX_ROWS]
        self.current = current
        self.update()

    def row_height(self) -> float:
        return min(ROW, (self.height() - 2) / max(len(self.rows), 1))

    def row_at(self, y: float) -> dict | None:
        i = int((y - 1) // self.row_height())
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def row_y(self, obj_id: str) -> float:
        """Centre y of obj_id's track (tests click on it)."""
        i = next(k for k, r in enumerate(self.rows) if r["id"] == obj_id)
        return 1 + (i + 0.5) * self.row_height()

    def flag_at(self, x: float, y: float) -> str | None:
        row = self.row_at(y)
        if row is None or not row["flagged"]:
            return None
        near = min(row["flagged"], key=lambda f: abs(self.timeline.x_of(f) - x))
        return row["flagged"][near] if abs(self.timeline.x_of(near) - x) <= 4 else None

    def mousePressEvent(self, event):
        row = self.row_at(event.position().y())
        frame = self.timeline.frame_at(event.position().x())
        if row is not None and event.button() == Qt.MouseButton.LeftButton and frame is not None:
            self.objectClicked.emit(row["id"], frame)

    def event(self, e):
        if e.type() == QEvent.Type.ToolTip:
            row = self.row_at(e.pos().y())
            if row is None:
                QToolTip.hideText()
                return True
            frame = self.timeline.frame_at(e.pos().x())
            why = self.flag_at(e.pos().x(), e.pos().y())
            text = f"{row['name']}, frame {frame}" + (f": {why}" if why else "") + \
                "\nclick to select this object"
            QToolTip.showText(e.globalPos(), text, self)
            return True
        return super().event(e)

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 32))
        tl = self.timeline
        if not tl.numbers:
            p.end()
            return
        left, right = tl.edge_x(tl.numbers[0]), tl.edge_x(tl.numbers[-1], "right")
        font = p.font()
        font.setPointSizeF(7.5)
        p.setFont(font)
        rh = self.row_height()
        for i, r in enumerate(self.rows):
            top = 1 + i * rh
            band = QRectF(left, top + 1, right - left, rh - 2)
            cur = r["id"] == self.current
            p.fillRect(band, QColor(62, 62, 70) if cur else QColor(44, 44, 48))
            color = QColor(*r["color"])
            inset = min(3.0, rh / 4)
            for a, b in r["done"]:
                dim = QColor(color)
                dim.setAlpha(200 if cur else 130)
                p.fillRect(QRectF(tl.edge_x(a), top + inset, max(tl.edge_x(b, "right") - tl.edge_x(a), 1), rh - 2 * inset), dim)
            for a, b in r["locked"]:
                p.fillRect(QRectF(tl.edge_x(a), top + rh - inset - 2, max(tl.edge_x(b, "right") - tl.edge_x(a), 1), 2 + inset / 2),
                           self.LOCK)
            for f in r["keys"]:
                p.fillRect(QRectF(tl.x_of(f) - 2, top + 1, 4, rh - 2), self.KEY)
            for f in r["flagged"]:
                p.fillRect(QRectF(tl.x_of(f) - 1.5, top + 1, 3, rh - 2), self.FLAG)
            if rh >= 10:  # the name at the right end, on a dark tab (keys start at the left)
                width = p.fontMetrics().horizontalAdvance(r["name"]) + 8
                tab = QRectF(right - width, top + 1, width, rh - 2)
                p.fillRect(tab, QColor(20, 20, 22, 190))
                p.setPen(QColor(255, 255, 255) if cur else QColor(190, 190, 190))
                p.drawText(tab, Qt.AlignmentFlag.AlignCenter, r["name"])
        if tl.current is not None:
            x = tl.x_of(tl.current)
            p.fillRect(QRectF(x - 0.5, 0, 1.5, self.height()), QColor(255, 90, 60))
        p.end()


class TimelineColumn(QWidget):
    """Thumbnails, the scrub bar and the object tracks, stacked."""

    def __init__(self, timeline: Timeline, parent=None):
        super().__init__(parent)
        self.timeline = timeline
        self.thumbs = ThumbStrip(timeline)
        self.tracks = ObjectTracks(timeline)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.thumbs)
        lay.addWidget(timeline)
        lay.addWidget(self.tracks)


class TracksController(QObject):
    """Feeds the strip and the tracks from the shot; a click on a track selects its object."""

    def __init__(self, shot, column: TimelineColumn, select_object, parent=None):
        super().__init__(parent)
        self.shot, self.column = shot, column
        self.select_object = select_object
        self._refresh = QTimer(self, singleShot=True, interval=30)
        self._refresh.timeout.connect(self.refresh)
        column.tracks.objectClicked.connect(self._clicked)
        column.timeline.installEventFilter(self)  # red marks on the scrub bar say why, too
        shot.opened.connect(lambda: column.thumbs.set_media(shot.media))
        shot.opened.connect(self._refresh.start)
        shot.closing.connect(lambda: column.thumbs.set_media(None))
        shot.changed.connect(lambda _o, _f: self._refresh.start())
        shot.objectChanged.connect(lambda _o: self._refresh.start())
        shot.masksWritten.connect(lambda _f, _o: self._refresh.start())
        shot.frameChanged.connect(lambda _f: (column.thumbs.update(), column.tracks.update()))

    def _clicked(self, obj_id: str, frame: int) -> None:
        if obj_id != self.shot.current_obj:
            self.select_object(obj_id)
        self.column.timeline.frameRequested.emit(frame)

    def reasons(self, obj_id: str) -> dict[int, str]:
        p = self.shot.project
        flagged = p.settings.get("attention", {}).get(obj_id, [])
        why = p.settings.get("attention_why", {}).get(obj_id, {})
        have = set(p.masks.frames(obj_id))
        return {int(f): why.get(str(f), "the mask changes abruptly here") for f in flagged if f in have}

    def refresh(self) -> None:
        p, tl = self.shot.project, self.column.timeline
        if p is None or not tl.numbers:
            self.column.tracks.set_rows([], None)
            return
        rows = []
        for o in p.objects:
            locked = [(tl.numbers[0], tl.numbers[-1])] if o.locked else list(p.locked.get(o.id, []))
            rows.append({"id": o.id, "name": o.name, "color": tuple(o.color), "keys": p.prompted_frames(o.id),
                         "done": spans(sorted(p.masks.frames(o.id)), tl.numbers), "locked": locked,
                         "flagged": self.reasons(o.id)})
        self.column.tracks.set_rows(rows, self.shot.current_obj)

    def eventFilter(self, obj, e):
        if obj is self.column.timeline and e.type() == QEvent.Type.ToolTip and self.shot.project is not None:
            tl, oid = self.column.timeline, self.shot.current_obj
            why = self.reasons(oid) if oid else {}
            near = [f for f in why if abs(tl.x_of(f) - e.pos().x()) <= 4]
            if near:
                QToolTip.showText(e.globalPos(), f"frame {near[0]}: {why[near[0]]}", tl)
            else:
                QToolTip.hideText()
            return True
        return super().eventFilter(obj, e)
