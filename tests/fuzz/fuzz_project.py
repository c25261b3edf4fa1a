"""Property-based fuzzing of the project loader: any bytes, any JSON-ish structure, any mutation
of a valid project gives either a Project or a ProjectError, never another exception.

Shared by the test (few cases) and benchmarks/fuzz.py (10,000+ cases)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roto_studio.core.errors import ProjectError
from roto_studio.core.project import FORMAT, VERSION, Project, load_project

json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=20)

VALID = {
    "format": FORMAT, "version": VERSION, "media": {"path": "plate.####.exr"},
    "objects": [{"id": "obj1", "name": "hero", "color": [255, 0, 0], "visible": True, "locked": False, "refine": {}}],
    "prompts": {"obj1": {"1001": {"points": [[1.0, 2.0, 1]], "box": [0, 0, 10, 10], "has_mask": False}}},
    "locked": {"obj1": [[1001, 1010]]}, "settings": {},
}

paths = st.recursive(st.sampled_from(list(VALID)), lambda c: st.tuples(c, st.sampled_from(["0", "obj1", "1001", "points", "id", "color", "box"])), max_leaves=3)


def _mutate(doc, key_path, value):
    doc = json.loads(json.dumps(doc))
    keys = []
    while isinstance(key_path, tuple):
        key_path, k = key_path
        keys.insert(0, k)
    keys.insert(0, key_path)
    node = doc
    for k in keys[:-1]:
        if isinstance(node, list):
            node = node[0] if node else {}
        elif isinstance(node, dict):
            node = node.setdefault(k, {})
    if isinstance(node, dict):
        node[keys[-1]] = value
    elif isinstance(node, list) and node:
        node[0] = value
    return doc


def check_bytes(folder, data: bytes):
    folder.mkdir(exist_ok=True)
    (folder / "project.json").write_bytes(data)
    try:
        p = load_project(folder)
    except ProjectError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(p, Project)
    p.to_dict()  # what loaded can be saved again


def make_tests(max_examples: int, tmp_factory):
    common = settings(max_examples=max_examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))

    @common
    @given(st.binary(max_size=300))
    def raw_bytes(data):
        check_bytes(tmp_factory(), data)

    @common
    @given(json_values)
    def any_json(value):
        check_bytes(tmp_factory(), json.dumps(value).encode())

    @common
    @given(paths, json_values)
    def mutated_valid(key_path, value):
        check_bytes(tmp_factory(), json.dumps(_mutate(VALID, key_path, value)).encode())

    @common
    @given(st.integers(0, 2000), st.integers(0, 255))
    def truncated_or_flipped(cut, byte):
        data = bytearray(json.dumps(VALID).encode())
        if cut < len(data):
            data[cut] = byte
        check_bytes(tmp_factory(), bytes(data[: max(cut, 1)]))

    return [raw_bytes, any_json, mutated_valid, truncated_or_flipped]
