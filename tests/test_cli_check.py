"""`roto-studio check`: a project whose mask swallows a reflection from frame 1009 on lists those
frames with the reason; a clean one lists none; a wrong object name is one clear line."""

from __future__ import annotations

import json

import cv2
import numpy as np

from roto_studio.cli import main

W, H, N = 160, 96, 14


def _project(tmp_path, leak: bool):
    """A PNG sequence of a red disc moving right, and a project whose masks (keyframe 1000) take
    in the darker reflection that grows under it from 1009 when `leak`."""
    from roto_studio.core.project import create_project
    from roto_studio.core.prompt import Prompt

    seq = tmp_path / "plate"
    seq.mkdir()
    rng = np.random.default_rng(2)
    bg = np.clip(np.array([70, 110, 90], np.float32) + rng.normal(0, 8, (H, W, 3)), 0, 255)
    yy, xx = np.mgrid[0:H, 0:W]
    masks = {}
    for i in range(N):
        img = bg.copy()
        cx = 40 + 4 * i
        d = (xx - cx) ** 2 + (yy - 40) ** 2 <= 16 ** 2
        img[d] = (200, 50, 45)
        m = d.copy()
        if leak and i >= 9:
            k = min(i - 8, 4)
            r = (((xx - cx) / 14) ** 2 + ((yy - (56 + 3 * k)) / (3 * k + 1)) ** 2 <= 1) & ~d
            img[r] = (150, 45, 45)
            m |= r
        cv2.imwrite(str(seq / f"p.{1000 + i}.png"), cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2BGR))
        masks[1000 + i] = m.astype(np.float32)
    project = create_project(tmp_path / "shot.roto", str(seq / "p.####.png"))
    obj = project.add_object("swan")
    for f, m in masks.items():
        project.masks.set(obj.id, f, m)
    project.set_prompt(obj.id, 1000, Prompt(has_mask=True))
    project.save()
    return project.folder


def test_check_lists_the_leaking_frames_with_why(tmp_path, capsys):
    folder = _project(tmp_path, leak=True)
    assert main(["check", str(folder), "--json"]) == 0
    flags = json.loads(capsys.readouterr().out)["swan"]
    assert sorted(int(f) for f in flags) == list(range(1009, 1000 + N))
    assert "outside the object's outline on its key frame" in flags["1010"]
    assert main(["check", str(folder)]) == 0
    out = capsys.readouterr()
    assert "swan: frame 1009: " in out.out and f"{N - 9} frames may need a look" in out.err


def test_check_of_a_clean_track_and_a_wrong_name(tmp_path, capsys):
    folder = _project(tmp_path, leak=False)
    assert main(["check", str(folder)]) == 0
    assert "swan: no frames flagged" in capsys.readouterr().out
    assert main(["check", str(folder), "--object", "goose"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no object named 'goose'" in err and "swan" in err
