"""Motion-blurred mattes (ops.motion_blur): the matte smeared along the object's own motion comes
much closer to a truly motion-blurred alpha than the sharp mask; `matte` and `render` apply the
shutter angle (the object's edge setting or --shutter-angle)."""

from __future__ import annotations

import numpy as np

from roto_studio.cli import main
from roto_studio.core.masks import MaskStore
from roto_studio.core.project import load_project
from roto_studio.ops.motion_blur import blur_frame, object_velocity, smear
from tests.ops.shots import blurred_shot, write_project


def sad(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).sum())


def test_smeared_matte_is_close_to_true_motion_blur():
    plates, truths, sharps = blurred_shot(frames=5, speed=10.0, shutter=180.0)
    frames = range(len(plates))
    for f in (1, 2, 3):
        ours = blur_frame(f, 180.0, plates.__getitem__, sharps.__getitem__, frames=frames)
        assert sad(ours, truths[f]) <= 0.5 * sad(sharps[f], truths[f])
        # the smear is along the motion (x), not across it (y): rows above and below stay clear
        rows = np.nonzero(sharps[f].any(axis=1))[0]
        assert ours[:rows.min() - 1].max() < 0.02 and ours[rows.max() + 2:].max() < 0.02
        assert np.abs(ours.sum() - sharps[f].sum()) <= 0.05 * sharps[f].sum()  # alpha mass is kept


def test_velocity_is_the_objects_own_motion():
    plates, _, sharps = blurred_shot(frames=3, speed=10.0)
    vel = object_velocity(plates[1], sharps[1], plates[0], sharps[0], plates[2], sharps[2])
    inside = sharps[1] > 0.5
    vx, vy = np.median(vel[inside], axis=0)
    assert abs(vx - 10.0) < 2.0 and abs(vy) < 1.0
    # a still object is not smeared, and a zero shutter changes nothing
    still = object_velocity(plates[1], sharps[1], plates[1], sharps[1], plates[1], sharps[1])
    np.testing.assert_allclose(smear(sharps[1], still, 180.0), sharps[1], atol=1e-4)
    np.testing.assert_array_equal(smear(sharps[1], vel, 0.0), sharps[1])


def test_matte_and_render_apply_the_shutter_angle(tmp_path, capsys):
    plates, truths, sharps = blurred_shot(frames=4, speed=10.0)
    project = write_project(tmp_path / "a", plates, sharps)
    oid = project.objects[0].id
    assert main(["matte", str(project.folder), "--backend", "classical", "--shutter-angle", "180"]) == 0
    blurred = load_project(project.folder).masks.get(oid, 1002)
    project = write_project(tmp_path / "b", plates, sharps)
    assert main(["matte", str(project.folder), "--backend", "classical"]) == 0
    sharp = load_project(project.folder).masks.get(project.objects[0].id, 1002)
    assert sad(blurred, truths[1]) <= 0.6 * sad(sharp, truths[1])
    assert main(["matte", str(project.folder), "--shutter-angle", "400"]) == 2
    assert "--shutter-angle must be 0 to 360" in capsys.readouterr().err

    # the object's own setting, read by `render`'s matte stage
    project = write_project(tmp_path / "c", plates, sharps)
    project.objects[0].refine = {"shutter_angle": 180.0}
    project.save()
    assert main(["render", str(project.folder), "--stages", "matte", "--matte-backend", "classical"]) == 0
    rendered = MaskStore(project.folder / "render" / "matte").get(project.objects[0].id, 1002)
    assert sad(rendered, truths[1]) <= 0.6 * sad(sharps[1], truths[1])
    # --shutter-angle 0 overrides the object's setting: sharp again (and re-rendered: inputs changed)
    assert main(["render", str(project.folder), "--stages", "matte", "--matte-backend", "classical",
                 "--shutter-angle", "0"]) == 0
    again = MaskStore(project.folder / "render" / "matte").get(project.objects[0].id, 1002)
    assert sad(again, truths[1]) > sad(rendered, truths[1])
