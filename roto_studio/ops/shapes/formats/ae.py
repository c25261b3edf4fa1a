"""After Effects: a `.jsx` (File > Scripts > Run Script File...) that adds, to the active
composition, one solid per object with one mask per shape: Mask Path keyed with Shape objects
(vertices, inTangents, outTangents, closed) at the comp's frame rate, Mask Feather from the
shapes' feather, Subtract mode for holes and a hold-keyed Mask Opacity for each shape's life.
The plate's frame `first` lands on comp time 0; plate pixels are scaled to the comp's size.
The shapes are in a `var DATA = {...};` literal (our JSON schema) that `read_jsx` reads back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from roto_studio.core.atomic import write_text

from ..model import ShapeDoc
from .json_svg import from_dict, to_dict

SCRIPT = r"""
(function () {
    var comp = app.project.activeItem;
    if (!(comp && comp instanceof CompItem)) {
        alert("roto-studio shapes: select (open) a composition first, then run this script again.");
        return;
    }
    app.beginUndoGroup("roto-studio shapes");
    var sx = comp.width / DATA.width, sy = comp.height / DATA.height;
    var first = DATA.frames.length ? DATA.frames[0] : 0;

    function scaled(list) {
        var out = [];
        for (var i = 0; i < list.length; i++) {
            out.push([list[i][0] * sx, list[i][1] * sy]);
        }
        return out;
    }

    function timeOf(frame) {
        return (frame - first) * comp.frameDuration;
    }

    for (var o = 0; o < DATA.objects.length; o++) {
        var obj = DATA.objects[o];
        var colour = [obj.color[0] / 255, obj.color[1] / 255, obj.color[2] / 255];
        var solid = comp.layers.addSolid(colour, obj.name, comp.width, comp.height, comp.pixelAspect);
        for (var s = 0; s < obj.shapes.length; s++) {
            var data = obj.shapes[s];
            var mask = solid.property("ADBE Mask Parade").addProperty("ADBE Mask Atom");
            mask.name = data.name;
            mask.maskMode = data.hole ? MaskMode.SUBTRACT : MaskMode.ADD;
            var path = mask.property("ADBE Mask Shape");
            var feather = mask.property("ADBE Mask Feather");
            for (var k = 0; k < data.keys.length; k++) {
                var key = data.keys[k];
                var shape = new Shape();
                shape.vertices = scaled(key.points);
                shape.inTangents = scaled(key["in"]);
                shape.outTangents = scaled(key.out);
                shape.closed = true;
                path.setValueAtTime(timeOf(key.frame), shape);
                if (key.feather) {
                    var f = 0;
                    for (var p = 0; p < key.feather.length; p++) {
                        f += key.feather[p][0] + key.feather[p][1];
                    }
                    f = f / Math.max(1, key.feather.length);
                    feather.setValueAtTime(timeOf(key.frame), [f * sx, f * sy]);
                }
            }
            var opacity = mask.property("ADBE Mask Opacity");
            if (data.first > first) {
                opacity.setValueAtTime(timeOf(first), 0);
            }
            opacity.setValueAtTime(timeOf(data.first), 100);
            if (data.last < DATA.frames[1]) {
                opacity.setValueAtTime(timeOf(data.last + 1), 0);
            }
            for (var n = 1; n <= opacity.numKeys; n++) {
                opacity.setInterpolationTypeAtKey(n, KeyframeInterpolationType.HOLD);
            }
        }
    }
    app.endUndoGroup();
})();
"""


def write_jsx(doc: ShapeDoc, path: Path) -> Path:
    text = ("// roto-studio shapes for After Effects: File > Scripts > Run Script File... with the comp open.\n"
            f"var DATA = {json.dumps(to_dict(doc))};\n" + SCRIPT)
    write_text(path, text)
    return path


def read_jsx(path: Path) -> ShapeDoc:
    text = Path(path).read_text(encoding="utf-8")
    m = re.search(r"^var DATA = (\{.*\});$", text, re.M)
    if not m:
        raise ValueError("no roto-studio DATA in it")
    return from_dict(json.loads(m.group(1)))
