"""Our JSON shape file (the documented schema below) and SVG, one file per frame.

JSON (`format: roto-studio-shapes`, `version: 1`): `width`, `height` (plate pixels), `fps`,
`frames` [first, last], `interpolation` ("linear": every value between two keys),
`coordinates` (pixels, origin at the image's top-left corner, y down), and `objects`: each
{`name`, `color` [r, g, b], `shapes`: [{`name`, `hole` (true: cuts the object's other shapes),
`first`, `last` (frames it exists on), `keys`: [{`frame`, `points` [[x, y]...], `in`, `out`
([[dx, dy]...] tangents relative to their point), `feather` ([[inner, outer]...] px, optional)}]}]}.

SVG: `viewBox` the plate size, a `<g id="OBJECT">` per object, one `<path>` per shape (absolute
M / C / Z) with `fill-rule="evenodd"`; a hole is a sub-path of the path of the part around it, so
it cuts (SVG's fill rule works within a path). `data-shapes` / `data-holes` name the sub-paths;
the frame number is kept in `data-frame`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from roto_studio.core.atomic import write_text
from roto_studio.core.export.naming import file_safe, format_name

from ..model import Key, ObjectShapes, Shape, ShapeDoc, path_data

FORMAT = "roto-studio-shapes"
VERSION = 1


def to_dict(doc: ShapeDoc) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "width": doc.width, "height": doc.height, "fps": doc.fps,
        "frames": [doc.frames[0], doc.frames[-1]] if doc.frames else [],
        "interpolation": "linear", "coordinates": "pixels, origin top-left, y down",
        "objects": [{"name": o.name, "color": list(o.color), "shapes": [
            {"name": s.name, "hole": s.hole, "first": s.first, "last": s.last,
             "keys": [{"frame": f, **s.keys[f].to_dict()} for f in s.key_frames()]}
            for s in o.shapes]} for o in doc.objects],
    }


def from_dict(d: dict) -> ShapeDoc:
    if d.get("format") != FORMAT:
        raise ValueError("not a roto-studio shapes file")
    if int(d.get("version", 0)) > VERSION:
        raise ValueError(f"written by a newer roto-studio (version {d['version']})")
    first, last = (d.get("frames") or [0, -1])[:2]
    doc = ShapeDoc(int(d["width"]), int(d["height"]), list(range(int(first), int(last) + 1)), float(d.get("fps", 24)))
    for o in d["objects"]:
        r, g, b = (int(c) for c in o.get("color", (255, 80, 80)))
        obj = ObjectShapes(str(o["name"]), (r, g, b))
        for s in o["shapes"]:
            keys = {int(k["frame"]): Key(k["points"], k["in"], k["out"], k.get("feather")) for k in s["keys"]}
            obj.shapes.append(Shape(str(s["name"]), bool(s.get("hole")), keys,
                                    s.get("first"), s.get("last")))
        doc.objects.append(obj)
    return doc


def write_json(doc: ShapeDoc, path: Path) -> Path:
    write_text(path, json.dumps(to_dict(doc), indent=1) + "\n")
    return path


def read_json(path: Path) -> ShapeDoc:
    return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def svg_text(doc: ShapeDoc, frame: int) -> str:
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{doc.width}" height="{doc.height}" '
             f'viewBox="0 0 {doc.width} {doc.height}" data-frame="{frame}">']
    for o in doc.objects:
        r, g, b = o.color
        lines.append(f'  <g id="{_attr(o.name)}" fill="rgb({r},{g},{b})" fill-rule="evenodd" stroke="none">')
        for members in _parts(o.at(frame)):
            names = " ".join(_attr(s.name) for s, _ in members)
            holes = " ".join(str(s.hole).lower() for s, _ in members)
            d = " ".join(path_data(k, 4) for _, k in members)
            lines.append(f'    <path id="{_attr(members[0][0].name)}" data-shapes="{names}" '
                         f'data-holes="{holes}" fill-rule="evenodd" d="{d}"/>')
        lines.append("  </g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def _parts(pairs):
    """Outer shapes, each followed by the holes inside it (a hole with no part around it alone)."""
    import cv2

    outers = [[p] for p in pairs if not p[0].hole]
    for p in pairs:
        if not p[0].hole:
            continue
        x, y = p[1].points[0]
        home = next((grp for grp in outers if cv2.pointPolygonTest(
            grp[0][1].sample(2.0).astype(np.float32), (float(x), float(y)), False) > 0), None)
        (home.append(p) if home is not None else outers.append([p]))
    return outers


def write_svgs(doc: ShapeDoc, pattern: Path) -> list[Path]:
    """One SVG per frame of the doc, named by `pattern` (its `####` filled with the frame)."""
    folder, name = pattern.parent, pattern.name
    if "#" not in name and "%" not in name and "{frame" not in name:
        name = name[: -len(".svg")] + ".####.svg"
    out = []
    for f in doc.frames:
        path = folder / format_name(name, "shapes", f, "shapes")
        write_text(path, svg_text(doc, f))
        out.append(path)
    return out


def frame_svg(doc: ShapeDoc, frame: int) -> str:
    """One frame's SVG text (fidelity checks rasterise it with an independent renderer)."""
    return svg_text(doc, frame)


_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def read_svg(path: Path) -> ShapeDoc:
    """The shapes of one frame's SVG (each as a one-key shape on that frame)."""
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    frame = int(root.get("data-frame", "0"))
    width, height = root.get("width"), root.get("height")
    if width is None or height is None:
        raise ValueError("its <svg> has no width or height")
    doc = ShapeDoc(int(float(width)), int(float(height)), [frame])
    for g in root.iter(f"{ns}g"):
        obj = ObjectShapes(g.get("id", "object"), _colour(g.get("fill", "")))
        for p in g.iter(f"{ns}path"):
            subpaths = ["M" + part for part in p.get("d", "").split("M") if part.strip()]
            names = (p.get("data-shapes") or "").split() or [p.get("id", "shape")] * len(subpaths)
            holes = (p.get("data-holes") or "").split() or ["false"] * len(subpaths)
            for d, name, hole in zip(subpaths, names, holes):
                obj.shapes.append(Shape(name, hole == "true", {frame: key_from_path(d)}, frame, frame))
        doc.objects.append(obj)
    return doc


def key_from_path(d: str) -> Key:
    """A Key from `M x,y C ... Z` (absolute cubic commands, closed), as path_data writes."""
    if not d.strip().startswith("M"):
        raise ValueError("a shape path starts with M")
    parts = [np.array([float(v) for v in _NUM.findall(chunk)]).reshape(-1, 2)
             for chunk in re.split(r"[CZ]", d[d.index("M") + 1:]) if chunk.strip()]
    start, curves = parts[0][0], parts[1:]
    n = len(curves)
    points = np.array([start] + [c[2] for c in curves[:-1]])
    tout = np.array([curves[i][0] - points[i] for i in range(n)])
    tin = np.array([curves[(i - 1) % n][1] - points[i] for i in range(n)])
    return Key(points, tin, tout)


def _colour(text: str):
    nums = [int(v) for v in re.findall(r"\d+", text)]
    return tuple(nums[:3]) if len(nums) >= 3 else (255, 80, 80)


def _attr(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def object_file_name(name: str) -> str:
    return file_safe(name)
