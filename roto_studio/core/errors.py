"""Errors meant for the user: one plain line saying what is wrong and what to do."""

from typing import Any


class RotoError(Exception):
    """Base of every error we expect and explain. str(err) is shown as is."""


class MediaError(RotoError):
    """A video, image or sequence cannot be opened or read."""


class ProjectError(RotoError):
    """A project file is damaged, too new, or cannot be written."""


class ExportError(RotoError):
    """An export cannot be written (bad pattern, unwritable folder, full disk)."""


class ModelError(RotoError):
    """A backend is missing, its weights are missing, or it failed (e.g. out of GPU memory)."""


class Cancelled(RotoError):
    """A long job was cancelled by the user; finished work is kept (`written`: the files, when
    the job writes files)."""

    written: list[Any]  # set by the job that raises it
