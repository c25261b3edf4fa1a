"""Shapes for the window, computed in a worker thread and returned as a value (a ShapeDoc).

`project_shapes` reads each visible object's final alpha (the project's masks with its edge
settings) and the plate (for the optical flow) and runs ops.shapes; `export_shapes` also writes
the file. Both take the Job's progress and cancelled callables; no widgets here.
"""

from __future__ import annotations

from functools import partial

from roto_studio.core.errors import Cancelled
from roto_studio.ops.shapes import ShapesCancelled
from roto_studio.ops.shapes.run import ObjectSource, make_shapes


def project_shapes(project, media, frames, tolerance: float = 1.0, max_points: int | None = None,
                   obj_ids=None, progress=None, cancelled=None, key_tolerance: float | None = None):
    objects = [o for o in project.objects if (obj_ids is None and o.visible) or (obj_ids and o.id in obj_ids)]
    sources = [ObjectSource(o.name, tuple(o.color), partial(project.final_alpha, o.id))
               for o in objects]
    try:
        return make_shapes(sources, list(frames), media.width, media.height, media.read, float(media.fps),
                           tolerance, max_points or None,
                           (lambda d, t: progress(d, t, None)) if progress else None, cancelled,
                           key_tolerance=key_tolerance)
    except ShapesCancelled:
        raise Cancelled() from None


def export_shapes(doc, out, fmt: str, name: str) -> list:
    from roto_studio.ops.shapes import formats

    return formats.write(doc, out, fmt, name)
