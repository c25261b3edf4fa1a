"""Fusion / DaVinci Resolve: a `.setting` (a Lua table; paste it into a Fusion flow) with a
PolylineMask per shape, chained through their EffectMask inputs, one chain per object.

Each mask's `Polyline` input is animated by a BezierSpline whose KeyFrames hold
`Polyline { Closed = true, Points = { { X, Y, LX, LY, RX, RY }, ... } }` (LX/LY the in handle,
RX/RY the out handle, relative to the point). Fusion's mask coordinates: origin at the image
centre, y up, both axes in units of the image width (x = px / width - 0.5,
y = (height / 2 - py) / width). Holes paint in Subtract mode; a shape's life keys its Level
(0 outside it). `read_setting` parses the subset of Lua this writer emits.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from roto_studio.core.atomic import write_text
from roto_studio.core.export.naming import layer_name

from ..model import Key, ObjectShapes, Shape, ShapeDoc


def _n(v: float) -> str:
    return f"{float(v):.6f}"


def write_setting(doc: ShapeDoc, path: Path) -> Path:
    w, h = float(doc.width), float(doc.height)
    first = doc.frames[0] if doc.frames else 0
    last = doc.frames[-1] if doc.frames else 0
    tools, previous, index = [], None, []
    for oi, obj in enumerate(doc.objects):
        base = layer_name(obj.name)
        previous = None
        index.append(f"{{ Name = {_lua_string(obj.name)}, Tools = {{ "
                     + ", ".join(f'"{base}_{si + 1}"' for si in range(len(obj.shapes))) + " } }")
        for si, s in enumerate(obj.shapes):
            name = f"{base}_{si + 1}"
            spline = f"{name}Polyline"
            level = f"{name}Level"
            inputs = [f"MaskWidth = Input {{ Value = {doc.width}, }},",
                      f"MaskHeight = Input {{ Value = {doc.height}, }},",
                      "PixelAspect = Input { Value = { 1, 1 }, },",
                      "ClippingMode = Input { Value = FuID { \"None\" }, },",
                      f"Polyline = Input {{ SourceOp = \"{spline}\", Source = \"Value\", }},",
                      f"Level = Input {{ SourceOp = \"{level}\", Source = \"Value\", }},"]
            if s.hole:
                inputs.append("PaintMode = Input { Value = FuID { \"Subtract\" }, },")
            if previous:
                inputs.append(f"EffectMask = Input {{ SourceOp = \"{previous}\", Source = \"Mask\", }},")
            feather = [np.mean(s.keys[f].feathers()[:, 1]) for f in s.keys]
            if max(feather, default=0) > 0:
                inputs.append(f"SoftEdge = Input {{ Value = {_n(max(feather) / w)}, }},")
            tools.append(f"{name} = PolylineMask {{\n  NameSet = true,\n  Inputs = {{\n    "
                         + "\n    ".join(inputs)
                         + f"\n  }},\n  ViewInfo = OperatorInfo {{ Pos = {{ {110 * si}, {66 * oi} }} }},\n}},")
            keys = []
            for f in s.key_frames():
                k = s.keys[f]
                pts = []
                for p, i, o in zip(k.points, k.tin, k.tout):
                    pts.append(f"{{ X = {_n(p[0] / w - 0.5)}, Y = {_n((h / 2 - p[1]) / w)}, "
                               f"LX = {_n(i[0] / w)}, LY = {_n(-i[1] / w)}, "
                               f"RX = {_n(o[0] / w)}, RY = {_n(-o[1] / w)} }}")
                keys.append(f"[{f}] = {{ 0, Flags = {{ Linear = true, LockedY = true }}, Value = Polyline {{\n"
                            f"      Closed = true,\n      Points = {{\n        " + ",\n        ".join(pts)
                            + "\n      }\n    } },")
            tools.append(f"{spline} = BezierSpline {{\n  SplineColor = {{ Red = {obj.color[0]}, Green = "
                         f"{obj.color[1]}, Blue = {obj.color[2]} }},\n  NameSet = true,\n  KeyFrames = {{\n    "
                         + "\n    ".join(keys) + "\n  }\n},")
            life = []
            s_first = s.first if s.first is not None else first
            s_last = s.last if s.last is not None else last
            if s_first > first:
                life.append(f"[{s_first - 1}] = {{ 0, Flags = {{ Linear = true }} }},")
            life.append(f"[{s_first}] = {{ 1, Flags = {{ Linear = true }} }},")
            life.append(f"[{s_last}] = {{ 1, Flags = {{ Linear = true }} }},")
            if s_last < last:
                life.append(f"[{s_last + 1}] = {{ 0, Flags = {{ Linear = true }} }},")
            tools.append(f"{level} = BezierSpline {{\n  NameSet = true,\n  KeyFrames = {{\n    "
                         + "\n    ".join(life) + "\n  }\n},")
            previous = name
    text = ("{\n Tools = ordered() {\n" + "\n".join(tools) + "\n },\n"
            f" ActiveTool = \"{previous or ''}\",\n"
            f" RotoStudio = {{ Width = {doc.width}, Height = {doc.height}, First = {first}, Last = {last}, "
            f"Fps = {_n(doc.fps)},\n   Objects = {{ " + ", ".join(index) + " } },\n}\n")
    write_text(path, text)
    return path


def _lua_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


# ---------------------------------------------------------------- our reader (a tiny Lua subset)

_TOKEN = re.compile(r'\s*(?:(--[^\n]*)|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)|(.))')


class _Call(dict):
    """`Name { ... }`: the table, with the constructor's name."""

    def __init__(self, name, table):
        super().__init__(table if isinstance(table, dict) else {})
        self.name = name


def _tokens(text):
    for m in _TOKEN.finditer(text):
        comment, string, number, ident, other = m.groups()
        if comment:
            continue
        if string is not None:
            yield ("s", string[1:-1])
        elif number is not None:
            yield ("n", float(number))
        elif ident is not None:
            yield ("i", ident)
        elif other and not other.isspace():
            yield ("p", other)


def parse_lua_table(text: str):
    toks = list(_tokens(text))
    pos = [0]

    def peek(k=0):
        return toks[pos[0] + k] if pos[0] + k < len(toks) else ("eof", None)

    def take(kind=None, value=None):
        t = toks[pos[0]]
        if (kind and t[0] != kind) or (value is not None and t[1] != value):
            raise ValueError(f"unexpected {t[1]!r} in the .setting")
        pos[0] += 1
        return t

    def value():
        kind, v = peek()
        if kind == "p" and v == "{":
            return table()
        if kind in ("s", "n"):
            take()
            return v
        if kind == "i":
            take()
            if v in ("true", "false"):
                return v == "true"
            if v == "nil":
                return None
            if peek() == ("p", "("):
                take("p", "(")
                take("p", ")")
            if peek() == ("p", "{"):
                return _Call(v, table())
            return v
        raise ValueError(f"unexpected {v!r} in the .setting")

    def table():
        take("p", "{")
        out, n = {}, 1
        while peek() != ("p", "}"):
            if peek()[0] == "p" and peek()[1] == "[":
                take()
                k = value()
                take("p", "]")
                take("p", "=")
                out[int(k) if isinstance(k, float) else k] = value()
            elif peek()[0] == "i" and peek(1) == ("p", "="):
                k = take()[1]
                take("p", "=")
                out[k] = value()
            else:
                out[n] = value()
                n += 1
            if peek()[0] == "p" and peek()[1] in ",;":
                take()
        take("p", "}")
        return out

    return value()


def read_setting(path: Path) -> ShapeDoc:
    top = parse_lua_table(Path(path).read_text(encoding="utf-8"))
    info = top["RotoStudio"]
    w, h = float(info["Width"]), float(info["Height"])
    first, last = int(info["First"]), int(info["Last"])
    doc = ShapeDoc(int(w), int(h), list(range(first, last + 1)), float(info.get("Fps", 24)))
    tools = top["Tools"]
    objects: dict[str, ObjectShapes] = {}
    for name, tool in tools.items():
        if getattr(tool, "name", "") != "PolylineMask":
            continue
        inputs = tool["Inputs"]
        spline = tools[inputs["Polyline"]["SourceOp"]]
        color = spline.get("SplineColor", {})
        obj_name = name.rsplit("_", 1)[0]
        obj = objects.setdefault(obj_name, ObjectShapes(obj_name, (int(color.get("Red", 255)),
                                                                    int(color.get("Green", 80)),
                                                                    int(color.get("Blue", 80)))))
        keys = {}
        for frame, kf in spline["KeyFrames"].items():
            pts = [kf["Value"]["Points"][i] for i in sorted(kf["Value"]["Points"])]
            p = np.array([[(q["X"] + 0.5) * w, h / 2 - q["Y"] * w] for q in pts])
            tin = np.array([[q["LX"] * w, -q["LY"] * w] for q in pts])
            tout = np.array([[q["RX"] * w, -q["RY"] * w] for q in pts])
            keys[int(frame)] = Key(p, tin, tout)
        level = tools[inputs["Level"]["SourceOp"]]["KeyFrames"]
        on = sorted(f for f, v in level.items() if v[1] > 0)
        hole = "PaintMode" in inputs and inputs["PaintMode"]["Value"][1] == "Subtract"
        obj.shapes.append(Shape(name, hole, keys, on[0], on[-1]))
    listed = info.get("Objects")
    if isinstance(listed, dict):  # the objects' own names and order, empty ones included
        by_tool = {s.name: (o, s) for o in objects.values() for s in o.shapes}
        ordered = []
        for i in sorted(listed):
            entry = listed[i]
            tools_of = entry.get("Tools", {})
            obj = ObjectShapes(str(entry["Name"]))
            for j in sorted(tools_of):
                found = by_tool.get(tools_of[j])
                if found:
                    obj.color = found[0].color
                    obj.shapes.append(found[1])
            ordered.append(obj)
        doc.objects = ordered
    else:
        doc.objects = list(objects.values())
    return doc
