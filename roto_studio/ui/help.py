"""Help (F1): a getting-started page (first click, propagate, fix, export, models) and the
keyboard shortcuts as a table whose columns fit their text. The page's keys come from the
window's action table (ui.actions), so it never names a key the window does not bind; its
`models:` link opens the model manager."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem,
                               QTabWidget, QTextBrowser, QVBoxLayout)

from roto_studio.ui.actions import by_name, help_rows


def _key(name: str) -> str:
    keys = by_name()[name].keys
    return keys[0] if keys else ""


def getting_started_html() -> str:
    k = _key
    return f"""
<h2>Getting started</h2>
<h3>1. Open a shot</h3>
<p>File &gt; New from media ({k('new')}) opens a video, any frame of a numbered image sequence (the whole
sequence opens, at the frame you chose) or a folder of frames. You can also drop a file or a folder on the
window.</p>
<h3>2. The first click</h3>
<p>Click on the thing to cut out: a mask appears. Click more points to add to it; Alt+click (or right click)
removes what should not be in it. {k('tool_box')} draws a box around it instead; {k('tool_brush')} paints
by hand ([ and ] change the brush size).</p>
<h3>3. Propagate</h3>
<p>{k('prop_forward')} carries the mask forward through the shot, {k('prop_backward')} backward,
{k('prop_both')} both ways. The progress row shows the time left; {k('cancel')} stops and keeps the
finished frames.</p>
<h3>4. Fix</h3>
<p>Red marks on the timeline are frames needing attention: {k('next_attention')} jumps to the next one.
Click again on that frame, then propagate from there. {k('undo')} undoes any step;
{k('lock_range')} locks good frames so later runs leave them alone. {k('matte')} gives soft edges.</p>
<h3>5. Export</h3>
<p>File &gt; Export ({k('export')}): EXR, PNG or ProRes with alpha, named as your pipeline expects.
{k('save')} saves the project.</p>
<h3>6. Models</h3>
<p>Without models, clicks and propagation use the CPU fallback: it works at once, but edges are rougher.
SAM 2 (clicks and propagation), Cutie (long shots) and ViTMatte (soft edges) are better:
<a href="models:">open the model manager</a> (Edit &gt; Models…) to download them, or point it at a folder
of weights you already have.</p>
"""


class HelpDialog(QDialog):
    """Tabs: Getting started, Keyboard shortcuts (`table`)."""

    def __init__(self, parent=None, open_link=None):
        super().__init__(parent)
        self.setWindowTitle("Roto Studio help")
        self.setObjectName("help_dialog")
        self.page = QTextBrowser()
        self.page.setObjectName("getting_started")
        self.page.setOpenLinks(False)
        self.page.setHtml(getting_started_html())
        if open_link is not None:
            self.page.anchorClicked.connect(lambda url: open_link(url.toString()))
        rows = help_rows()
        table = QTableWidget(len(rows), 2)
        table.setObjectName("shortcuts_table")
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        for i, (keys, what) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(keys))
            table.setItem(i, 1, QTableWidgetItem(what))
        table.setWordWrap(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table = table
        self.tabs = QTabWidget()
        self.tabs.addTab(self.page, "Getting started")
        self.tabs.addTab(table, "Keyboard shortcuts")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(box)
        self.resize(760, 620)
