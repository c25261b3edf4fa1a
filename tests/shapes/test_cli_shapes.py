"""`roto-studio shapes` end to end: every format written by the CLI, checked by parsers we did not
write (XML, real Lua through lupa, esprima, resvg, Python's compiler for Nuke's code), and read
back by our reader with the same points and tangents as the fitted shapes (the JSON)."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.ops.shapes import formats
from tests.shapes.shot import FIRST, H, W, make_shapes_shot, ring, square

FRAMES = 8


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    shot = make_shapes_shot(root, FRAMES)
    out = {}
    for fmt in formats.FORMATS:
        target = root / "out" / fmt / ("svg" if fmt == "svg" else f"shot{formats.EXTENSIONS[fmt]}")
        assert main(["shapes", str(shot), "--out", str(target), "--format", fmt, "--quiet"]) == 0
        out[fmt] = target
    return shot, out


def fitted(exported):
    return json.loads(exported[1]["json"].read_text())


def test_json_is_animated_shapes_not_redrawn(exported):
    doc = fitted(exported)
    assert doc["width"] == W and doc["height"] == H and doc["frames"] == [FIRST, FIRST + FRAMES - 1]
    ring_obj, box = doc["objects"]
    assert ring_obj["name"] == "ring" and box["name"] == "box"
    holes = [s for s in ring_obj["shapes"] if s["hole"]]
    outers = [s for s in ring_obj["shapes"] if not s["hole"]]
    assert holes and outers
    # carried, not refitted: fewer keys than frames, the point count fixed within a shape
    keys = sum(len(s["keys"]) for s in ring_obj["shapes"])
    assert keys < 2 * FRAMES
    for s in ring_obj["shapes"] + box["shapes"]:
        assert len({len(k["points"]) for k in s["keys"]}) == 1
    # the box exists from its fourth frame on, and keeps its four corners as corners
    assert min(s["first"] for s in box["shapes"]) == FIRST + 3
    k = box["shapes"][0]["keys"][0]
    tin, tout = np.array(k["in"]), np.array(k["out"])
    cos = np.sum(-tin * tout, 1) / (np.linalg.norm(tin, axis=1) * np.linalg.norm(tout, axis=1))
    assert np.count_nonzero(cos < 0.5) >= 4
    # the soft ring (blurred, sigma 1.2 px: its ramp runs about 2.5 px each side) gets feathers of
    # about that width at every point; the hard box gets none
    widths = np.array([f for s in ring_obj["shapes"] for k in s["keys"] for f in k["feather"]])
    assert widths.shape[1] == 2 and 1.5 < widths.mean() < 3.5 and widths.min() > 0.5
    assert not any("feather" in k for s in box["shapes"] for k in s["keys"])


def test_svg_rasterised_by_resvg_matches_the_mattes(exported):
    resvg_py = pytest.importorskip("resvg_py")
    files = sorted(exported[1]["svg"].glob("shot.*.svg"))
    assert [p.name for p in files] == [f"shot.{FIRST + i}.svg" for i in range(FRAMES)]
    for i, path in enumerate(files):
        png = bytes(resvg_py.svg_to_bytes(svg_path=str(path)))
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == (H, W)
        root = ET.parse(path).getroot()
        assert root.get("viewBox") == f"0 0 {W} {H}"
        groups = {g.get("id"): g for g in root.iter("{http://www.w3.org/2000/svg}g")}
        assert set(groups) == {"ring", "box"} and groups["ring"].get("fill-rule") == "evenodd"
        drawn = img[..., 3] >= 128
        truth = ring(i) >= 0.5
        b = square(i)
        if b is not None:
            truth |= b >= 0.5
        iou = np.count_nonzero(drawn & truth) / np.count_nonzero(drawn | truth)
        assert iou > 0.95, (path.name, iou)
        # the hole is cut
        assert not drawn[56, 48 + 3 * i]


def test_fxs_is_silhouette_xml(exported):
    root = ET.parse(exported[1]["silhouette"]).getroot()
    assert root.tag == "Silhouette" and root.get("width") == str(W) and root.get("height") == str(H)
    layers = root.findall("Layer")
    assert [layer.get("label") for layer in layers] == ["ring", "box"]
    shapes = layers[0].findall("Properties/Property[@id='objects']/Object")
    assert shapes and all(s.get("shape_type") == "Bezier" for s in shapes)
    modes = {s.find("Properties/Property[@id='mode']/Value").text for s in shapes}
    assert modes == {"Add", "Subtract"}
    point = shapes[0].find("Properties/Property[@id='path']/Key/Path/Point").text
    assert re.fullmatch(r"(\(-?\d+\.\d+,-?\d+\.\d+\),){2}\(-?\d+\.\d+,-?\d+\.\d+\)", point)


LUA_TOOLS = """
function ordered() return function(t) return t end end
local function tagged(kind) return function(t) t.__kind = kind; return t end end
Input = tagged("Input"); Polyline = tagged("Polyline"); BezierSpline = tagged("BezierSpline")
PolylineMask = tagged("PolylineMask"); OperatorInfo = tagged("OperatorInfo")
FuID = function(t) return t[1] end
"""


def test_setting_evaluates_in_real_lua(exported):
    lupa = pytest.importorskip("lupa")
    lua = lupa.LuaRuntime()
    lua.execute(LUA_TOOLS)
    top = lua.execute("return " + exported[1]["fusion"].read_text())
    tools = top["Tools"]
    doc = fitted(exported)
    kinds = {}
    for name in tools.keys():
        kinds.setdefault(tools[name]["__kind"], []).append(name)
    n_shapes = sum(len(o["shapes"]) for o in doc["objects"])
    assert len(kinds["PolylineMask"]) == n_shapes
    first_shape = doc["objects"][0]["shapes"][0]
    key = first_shape["keys"][0]
    mask = tools["ring_1"]
    spline = tools[mask["Inputs"]["Polyline"]["SourceOp"]]
    value = spline["KeyFrames"][key["frame"]]["Value"]
    assert value["__kind"] == "Polyline" and value["Closed"] is True
    p = value["Points"][1]
    x, y = key["points"][0]
    assert p["X"] == pytest.approx(x / W - 0.5, abs=1e-5)
    assert p["Y"] == pytest.approx((H / 2 - y) / W, abs=1e-5)
    assert len(value["Points"]) == len(key["points"])


def test_jsx_parses_as_javascript_and_keys_mask_paths(exported):
    esprima = pytest.importorskip("esprima")
    text = exported[1]["ae"].read_text()
    tree = esprima.parseScript(text)
    names = set()

    def walk(node):
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif hasattr(node, "type"):
            if node.type == "Identifier":
                names.add(node.name)
            for v in vars(node).values():
                if isinstance(v, (list,)) or hasattr(v, "type"):
                    walk(v)

    walk(tree.body)
    assert {"DATA", "Shape", "setValueAtTime", "vertices", "inTangents", "outTangents",
            "beginUndoGroup", "addSolid"} <= names
    decl = tree.body[0].declarations[0]
    assert decl.id.name == "DATA" and decl.init.type == "ObjectExpression"


def test_nuke_script_and_node_code_compile(exported):
    nk = exported[1]["nuke"]
    text = nk.read_text()
    assert text.startswith("#! nuke") and text.count("Roto {") == 2
    assert f'format "{W} {H} 0 0 {W} {H} 1' in text
    for code in re.findall(r"b64decode\('([A-Za-z0-9+/=]+)'\)", text):
        compile(base64.b64decode(code).decode("utf-8"), "onCreate", "exec")
    script = nk.with_name("shot_nuke.py")
    compile(script.read_text(), str(script), "exec")


@pytest.mark.parametrize("fmt", [f for f in formats.FORMATS if f != "json"])
def test_every_format_reads_back_with_the_fitted_points(exported, fmt):
    want = formats.read(exported[1]["json"])
    path = exported[1][fmt]
    if fmt == "svg":
        path = path / f"shot.{FIRST + 5}.svg"
    got = formats.read(path)
    assert (got.width, got.height) == (W, H)
    assert len(got.objects) == 2
    for wo, go in zip(want.objects, got.objects):
        if fmt == "svg":
            frame = FIRST + 5
            pairs = list(zip([k for _, k in wo.at(frame)], [k for _, k in go.at(frame)]))
            assert len(pairs) == len(wo.at(frame)) == len(go.at(frame))
        else:
            assert [s.hole for s in wo.shapes] == [s.hole for s in go.shapes]
            assert [(s.first, s.last) for s in wo.shapes] == [(s.first, s.last) for s in go.shapes]
            assert [s.key_frames() for s in wo.shapes] == [s.key_frames() for s in go.shapes]
            pairs = [(s.keys[f], t.keys[f]) for s, t in zip(wo.shapes, go.shapes) for f in s.keys]
        assert pairs
        for a, b in pairs:
            np.testing.assert_allclose(b.points, a.points, atol=2e-3)
            np.testing.assert_allclose(b.tin, a.tin, atol=2e-3)
            np.testing.assert_allclose(b.tout, a.tout, atol=2e-3)


def test_bad_arguments_say_what_to_do(tmp_path, capsys, exported):
    shot = exported[0]
    assert main(["shapes", str(shot), "--out", str(tmp_path / "x.json"), "--format", "json",
                 "--object", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no object named 'nope'" in err and "ring" in err and len(err.splitlines()) == 1
    assert main(["shapes", str(shot), "--out", str(tmp_path / "x.json"), "--format", "json",
                 "--tolerance", "0"]) == 2
    assert "--tolerance" in capsys.readouterr().err
    assert main(["shapes", str(shot), "--out", str(tmp_path / "x.json"), "--format", "json",
                 "--key-tolerance", "-1"]) == 2
    assert "--key-tolerance" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_tolerance_and_point_budget(tmp_path, exported):
    shot = exported[0]
    counts = {}
    for tol in ("0.5", "3"):
        out = tmp_path / f"t{tol}.json"
        assert main(["shapes", str(shot), "--out", str(out), "--format", "json", "--tolerance", tol,
                     "--frames", f"{FIRST}-{FIRST + 2}", "--object", "ring", "--quiet"]) == 0
        d = json.loads(out.read_text())
        assert d["frames"] == [FIRST, FIRST + 2]
        counts[tol] = sum(len(s["keys"][0]["points"]) for s in d["objects"][0]["shapes"])
    assert counts["3"] < counts["0.5"]
    out = tmp_path / "budget.json"
    assert main(["shapes", str(shot), "--out", str(out), "--format", "json", "--max-points", "8",
                 "--frames", f"{FIRST}-{FIRST}", "--object", "ring", "--quiet"]) == 0
    d = json.loads(out.read_text())
    assert sum(len(s["keys"][0]["points"]) for s in d["objects"][0]["shapes"]) <= 8
    keys = {}
    for ktol in ("1", "6"):  # the key tolerance: fewer keys where the interpolation may stray further
        out = tmp_path / f"k{ktol}.json"
        assert main(["shapes", str(shot), "--out", str(out), "--format", "json", "--key-tolerance", ktol,
                     "--object", "ring", "--quiet"]) == 0
        keys[ktol] = sum(len(s["keys"]) for s in json.loads(out.read_text())["objects"][0]["shapes"])
    assert keys["6"] < keys["1"], keys


def test_render_shapes_stage(tmp_path, capsys):
    shot = make_shapes_shot(tmp_path, 5)
    out = tmp_path / "render"
    args = ["render", str(shot), "--stages", "shapes", "--out", str(out), "--shapes-format", "silhouette"]
    assert main(args) == 0
    assert ET.parse(out / "shot.fxs").getroot().tag == "Silhouette"
    first = capsys.readouterr().out
    assert "shapes ring 1001 written" in first
    assert main(args) == 0
    assert "shapes - - skipped" in capsys.readouterr().out
