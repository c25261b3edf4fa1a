"""Shapes files that another tool or a hand edit damaged are refused in one line (RotoError, as
for any unreadable shapes file), never with a TypeError or AttributeError traceback; a Nuke script
with another node's encoded code beside our Roto nodes still reads (issue #23: mypy found these)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest

from roto_studio.core.errors import RotoError
from roto_studio.ops.shapes import formats
from roto_studio.ops.shapes.model import Key, ObjectShapes, Shape, ShapeDoc

SVG_NS = "http://www.w3.org/2000/svg"


def a_doc() -> ShapeDoc:
    square = [[10.0, 10.0], [50.0, 10.0], [50.0, 40.0], [10.0, 40.0]]
    flat = [[0.0, 0.0]] * 4
    doc = ShapeDoc(64, 48, [1001, 1002])
    obj = ObjectShapes("box", (200, 40, 40))
    obj.shapes.append(Shape("box_shape1", False, {1001: Key(square, flat, flat)}, 1001, 1002))
    doc.objects.append(obj)
    return doc


def written(tmp_path, fmt: str):
    out = tmp_path / ("svg" if fmt == "svg" else f"shot{formats.EXTENSIONS[fmt]}")
    return formats.write(a_doc(), out, fmt, "shot")[0]


def damage(path, change) -> None:
    ET.register_namespace("", SVG_NS)
    tree = ET.parse(path)
    change(tree.getroot())
    tree.write(path, encoding="unicode")


def test_fxs_without_its_width(tmp_path):
    path = written(tmp_path, "silhouette")
    damage(path, lambda root: root.attrib.pop("width"))
    with pytest.raises(RotoError, match=r"cannot read the shapes in .*no width"):
        formats.read(path)


def test_fxs_with_an_empty_point(tmp_path):
    path = written(tmp_path, "silhouette")

    def empty_point(root):
        next(root.iter("Point")).text = None

    damage(path, empty_point)
    with pytest.raises(RotoError, match=r"cannot read the shapes in .*<Point> is empty"):
        formats.read(path)


def test_svg_without_its_height(tmp_path):
    path = written(tmp_path, "svg")
    damage(path, lambda root: root.attrib.pop("height"))
    with pytest.raises(RotoError, match=r"cannot read the shapes in .*no width or height"):
        formats.read(path)


def test_undamaged_files_still_read(tmp_path):
    for fmt in ("silhouette", "svg"):
        doc = formats.read(written(tmp_path / fmt, fmt))
        assert (doc.width, doc.height) == (64, 48)
        assert [o.name for o in doc.objects] == ["box"]


def test_nk_with_another_nodes_encoded_code_reads_our_shapes(tmp_path):
    path = written(tmp_path, "nuke")
    other = base64.b64encode(b"print('not a roto-studio node')\n").decode("ascii")
    path.write_text(path.read_text(encoding="utf-8") + "NoOp {\n name Other\n onCreate "
                    f"\"exec(__import__('base64').b64decode('{other}').decode('utf-8'))\"\n}}\n",
                    encoding="utf-8")
    doc = formats.read(path)
    assert [o.name for o in doc.objects] == ["box"]
    assert [s.name for s in doc.objects[0].shapes] == ["box_shape1"]
