"""Masks as animated, editable Bezier shapes (issue 27): fitting (fit), carrying along the
object's motion (carry), keys and the per-object loop (animate), feather (feather), the data
(model) and the files compositors read (formats). No Qt: the window, the CLI and `render` share it.
"""

from .animate import DEFAULT_KEY_TOLERANCE, DEFAULT_TOLERANCE, ShapesCancelled, track_object
from .model import Key, ObjectShapes, Shape, ShapeDoc

__all__ = ["DEFAULT_KEY_TOLERANCE", "DEFAULT_TOLERANCE", "Key", "ObjectShapes", "Shape", "ShapeDoc", "ShapesCancelled", "track_object"]
