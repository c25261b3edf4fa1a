"""No module reaches into another object's privates: `other._name` (read, set, or through
getattr/setattr/hasattr/delattr with a "_name" string, or `other.__dict__`) appears only on `self`,
`cls` or `super()`, and no module imports another's private names. The exceptions are workarounds on upstream libraries' objects (sam2's
predictor, Cutie's feature store, torch, argparse), each listed below with its reason; a listed
exception that is no longer found fails too, so the list stays true."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roto_studio"

# (module path under roto_studio, attribute): why reaching in is needed
UPSTREAM = {
    ("models/sam2/image.py", "_bb_feat_sizes"): "sam2 SAM2ImagePredictor keeps its feature sizes private",
    ("models/sam2/image.py", "_features"): "SAM2ImagePredictor: the cached image embedding we keep per key",
    ("models/sam2/image.py", "_orig_hw"): "SAM2ImagePredictor: the image size that goes with the embedding",
    ("models/sam2/image.py", "_is_image_set"): "SAM2ImagePredictor: restoring a cached embedding",
    ("models/sam2/image.py", "_is_batch"): "SAM2ImagePredictor: restoring a cached embedding",
    ("models/sam2/image.py", "_prep_prompts"): "SAM2ImagePredictor: predict with our own mask logits",
    ("models/sam2/image.py", "_predict"): "SAM2ImagePredictor: predict with our own mask logits",
    ("models/sam2/video.py", "_obj_id_to_idx"): "SAM2VideoPredictor's per-object bookkeeping",
    ("models/sam2/video.py", "_get_orig_video_res_output"): "SAM2VideoPredictor: one frame without init_state",
    ("models/sam2/video.py", "_get_obj_num"): "SAM2VideoPredictor: one frame without init_state",
    ("models/sam2/video.py", "_run_single_frame_inference"): "SAM2VideoPredictor: one frame without init_state",
    ("models/sam2/video.py", "_roto_dtype_fix"): "our marker on an upstream torch model (patched once)",
    ("models/cutie/video.py", "_store"): "Cutie's image feature store has no public way to drop old frames",
    ("models/cleanplate/diffusion.py", "_is_mkldnn_bf16_supported"): "torch: whether the CPU runs bfloat16",
    ("models/cpu/export.py", "_roto_cpu_runtime"): "our marker on an upstream model (exported once)",
    ("models/hf/speed.py", "_roto_constant_caches"): "our marker on a transformers model (patched once)",
    ("models/hf/speed.py", "_roto_fused"): "our marker on a timm module (fused once)",
    ("commands/render.py", "_actions"): "argparse has no public list of a parser's options",
}
OWN = ("self", "cls")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _on_own(node: ast.expr) -> bool:
    if isinstance(node, ast.Name) and node.id in OWN:
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def reach_ins(source: str) -> list[tuple[int, str, str]]:
    """(line, attribute, code) of each reach into another object's privates in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and not _on_own(node.value):
            if _private(node.attr) or node.attr == "__dict__":
                found.append((node.lineno, node.attr, ast.unparse(node)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value) and not _on_own(node.args[0])):
            found.append((node.lineno, node.args[1].value, ast.unparse(node)))
    return found


def test_no_module_reaches_into_another_objects_privates():
    bad, seen = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for line, attr, code in reach_ins(path.read_text(encoding="utf-8")):
            if (rel, attr) in UPSTREAM:
                seen.add((rel, attr))
            else:
                bad.append(f"roto_studio/{rel}:{line}: {code}")
    assert not bad, "private attributes used from outside their object:\n" + "\n".join(bad)
    stale = sorted(set(UPSTREAM) - seen)
    assert not stale, f"listed upstream workarounds no longer found (drop them from UPSTREAM): {stale}"


def test_the_scan_sees_each_form():
    code = ("def f(engine, backends, self):\n"
            "    engine._own_media = True\n"
            "    x = backends._video\n"
            "    getattr(engine, '_roto_text_finder', None)\n"
            "    engine.__dict__.setdefault('k', 1)\n"
            "    self._fine = super()._also_fine\n"
            "    return engine.public, engine.__class__\n")
    assert sorted(a for _, a, _ in reach_ins(code)) == ["__dict__", "_own_media", "_roto_text_finder", "_video"]


def private_imports(source: str) -> list[str]:
    """`from roto_studio.x import _name` lines: another module's private name taken."""
    return [f"from {n.module} import {a.name}" for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("roto_studio")
            for a in n.names if _private(a.name)]


def test_no_module_imports_another_modules_private_names():
    bad = [f"roto_studio/{p.relative_to(PACKAGE).as_posix()}: {line}" for p in sorted(PACKAGE.rglob("*.py"))
           for line in private_imports(p.read_text(encoding="utf-8"))]
    assert not bad, "private names imported from another module (make them public there):\n" + "\n".join(bad)
    assert private_imports("from roto_studio.core.media.files import MiB, _stat\nfrom os import _exit\n") \
        == ["from roto_studio.core.media.files import _stat"]
