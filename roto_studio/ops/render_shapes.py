"""The `shapes` stage of `roto-studio render`: the picked objects' animated shapes over the whole
shot (one task: shapes carry from frame to frame, so the span cannot be split), written into the
output folder as `NAME.<ext>` (SVG: `NAME.####.svg`). Skipped when its inputs (the alphas it
reads, the options) are those of the last finished run."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from roto_studio.core.render_state import Records, digest

DEFAULT_FORMAT = "json"


def run_shapes(ctx, store, objects, out: Path, shapes: dict) -> None:
    from roto_studio.ops.render_stages import source_digests
    from roto_studio.ops.shapes import DEFAULT_KEY_TOLERANCE, formats
    from roto_studio.ops.shapes.run import ObjectSource, make_shapes

    fmt = shapes.get("format") or DEFAULT_FORMAT
    tol = float(shapes.get("tolerance") or 1.0)
    budget = shapes.get("max_points")
    ktol = float(shapes.get("key_tolerance") or DEFAULT_KEY_TOLERANCE)
    records = Records(out / ".roto-render", out)
    alphas = ctx.project.alphas(store)
    first = ctx.numbers[0]
    inputs = digest("shapes", fmt, tol, budget, ktol, [(o.id, o.name, list(o.color), o.refine,
                                                   source_digests(ctx, store, o.id, ctx.numbers))
                                                  for o in objects])
    if not ctx.force and records.finished("shapes", "shot", first, inputs):
        ctx.log.line("shapes", None, "skipped")
        return
    t0 = time.monotonic()
    sources = [ObjectSource(o.name, tuple(o.color), partial(alphas.final_alpha, o.id))
               for o in objects]
    doc = make_shapes(sources, ctx.numbers, ctx.media.width, ctx.media.height, ctx.media.read,
                      float(ctx.media.fps), tol, budget, key_tolerance=ktol)
    target = out if fmt == "svg" else out / f"{ctx.project.name}{formats.EXTENSIONS[fmt]}"
    paths = formats.write(doc, target, fmt, ctx.project.name)
    records.record("shapes", "shot", first, inputs, paths)
    seconds = (time.monotonic() - t0) / max(1, len(ctx.numbers))
    for o in doc.objects:
        ctx.log.line("shapes", first, f"written {len(o.shapes)} shapes {len(o.key_frames())} keys",
                     obj=o.name, seconds=seconds)

