"""Nuke: a `.nk` with one Roto node per object, to paste into the Node Graph, and a Python script
for Nuke's Script Editor that builds the same nodes.

The Roto node's own curve serialisation (the `curves` knob) is undocumented and changes between
Nuke versions, so the shapes are built through Nuke's Python API (`nuke.rotopaint`: Shape,
ShapeControlPoint, addPositionKey on center / leftTangent / rightTangent / featherCenter).
In the `.nk` each Roto node carries that builder in its `onCreate` knob (base64, so no quoting can
break the file): pasting or opening the node builds its shapes on the plate's frame numbers and
format, then clears the knob so they are built once. `NAME_nuke.py` does the same from the
Script Editor (File > Run script... or paste it). Nuke's y axis points up: y_nuke = height - y.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from roto_studio.core.atomic import write_text
from roto_studio.core.export.naming import layer_name

from ..model import ShapeDoc
from .json_svg import from_dict, to_dict

BUILDER = r'''
import json
import nuke
import nuke.rotopaint as rp

DATA = json.loads(PAYLOAD)


def _vec(x, y, w):
    try:
        return rp.CVec3(x, y, w)
    except Exception:
        return (x, y)


def _linear(shape):
    """Linear between keys, as roto-studio interpolates (where this Nuke lets a script set it)."""
    kind = getattr(getattr(rp, "InterpolationType", None), "eLinearInterpolationType", None)
    if kind is None:
        return
    for cp in shape:
        for attr in (cp.center, cp.leftTangent, cp.rightTangent, cp.featherCenter):
            for dim in (0, 1):
                curve = attr.getPositionAnimCurve(dim)
                try:
                    for i in range(curve.getNumberOfKeys()):
                        curve.getKey(i).interpolationType = kind
                except Exception:
                    return


def build(node, obj, height):
    curves = node["curves"]
    root = curves.rootLayer
    for s in obj["shapes"]:
        keys = s["keys"]
        shape = rp.Shape(curves)
        shape.name = s["name"]
        for _ in keys[0]["points"]:
            shape.append(rp.ShapeControlPoint(0.0, 0.0))
        for k in keys:
            f = float(k["frame"])
            feather = k.get("feather")
            for i, cp in enumerate(shape):
                x, y = k["points"][i]
                ix, iy = k["in"][i]
                ox, oy = k["out"][i]
                cp.center.addPositionKey(f, _vec(x, height - y, 1.0))
                cp.leftTangent.addPositionKey(f, _vec(ix, -iy, 0.0))
                cp.rightTangent.addPositionKey(f, _vec(ox, -oy, 0.0))
                if feather:
                    nx, ny = oy - iy, -(ox - ix)  # outward on screen for outer shapes
                    n = (nx * nx + ny * ny) ** 0.5 or 1.0
                    w = feather[i][1] * (-1.0 if s["hole"] else 1.0)
                    cp.featherCenter.addPositionKey(f, _vec(w * nx / n, -w * ny / n, 0.0))
        _linear(shape)
        attrs = shape.getAttributes()
        for name, value in (("ltt", 4), ("ltn", s["first"]), ("ltm", s["last"])):
            try:  # lifetime: the frames the shape exists on
                attrs.set(name, value)
            except Exception:
                pass
        if s["hole"]:
            try:
                attrs.set("bm", 12)  # blending mode minus: a hole cuts the object
            except Exception:
                pass
        root.append(shape)
    curves.changed()
'''


def _payload(doc: ShapeDoc, obj_index: int) -> dict:
    d = to_dict(doc)
    d["objects"] = [d["objects"][obj_index]]
    return d


def _node_code(data: dict) -> str:
    return (f"PAYLOAD = {json.dumps(json.dumps(data))}\n" + BUILDER
            + "\nbuild(nuke.thisNode(), DATA['objects'][0], DATA['height'])\n"
            + "nuke.thisNode()['onCreate'].setValue('')\n")


def write_nk(doc: ShapeDoc, path: Path) -> list[Path]:
    fmt = f"{doc.width} {doc.height} 0 0 {doc.width} {doc.height} 1 roto_studio_{doc.width}x{doc.height}"
    lines = ["#! nuke", "# roto-studio shapes: paste into the Node Graph (or File > Import Script).",
             f"# frames {doc.frames[0] if doc.frames else 0}-{doc.frames[-1] if doc.frames else 0}, "
             f"{doc.width}x{doc.height}, {doc.fps:g} fps"]
    for i, obj in enumerate(doc.objects):
        code = base64.b64encode(_node_code(_payload(doc, i)).encode("utf-8")).decode("ascii")
        lines += ["Roto {", " inputs 0", " output alpha", f' format "{fmt}"',
                  f" name Roto_{layer_name(obj.name)}", f' label "{_tcl(obj.name)}"',
                  f' onCreate "exec(__import__(\'base64\').b64decode(\'{code}\').decode(\'utf-8\'))"',
                  f" xpos {110 * i}", " ypos 0", "}"]
    write_text(path, "\n".join(lines) + "\n")
    script = path.with_name(path.stem + "_nuke.py")
    body = [f"PAYLOAD = {json.dumps(json.dumps(to_dict(doc)))}", BUILDER,
            "for _i, _obj in enumerate(DATA['objects']):",
            "    _node = nuke.nodes.Roto(name='Roto_' + str(_i + 1), label=_obj['name'])",
            f"    _node['format'].fromScript('{fmt}')",
            "    build(_node, _obj, DATA['height'])"]
    write_text(script, '"""roto-studio shapes: run in Nuke\'s Script Editor; makes one Roto node per object."""\n'
               + "\n".join(body) + "\n")
    return [path, script]


def _tcl(text: str) -> str:
    return re.sub(r'[\\"\[\]$\n{}]', "_", str(text))


def read_nk(path: Path) -> ShapeDoc:
    """The shapes inside our `.nk` (each Roto node's builder payload)."""
    text = Path(path).read_text(encoding="utf-8")
    docs = []
    for code in re.findall(r"b64decode\('([A-Za-z0-9+/=]+)'\)", text):
        src = base64.b64decode(code).decode("utf-8")
        m = re.match(r"PAYLOAD = (.*)\n", src)
        if m is None:  # some other node's encoded code, not a roto-studio payload
            continue
        docs.append(from_dict(json.loads(json.loads(m.group(1)))))
    if not docs:
        raise ValueError("no roto-studio Roto node in it")
    doc = docs[0]
    for other in docs[1:]:
        doc.objects.extend(other.objects)
    return doc
