"""Objects panel: a list of the project's objects. It only emits what the user asked for; the
window turns each request into an undoable command and then calls refresh()."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QHBoxLayout, QListWidget, QListWidgetItem,
                               QToolButton, QVBoxLayout, QWidget)


def swatch(color, locked: bool = False) -> QIcon:
    pm = QPixmap(16, 16)
    pm.fill(QColor(*color))
    if locked:
        from PySide6.QtGui import QPainter, QPen

        p = QPainter(pm)
        p.setPen(QPen(QColor(0, 0, 0), 2))
        p.drawLine(2, 2, 14, 14)
        p.end()
    return QIcon(pm)


class ObjectsPanel(QWidget):
    addRequested = Signal()
    deleteRequested = Signal(str)
    renameRequested = Signal(str, str)
    colorRequested = Signal(str, object)
    visibleRequested = Signal(str, bool)
    lockRequested = Signal(str, bool)
    moveRequested = Signal(str, int)  # obj_id, +1 down / -1 up
    currentChanged = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("objects_panel")
        self.list = QListWidget()
        self.list.setObjectName("objects_list")
        self.list.setIconSize(QSize(16, 16))
        self.list.setEditTriggers(QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed)
        self.list.itemChanged.connect(self._item_changed)
        self.list.currentItemChanged.connect(self._current_changed)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        self.buttons = {}
        for key, text, tip in [("add", "+", "Add object (N)"), ("delete", "−", "Delete object"),
                               ("up", "▲", "Move up"), ("down", "▼", "Move down"),
                               ("lock", "Lock", "Lock / unlock object"), ("color", "Colour", "Change colour")]:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setObjectName(f"objects_{key}")
            buttons.addWidget(b)
            self.buttons[key] = b
        buttons.addStretch(1)
        self.buttons["add"].clicked.connect(self.addRequested)
        self.buttons["delete"].clicked.connect(lambda: self._with_current(self.deleteRequested.emit))
        self.buttons["up"].clicked.connect(lambda: self._with_current(lambda o: self.moveRequested.emit(o, -1)))
        self.buttons["down"].clicked.connect(lambda: self._with_current(lambda o: self.moveRequested.emit(o, 1)))
        self.buttons["lock"].clicked.connect(self._toggle_lock)
        self.buttons["color"].clicked.connect(self._pick_color)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self._objects = []
        self._refreshing = False

    def refresh(self, objects, current_id: str | None) -> None:
        self._refreshing = True
        try:
            self._objects = list(objects)
            self.list.clear()
            for o in self._objects:
                item = QListWidgetItem(swatch(o.color, o.locked), o.name)
                item.setData(Qt.ItemDataRole.UserRole, o.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if o.visible else Qt.CheckState.Unchecked)
                item.setToolTip(f"{o.name} ({'locked' if o.locked else 'unlocked'}); tick = visible")
                self.list.addItem(item)
                if o.id == current_id:
                    self.list.setCurrentItem(item)
        finally:
            self._refreshing = False

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _with_current(self, fn) -> None:
        oid = self.current_id()
        if oid:
            fn(oid)

    def _object(self, oid):
        return next((o for o in self._objects if o.id == oid), None)

    def _toggle_lock(self) -> None:
        o = self._object(self.current_id())
        if o is not None:
            self.lockRequested.emit(o.id, not o.locked)

    def _pick_color(self) -> None:
        o = self._object(self.current_id())
        if o is None:
            return
        c = QColorDialog.getColor(QColor(*o.color), self, f"Colour of {o.name}")
        if c.isValid():
            self.colorRequested.emit(o.id, (c.red(), c.green(), c.blue()))

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._refreshing:
            return
        oid = item.data(Qt.ItemDataRole.UserRole)
        o = self._object(oid)
        if o is None:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        name = item.text().strip()
        if visible != o.visible:
            self.visibleRequested.emit(oid, visible)
        elif name and name != o.name:
            self.renameRequested.emit(oid, name)

    def _current_changed(self, cur, _prev) -> None:
        if not self._refreshing and cur is not None:
            self.currentChanged.emit(cur.data(Qt.ItemDataRole.UserRole))
