"""The Edges panel's shutter angle: stored per object in the project (undoable), read by the
matte and render stages for motion blur."""

from __future__ import annotations

from tests.ui.test_refine_backend import _open, _put_masks


def test_shutter_angle_is_an_undoable_object_setting(qtbot, window, clip):
    _open(qtbot, window, clip)
    p = window.shot.project
    oid = _put_masks(window, [0])
    edges = window.edges
    assert edges.spins["shutter_angle"].value() == 0
    edges.spins["shutter_angle"].setValue(180.0)
    assert p.object(oid).refine == {"shutter_angle": 180.0}
    from roto_studio.ops.matte import shutter_of

    assert shutter_of(p, oid) == 180.0  # what `matte` and the window's matting use
    window.undo.undo()
    assert p.object(oid).refine == {} and edges.spins["shutter_angle"].value() == 0
