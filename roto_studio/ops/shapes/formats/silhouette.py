"""Silhouette: an `.fxs` shape file (File > Import > Silhouette Shapes), as Silhouette writes it.

`<Silhouette width height workRangeStart workRangeEnd sessionStartFrame>` holds a `<Layer>` per
object; each shape is an `<Object type="Shape" shape_type="Bezier">` whose `path` property has a
`<Key frame interp="linear">` per key (frames counted from sessionStartFrame) holding
`<Path closed="True" type="Bezier">` with one `<Point>(x,y),(in),(out)</Point>` per anchor: the
anchor and its two handles, absolute. Silhouette's image coordinates: origin at the image centre,
y down, both axes in units of the image height (x = (px - width/2) / height). Holes use the
Subtract mode; a shape's life is an `opacity` keyed 0 / 100 with hold keys.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from roto_studio.core.atomic import write_text

from ..model import Key, ObjectShapes, Shape, ShapeDoc


def _prop(parent, pid: str, value: str | None = None, constant: bool = True):
    p = ET.SubElement(parent, "Property", {"id": pid, **({"constant": "True"} if constant else {})})
    if value is not None:
        ET.SubElement(p, "Value").text = value
    return p


def write_fxs(doc: ShapeDoc, path: Path) -> Path:
    first = doc.frames[0] if doc.frames else 0
    last = doc.frames[-1] if doc.frames else 0
    w, h = float(doc.width), float(doc.height)

    def xy(p):
        return f"({(p[0] - w / 2) / h:.6f},{(p[1] - h / 2) / h:.6f})"

    root = ET.Element("Silhouette", {"width": str(doc.width), "height": str(doc.height),
                                     "workRangeStart": str(first), "workRangeEnd": str(last),
                                     "sessionStartFrame": str(first)})
    for obj in doc.objects:
        layer = ET.SubElement(root, "Layer", {"type": "Layer", "label": obj.name, "expanded": "True"})
        props = ET.SubElement(layer, "Properties")
        colour = "(%s)" % ",".join(f"{c / 255:.6f}" for c in obj.color)
        _prop(props, "color", colour)
        _prop(props, "invert", "false")
        _prop(props, "mode", "Add")
        objects = ET.SubElement(props, "Property", {"id": "objects", "constant": "True", "expanded": "True"})
        for s in obj.shapes:
            o = ET.SubElement(objects, "Object", {"type": "Shape", "label": s.name, "shape_type": "Bezier",
                                                  "hidden": "False", "locked": "False"})
            sp = ET.SubElement(o, "Properties")
            life = _prop(sp, "opacity", constant=False)
            for f, v in _life_keys(s, first, last):
                ET.SubElement(life, "Key", {"frame": str(f - first), "interp": "hold"}).text = v
            _prop(sp, "mode", "Subtract" if s.hole else "Add")
            _prop(sp, "invert", "false")
            _prop(sp, "outlineColor", colour)
            pp = _prop(sp, "path", constant=False)
            for f in s.key_frames():
                k = s.keys[f]
                key = ET.SubElement(pp, "Key", {"frame": str(f - first), "interp": "linear"})
                path_el = ET.SubElement(key, "Path", {"closed": "True", "type": "Bezier"})
                for p, i, t in zip(k.points, k.points + k.tin, k.points + k.tout):
                    ET.SubElement(path_el, "Point").text = f"{xy(p)},{xy(i)},{xy(t)}"
            if any(s.keys[f].feather is not None for f in s.keys):
                fe = _prop(sp, "outerFeather", constant=False)
                for f in s.key_frames():
                    ET.SubElement(fe, "Key", {"frame": str(f - first), "interp": "linear"}).text = \
                        f"{float(np.mean(s.keys[f].feathers()[:, 1])):.3f}"
    ET.indent(root)
    write_text(path, '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
               + ET.tostring(root, encoding="unicode") + "\n")
    return path


def _life_keys(s: Shape, first: int, last: int) -> list[tuple[int, str]]:
    keys = []
    if s.first is not None and s.first > first:
        keys.append((first, "0"))
    keys.append((s.first if s.first is not None else first, "100"))
    if s.last is not None and s.last < last:
        keys.append((s.last + 1, "0"))
    return keys


_PAIR = re.compile(r"\(\s*(-?[\d.eE+-]+)\s*,\s*(-?[\d.eE+-]+)\s*\)")


def _attr(el: ET.Element, name: str) -> str:
    """The attribute `name` of `el`; ValueError when the file leaves it out."""
    value = el.get(name)
    if value is None:
        raise ValueError(f"a <{el.tag}> has no {name}")
    return value


def _text(el: ET.Element) -> str:
    if el.text is None:
        raise ValueError(f"a <{el.tag}> is empty")
    return el.text


def read_fxs(path: Path) -> ShapeDoc:
    root = ET.parse(path).getroot()
    w, h = int(_attr(root, "width")), int(_attr(root, "height"))
    first, last = int(root.get("workRangeStart", 0)), int(root.get("workRangeEnd", 0))
    start = int(root.get("sessionStartFrame", first))
    doc = ShapeDoc(w, h, list(range(first, last + 1)))
    for layer in root.findall("Layer"):
        colour = layer.find("Properties/Property[@id='color']/Value")
        rgb = tuple(int(round(float(v) * 255)) for v in re.findall(r"[\d.]+", _text(colour))) \
            if colour is not None else (255, 80, 80)
        obj = ObjectShapes(layer.get("label", "object"), (rgb[0], rgb[1], rgb[2]) if len(rgb) >= 3 else (255, 80, 80))
        for o in layer.iter("Object"):
            if o.get("type") != "Shape":
                continue
            mode = o.find("Properties/Property[@id='mode']/Value")
            keys = {}
            for key in o.findall("Properties/Property[@id='path']/Key"):
                pts = []
                for point in key.iter("Point"):
                    pts.append([(float(x) * h + w / 2, float(y) * h + h / 2) for x, y in _PAIR.findall(_text(point))])
                a = np.array(pts)  # (N, 3, 2): anchor, in, out
                keys[int(_attr(key, "frame")) + start] = Key(a[:, 0], a[:, 1] - a[:, 0], a[:, 2] - a[:, 0])
            life = [(int(_attr(k, "frame")) + start, float(_text(k))) for k in
                    o.findall("Properties/Property[@id='opacity']/Key")]
            on = [f for f, v in life if v > 0]
            off = [f for f, v in life if v <= 0 and on and f > on[0]]
            s_first = on[0] if on else min(keys)
            s_last = (off[0] - 1) if off else last
            obj.shapes.append(Shape(o.get("label", "shape"), mode is not None and mode.text == "Subtract", keys,
                                    s_first, s_last))
        doc.objects.append(obj)
    return doc
