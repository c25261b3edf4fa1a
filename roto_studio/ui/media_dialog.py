"""File > New from media's chooser: a file dialog for videos and images that can also take the
folder it is showing ("Open this folder", for a folder of frames). Choosing any frame of a
numbered sequence opens the whole sequence (ProjectController.open_media_path does that)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QGridLayout, QPushButton

MEDIA_FILTER = ("Media (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.png *.jpg *.jpeg *.tif *.tiff *.exr *.dpx);;"
                "All files (*)")


class MediaDialog(QFileDialog):
    """Qt's own (not the platform's) file dialog, so it can hold the folder button."""

    def __init__(self, parent=None, directory: str = ""):
        super().__init__(parent, "New project from media", directory, MEDIA_FILTER)
        self.setObjectName("media_dialog")
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setFileMode(QFileDialog.FileMode.ExistingFile)
        self.folder_chosen = ""
        self.folder_button = QPushButton("Open this folder")
        self.folder_button.setObjectName("open_folder_button")
        self.folder_button.setToolTip("Open the image sequence in the folder shown (a folder of frames).")
        self.folder_button.clicked.connect(self._take_folder)
        grid = self.layout()
        if isinstance(grid, QGridLayout):  # the Qt (non-native) dialog's own layout
            grid.addWidget(self.folder_button, grid.rowCount(), 0, 1, -1)
        self.resize(820, 520)

    def _take_folder(self) -> None:
        from pathlib import Path

        picked = [f for f in self.selectedFiles() if Path(f).is_dir()]  # a folder highlighted in the list
        self.folder_chosen = picked[0] if picked else self.directory().absolutePath()
        self.done(QFileDialog.DialogCode.Accepted)

    def chosen(self) -> str:
        if self.folder_chosen:
            return self.folder_chosen
        files = self.selectedFiles()
        return files[0] if files else ""


def choose_media(parent=None) -> str:
    d = MediaDialog(parent)
    return d.chosen() if d.exec() else ""
