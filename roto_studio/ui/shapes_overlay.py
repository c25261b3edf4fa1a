"""The outline view: the fitted shapes of the current frame drawn over the plate (curves in the
object's colour, anchors as small squares, filled on key frames), as canvas scene items in
frame pixels. Draws what it is given; computes nothing."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

Z = 2.5  # above the mask overlay, below the prompt markers


def shape_path(key) -> QPainterPath:
    path = QPainterPath()
    c = key.controls()
    if len(c) == 0:
        return path
    path.moveTo(QPointF(*c[0][0]))
    for seg in c:
        path.cubicTo(QPointF(*seg[1]), QPointF(*seg[2]), QPointF(*seg[3]))
    path.closeSubpath()
    return path


class ShapesOverlay:
    """Scene items for one frame of a ShapeDoc."""

    def __init__(self, scene):
        self.scene = scene
        self.items: list[QGraphicsPathItem] = []

    def clear(self) -> None:
        for item in self.items:
            self.scene.removeItem(item)
        self.items = []

    def show(self, doc, frame: int) -> int:
        """Draw `frame` of `doc` (None: nothing); returns the points drawn."""
        self.clear()
        if doc is None:
            return 0
        points = 0
        for obj in doc.objects:
            colour = QColor(*obj.color)
            curves, anchors, keyed = QPainterPath(), QPainterPath(), QPainterPath()
            for shape, key in obj.at(frame):
                curves.addPath(shape_path(key))
                target = keyed if frame in shape.keys else anchors
                for x, y in key.points:
                    target.addRect(QRectF(x - 2.5, y - 2.5, 5, 5))
                points += len(key)
            line = QGraphicsPathItem(curves)
            pen = QPen(colour, 1.5)
            pen.setCosmetic(True)
            line.setPen(pen)
            dots = QGraphicsPathItem(anchors)
            dots.setPen(pen)
            dots.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            keys = QGraphicsPathItem(keyed)
            keys.setPen(pen)
            keys.setBrush(QBrush(colour))
            for item in (line, dots, keys):
                item.setZValue(Z)
                self.scene.addItem(item)
                self.items.append(item)
        return points
