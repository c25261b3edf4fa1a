"""The canvas: the frame, the masks in a view mode, click markers, box, brush; zoom and pan.

The canvas only shows things and turns mouse input into signals in frame pixels; the window
decides what a click or a stroke does.
"""

from __future__ import annotations

# numpy is imported inside the helpers (when the first frame arrives), not at start-up
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QCursor, QImage, QPainter, QPainterPath, QPen,
                           QPixmap)
from PySide6.QtWidgets import (QGraphicsEllipseItem, QGraphicsPathItem, QGraphicsPixmapItem,
                               QGraphicsRectItem, QGraphicsScene, QGraphicsView)

if TYPE_CHECKING:
    import numpy as np

VIEW_MODES = ("overlay", "matte", "cutout", "outline")
TOOLS = ("click", "box", "brush", "pan")


# ---------------------------------------------------------------- pure image helpers (numpy)

def checkerboard(height: int, width: int, size: int = 16) -> np.ndarray:
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    cells = ((yy // size + xx // size) % 2).astype(np.uint8)
    grey = np.where(cells == 0, 153, 102).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _edges(alpha: np.ndarray) -> np.ndarray:
    """1-pixel outline of a soft mask (thresholded at 0.5)."""
    import numpy as np

    m = alpha >= 0.5
    e = np.zeros_like(m)
    e[:-1, :] |= m[:-1, :] != m[1:, :]
    e[:, :-1] |= m[:, :-1] != m[:, 1:]
    # thicken to 2 px so it reads at fit zoom
    e[1:, :] |= e[:-1, :]
    e[:, 1:] |= e[:, :-1]
    return e


def compose_overlay(image: np.ndarray | None, layers: list[tuple[np.ndarray, tuple[int, int, int]]],
                    mode: str = "overlay", opacity: float = 0.5) -> np.ndarray | None:
    """RGBA uint8 overlay to draw above the frame, or None when there is nothing to draw.

    layers: (alpha HxW float 0..1, colour) for each visible object, bottom to top.
    overlay: colours at `opacity`; matte: opaque white-on-black; cutout: the frame over a
    checkerboard; outline: coloured edges."""
    import numpy as np

    if not layers:
        if mode in ("matte", "cutout") and image is not None:
            h, w = image.shape[:2]
            base = np.zeros((h, w, 3), np.uint8) if mode == "matte" else checkerboard(h, w)
            return np.dstack([base, np.full((h, w), 255, np.uint8)])
        return None
    h, w = layers[0][0].shape
    if mode == "matte":
        a = np.zeros((h, w), np.float32)
        for alpha, _ in layers:
            np.maximum(a, alpha, out=a)
        g = np.round(a * 255).astype(np.uint8)
        return np.dstack([g, g, g, np.full((h, w), 255, np.uint8)])
    if mode == "cutout":
        a = np.zeros((h, w), np.float32)
        for alpha, _ in layers:
            np.maximum(a, alpha, out=a)
        board = checkerboard(h, w).astype(np.float32)
        img = image.astype(np.float32) if image is not None else np.zeros((h, w, 3), np.float32)
        rgb = img * a[..., None] + board * (1.0 - a[..., None])
        return np.dstack([np.round(rgb).astype(np.uint8), np.full((h, w), 255, np.uint8)])
    # "over" compositing of straight colours, one contiguous plane per channel, in place (an
    # HxWx3 broadcast and dstack cost ~15x more); stored premultiplied for
    # QImage.Format_RGBA8888_Premultiplied
    import cv2

    planes = [np.zeros((h, w), np.float32) for _ in range(3)]
    cover = np.zeros((h, w), np.float32)
    for alpha, color in layers:
        if mode == "outline":
            a = _edges(alpha).astype(np.float32)
        else:
            a = np.multiply(alpha, np.float32(opacity), dtype=np.float32)
        inv = np.subtract(np.float32(1.0), a, dtype=np.float32)
        for c in range(3):
            np.multiply(planes[c], inv, out=planes[c])
            planes[c] += a * np.float32(color[c])
        np.multiply(cover, inv, out=cover)
        cover += a
    np.clip(cover, 0, 1, out=cover)
    cover *= np.float32(255.0)
    channels = []
    for plane in planes + [cover]:
        np.rint(plane, out=plane)
        np.clip(plane, 0, 255, out=plane)
        channels.append(plane.astype(np.uint8))
    return cv2.merge(channels)


def to_qimage(array: np.ndarray) -> QImage:
    """HxWx3 RGB or HxWx4 premultiplied RGBA uint8 -> QImage (a copy, owning its data)."""
    import numpy as np

    a = np.ascontiguousarray(array)
    h, w = a.shape[:2]
    if a.ndim == 3 and a.shape[2] == 4:
        img = QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888_Premultiplied)
    else:
        img = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return img.copy()


def brush_cursor(radius_px: float) -> QCursor:
    d = int(max(4, min(256, radius_px * 2 + 4)))
    pm = QPixmap(d, d)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(QColor(0, 0, 0), 3))
    p.drawEllipse(QRectF(2, 2, d - 4, d - 4))
    p.setPen(QPen(QColor(255, 255, 255), 1))
    p.drawEllipse(QRectF(2, 2, d - 4, d - 4))
    p.end()
    return QCursor(pm, d // 2, d // 2)


# ---------------------------------------------------------------- the view

class Canvas(QGraphicsView):
    pointClicked = Signal(float, float, int)  # x, y, label (1 include, 0 exclude)
    boxDrawn = Signal(float, float, float, float)  # x1, y1, x2, y2
    strokeFinished = Signal(object, float, bool)  # [(x, y)...], radius, add
    brushSizeChanged = Signal(float)
    toolChanged = Signal(str)
    hovered = Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(38, 38, 40))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        # no scroll bars (pan with the middle button or the pan tool): bars coming and going
        # would resize the view and move the frame
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # the window handles drops
        self.image_item = QGraphicsPixmapItem()
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setZValue(1)
        self.overlay_item.setVisible(False)
        for item in (self.image_item, self.overlay_item):
            item.setTransformationMode(Qt.TransformationMode.FastTransformation)
            self._scene.addItem(item)
        self._markers: list = []
        self._box_item = QGraphicsRectItem()
        self._box_item.setZValue(3)
        self._box_item.setVisible(False)
        self._scene.addItem(self._box_item)
        self._rubber = QGraphicsRectItem()
        self._rubber.setZValue(4)
        self._rubber.setPen(QPen(QColor(255, 220, 0), 0, Qt.PenStyle.DashLine))
        self._rubber.setVisible(False)
        self._scene.addItem(self._rubber)
        self._stroke_item = QGraphicsPathItem()
        self._stroke_item.setZValue(4)
        self._scene.addItem(self._stroke_item)

        self.tool = "click"
        self.brush_radius = 12.0
        self.view_mode = "overlay"
        self.opacity = 0.5
        self.image: np.ndarray | None = None
        self._layers: list = []
        self._press = None  # (button, scene point, modifiers)
        self._pan_from = None
        self._stroke: list[tuple[float, float]] = []
        self._stroke_add = True
        self._size_drag = None
        self._fitted = True
        self._update_cursor()

    # -- content
    @property
    def sizing_brush(self) -> bool:
        """True while a brush-size drag is under way (the toolbar leaves the cursor alone)."""
        return self._size_drag is not None

    def overlay_key(self) -> tuple:
        """What the overlay depends on besides the frame (read from any thread)."""
        return (self.view_mode, self.opacity)

    @staticmethod
    def make_overlay(image, layers, key: tuple) -> QImage | None:
        """The overlay for `key` (= overlay_key()) as a QImage: called off the GUI thread, so
        painting a frame costs the GUI thread no compositing."""
        rgba = compose_overlay(image, layers, key[0], key[1])
        return None if rgba is None else to_qimage(rgba)

    def show_frame(self, image: np.ndarray, layers: list, overlay: tuple | None = None) -> None:
        """set_image + set_masks; overlay = (overlay_key(), make_overlay(...)) made off the GUI
        thread is used when the view mode and opacity are still those."""
        self._set_image(image, refresh=False)
        self._layers = layers
        if overlay is not None and overlay[0] == self.overlay_key():
            self._set_overlay(overlay[1])
        else:
            self._refresh_overlay()

    def set_image(self, image: np.ndarray | None) -> None:
        self._set_image(image)

    def _set_image(self, image: np.ndarray | None, refresh: bool = True) -> None:
        first = self.image is None or (image is not None and image.shape != self.image.shape)
        self.image = image
        if image is None:
            self.image_item.setPixmap(QPixmap())
        else:
            self.image_item.setPixmap(QPixmap.fromImage(to_qimage(image)))
            self._scene.setSceneRect(QRectF(0, 0, image.shape[1], image.shape[0]))
        if refresh and self.view_mode == "cutout":
            self._refresh_overlay()
        if first and image is not None:
            self.fit()

    def set_masks(self, layers: list[tuple[np.ndarray, tuple[int, int, int]]]) -> None:
        """Visible objects' alphas with their colours, bottom to top."""
        self._layers = layers
        self._refresh_overlay()

    def set_view_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(mode)
        self.view_mode = mode
        self._refresh_overlay()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(min(1.0, max(0.0, opacity)))
        self._refresh_overlay()

    def _refresh_overlay(self) -> None:
        self._set_overlay(self.make_overlay(self.image, self._layers, self.overlay_key()))

    def _set_overlay(self, qimage: QImage | None) -> None:
        if qimage is None:
            self.overlay_item.setVisible(False)
            self.overlay_item.setPixmap(QPixmap())
            return
        self.overlay_item.setPixmap(QPixmap.fromImage(qimage))
        self.overlay_item.setVisible(True)

    def set_prompt(self, points: list, box, color=(255, 255, 255)) -> None:
        """Markers for the current object's clicks and box on this frame."""
        for m in self._markers:
            self._scene.removeItem(m)
        self._markers = []
        r = 5.0 / max(self.transform().m11(), 1e-6)
        for x, y, label in points:
            item = QGraphicsEllipseItem(x - r, y - r, 2 * r, 2 * r)
            item.setBrush(QBrush(QColor(40, 200, 70) if label else QColor(230, 40, 40)))
            item.setPen(QPen(QColor(255, 255, 255), 0))
            item.setZValue(5)
            item.setData(0, (x, y, label))
            self._scene.addItem(item)
            self._markers.append(item)
        if box is not None:
            x1, y1, x2, y2 = box
            self._box_item.setRect(QRectF(QPointF(x1, y1), QPointF(x2, y2)).normalized())
            self._box_item.setPen(QPen(QColor(*color), 0))
            self._box_item.setVisible(True)
        else:
            self._box_item.setVisible(False)

    def markers(self) -> list[tuple[float, float, int]]:
        return [m.data(0) for m in self._markers]

    # -- zoom
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        rect = self._scene.sceneRect()
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._after_zoom()

    def actual_size(self) -> None:
        self.resetTransform()
        self._fitted = False
        self._after_zoom()

    def zoom_by(self, factor: float) -> None:
        z = self.zoom() * factor
        if 0.05 <= z <= 64:
            self.scale(factor, factor)
            self._fitted = False
            self._after_zoom()

    def _after_zoom(self) -> None:
        # smooth when shrinking, crisp pixels when magnified (to place clicks on hair)
        smooth = self.zoom() < 1.5
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        self.image_item.setTransformationMode(mode)
        self.overlay_item.setTransformationMode(mode)
        if self._markers:
            self.set_prompt([m.data(0) for m in self._markers],
                            self._box_rect() if self._box_item.isVisible() else None)
        self._update_cursor()

    def _box_rect(self):
        r = self._box_item.rect()
        return (r.left(), r.top(), r.right(), r.bottom())

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def wheelEvent(self, event):
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_about(1.25 ** steps, event.position())
        event.accept()

    def zoom_about(self, factor: float, at) -> None:
        """Zoom by `factor` keeping the frame pixel under viewport point `at` where it is."""
        before = self.mapToScene(at.toPoint())
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.zoom_by(factor)
        self.setTransformationAnchor(anchor)
        moved = self.mapFromScene(before) - at.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())

    # -- tools
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(tool)
        self.tool = tool
        self._update_cursor()
        self.toolChanged.emit(tool)

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(min(400.0, max(1.0, radius)))
        self._update_cursor()
        self.brushSizeChanged.emit(self.brush_radius)

    def _update_cursor(self) -> None:
        vp = self.viewport()
        if self.tool == "pan":
            vp.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self.tool == "brush":  # a small ring: the brush's own size is drawn by ui.toolbar.BrushRing
            vp.setCursor(brush_cursor(2))
        elif self.tool == "box":
            vp.setCursor(Qt.CursorShape.CrossCursor)
        else:
            vp.setCursor(Qt.CursorShape.PointingHandCursor)

    def _scene_xy(self, event) -> tuple[float, float]:
        # exact float position (sub-pixel when zoomed in), not the rounded QPoint
        inv, _ = self.viewportTransform().inverted()
        p = inv.map(event.position())
        return float(p.x()), float(p.y())

    def _in_image(self, x: float, y: float) -> bool:
        return self.image is not None and 0 <= x < self.image.shape[1] and 0 <= y < self.image.shape[0]

    def mousePressEvent(self, event):
        button = event.button()
        mods = event.modifiers()
        if button == Qt.MouseButton.MiddleButton or (self.tool == "pan" and button == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        x, y = self._scene_xy(event)
        if self.tool == "brush" and button == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ControlModifier:
            self._size_drag = (event.position().x(), self.brush_radius)
            return
        self._press = (button, (x, y), mods)
        if self.tool == "box" and button == Qt.MouseButton.LeftButton:
            self._rubber.setRect(QRectF(x, y, 0, 0))
            self._rubber.setVisible(True)
        elif self.tool == "brush" and button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            erase = button == Qt.MouseButton.RightButton or bool(mods & Qt.KeyboardModifier.AltModifier)
            self._stroke_add = not erase
            self._stroke = [(x, y)]
            self._update_stroke_item()

    def mouseMoveEvent(self, event):
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - d.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - d.y()))
            self._fitted = False
            return
        if self._size_drag is not None:
            x0, r0 = self._size_drag
            self.set_brush_radius(r0 + (event.position().x() - x0) / max(self.zoom(), 1e-6) * 0.5)
            return
        x, y = self._scene_xy(event)
        self.hovered.emit(x, y)
        if self._press is None:
            return
        if self.tool == "box" and self._rubber.isVisible():
            x0, y0 = self._press[1]
            self._rubber.setRect(QRectF(QPointF(x0, y0), QPointF(x, y)).normalized())
        elif self.tool == "brush" and self._stroke:
            self._stroke.append((x, y))
            self._update_stroke_item()

    def mouseReleaseEvent(self, event):
        if self._pan_from is not None:
            self._pan_from = None
            self._update_cursor()
            return
        if self._size_drag is not None:
            self._size_drag = None
            return
        if self._press is None:
            return
        button, (x0, y0), mods = self._press
        self._press = None
        x, y = self._scene_xy(event)
        if self.tool == "click":
            if not self._in_image(x0, y0):
                return
            exclude = button == Qt.MouseButton.RightButton or bool(mods & Qt.KeyboardModifier.AltModifier)
            if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
                self.pointClicked.emit(x0, y0, 0 if exclude else 1)
        elif self.tool == "box" and self._rubber.isVisible():
            self._rubber.setVisible(False)
            if self.image is None:
                return
            h, w = self.image.shape[:2]
            x1, x2 = sorted((min(max(x0, 0), w), min(max(x, 0), w)))
            y1, y2 = sorted((min(max(y0, 0), h), min(max(y, 0), h)))
            if x2 - x1 >= 2 and y2 - y1 >= 2:
                self.boxDrawn.emit(x1, y1, x2, y2)
        elif self.tool == "brush" and self._stroke:
            stroke, self._stroke = self._stroke, []
            self._update_stroke_item()
            self.strokeFinished.emit(stroke, self.brush_radius, self._stroke_add)

    def _update_stroke_item(self) -> None:
        if not self._stroke:
            self._stroke_item.setPath(QPainterPath())
            return
        path = QPainterPath(QPointF(*self._stroke[0]))
        for p in self._stroke[1:]:
            path.lineTo(QPointF(*p))
        if len(self._stroke) == 1:
            path.lineTo(QPointF(self._stroke[0][0] + 0.01, self._stroke[0][1]))
        color = QColor(80, 255, 120, 140) if self._stroke_add else QColor(255, 80, 80, 140)
        pen = QPen(color, 2 * self.brush_radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        self._stroke_item.setPen(pen)
        self._stroke_item.setPath(path)


def rasterize_stroke(shape: tuple[int, int], points: list[tuple[float, float]], radius: float) -> np.ndarray:
    """Bool HxW of the pixels a round brush of `radius` covers along `points`."""
    import numpy as np

    import cv2

    h, w = shape
    m = np.zeros((h, w), np.uint8)
    r = max(1, int(round(radius)))
    pts = [(int(round(x)), int(round(y))) for x, y in points]
    for p in pts:
        cv2.circle(m, p, r, 1, -1, lineType=cv2.LINE_8)
    for a, b in zip(pts, pts[1:]):
        cv2.line(m, a, b, 1, 2 * r, lineType=cv2.LINE_8)
    return m.astype(bool)
