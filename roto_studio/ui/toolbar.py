"""The tool bar: the click, box, brush and pan tools as checkable buttons (one is always on, and
it is the one the canvas uses, however it was chosen), the brush size, Propagate all and the
clean-plate view; and the brush ring, a circle of the brush's size that follows the cursor on
the canvas while the brush is on, so nobody paints by accident."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QActionGroup, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsEllipseItem, QLabel, QToolBar

TOOL_ACTIONS = {"click": "tool_click", "box": "tool_box", "brush": "tool_brush", "pan": "tool_pan"}
LABELS = {"click": "Click", "box": "Box", "brush": "Brush", "pan": "Pan"}


def tool_icon(tool: str, size: int = 20) -> QIcon:
    """A small drawn icon per tool (no image files to ship)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    fg = QColor(230, 230, 230)
    s = float(size)
    if tool == "click":
        p.setPen(QPen(fg, 1.5))
        p.setBrush(QColor(40, 200, 70))
        p.drawEllipse(QRectF(s * 0.3, s * 0.3, s * 0.4, s * 0.4))
        p.drawLine(QPointF(s * 0.5, s * 0.05), QPointF(s * 0.5, s * 0.25))
        p.drawLine(QPointF(s * 0.5, s * 0.75), QPointF(s * 0.5, s * 0.95))
        p.drawLine(QPointF(s * 0.05, s * 0.5), QPointF(s * 0.25, s * 0.5))
        p.drawLine(QPointF(s * 0.75, s * 0.5), QPointF(s * 0.95, s * 0.5))
    elif tool == "box":
        p.setPen(QPen(QColor(255, 220, 0), 1.5, Qt.PenStyle.DashLine))
        p.drawRect(QRectF(s * 0.12, s * 0.22, s * 0.76, s * 0.56))
    elif tool == "brush":
        p.setPen(QPen(fg, 1.5))
        p.setBrush(QColor(80, 255, 120, 150))
        p.drawEllipse(QRectF(s * 0.15, s * 0.15, s * 0.7, s * 0.7))
    else:  # pan: four arrows
        p.setPen(QPen(fg, 1.6))
        c = s / 2
        path = QPainterPath()
        for dx, dy in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            tip = QPointF(c + dx * s * 0.42, c + dy * s * 0.42)
            path.moveTo(QPointF(c, c))
            path.lineTo(tip)
            side = QPointF(-dy, dx) * (s * 0.12)
            back = QPointF(c + dx * s * 0.28, c + dy * s * 0.28)
            path.moveTo(back + side)
            path.lineTo(tip)
            path.lineTo(back - side)
        p.drawPath(path)
    p.end()
    return QIcon(pm)


class ToolBar(QToolBar):
    """Tools (exclusive, checkable), brush size, and the actions given."""

    def __init__(self, actions: dict, canvas, extra: Sequence[str] = (), parent=None):
        super().__init__("Tools", parent)
        self.setObjectName("tool_bar")
        self.setMovable(False)
        self.setIconSize(QSize(20, 20))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.canvas = canvas
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.tool_actions = {}
        for tool, name in TOOL_ACTIONS.items():
            act = actions[name]
            act.setCheckable(True)
            act.setIcon(tool_icon(tool))
            act.setIconText(LABELS[tool])
            key = act.shortcut().toString()
            act.setToolTip(f"{act.text()} ({key})" if key else act.text())
            self.group.addAction(act)
            self.addAction(act)
            self.tool_actions[tool] = act
        self.brush_label = QLabel()
        self.brush_label.setObjectName("brush_size_label")
        self.brush_label.setToolTip("Brush radius: [ and ] or Ctrl+drag change it")
        self.brush_label.setContentsMargins(8, 0, 8, 0)
        self.addWidget(self.brush_label)
        self.addSeparator()
        for name in extra:
            self.addAction(actions[name])
        canvas.toolChanged.connect(self.show_tool)
        canvas.brushSizeChanged.connect(lambda _r: self.show_tool(canvas.tool))
        self.show_tool(canvas.tool)

    def active_tool(self) -> str | None:
        return next((t for t, a in self.tool_actions.items() if a.isChecked()), None)

    def show_tool(self, tool: str) -> None:
        act = self.tool_actions.get(tool)
        if act is not None and not act.isChecked():
            act.setChecked(True)
        self.brush_label.setText(f"Brush {self.canvas.brush_radius:.0f} px")
        self.brush_label.setEnabled(tool == "brush")


class BrushRing(QObject):
    """A ring of the brush's radius under the cursor on the canvas, while the brush is on."""

    def __init__(self, canvas, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        self.items = []
        for width, color in ((3.0, QColor(0, 0, 0, 200)), (1.2, QColor(255, 255, 255))):
            item = QGraphicsEllipseItem()
            pen = QPen(color, width)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(6)
            item.setVisible(False)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            canvas.scene().addItem(item)
            self.items.append(item)
        self.centre: tuple[float, float] | None = None
        canvas.viewport().installEventFilter(self)
        canvas.toolChanged.connect(lambda _t: self._place())
        canvas.brushSizeChanged.connect(lambda _r: self._place())

    def visible(self) -> bool:
        return self.items[0].isVisible()

    def rect(self) -> QRectF:
        return self.items[0].rect()

    def eventFilter(self, obj, e):
        t = e.type()
        if t == QEvent.Type.MouseMove and not self.canvas.sizing_brush:
            p = self.canvas.mapToScene(e.position().toPoint())
            self.centre = (p.x(), p.y())
            self._place()
        elif t == QEvent.Type.Leave:
            self.centre = None
            self._place()
        return False

    def _place(self) -> None:
        centre = self.centre
        show = self.canvas.tool == "brush" and centre is not None and self.canvas.image is not None
        for item in self.items:
            item.setVisible(show)
            if show and centre is not None:
                r = self.canvas.brush_radius
                x, y = centre
                item.setRect(QRectF(x - r, y - r, 2 * r, 2 * r))
