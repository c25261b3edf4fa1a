"""write_clean_plate takes any iterable of frames (issue #23: mypy found it): it counted them and
then filled from the same iterable, so frames given as a generator were counted and none written."""

from __future__ import annotations

from roto_studio.ops.cleanplate import settings_for, write_project_clean_plate
from tests.test_cli_cleanplate import project_for, sign_shot


def test_frames_given_as_a_generator_are_all_written(tmp_path):
    frames, alphas = sign_shot(n=3)
    project = project_for(tmp_path, frames, alphas)
    obj = project.objects[0]
    want = sorted(frames)[:2]
    seen = []
    paths = write_project_clean_plate(project, obj.id, tmp_path / "clean", settings_for(project, backend="opencv"),
                                      frames=(f for f in want), progress=lambda done, total: seen.append((done, total)))
    assert [p.name for p in paths] == [f"Sign_clean.{f}.png" for f in want]
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == [f"Sign_clean.{f}.png" for f in want]
    assert seen[-1] == (2, 2)
