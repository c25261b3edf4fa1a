"""`roto-studio segment MEDIA --out PROJECT --masks ...`: another tool's mask sequences as an object's
keyframes, matched by frame number; a 16-bit PNG sequence and a half-float EXR sequence
re-export equal (the EXR within the project's 16-bit mask precision)."""

from __future__ import annotations

import cv2
import numpy as np
import OpenEXR

from roto_studio.cli import main
from roto_studio.core.project import load_project
from tests.core.media_gen import write_sequence

W, H = 64, 48
FRAMES = range(1001, 1007)


def _alpha(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.clip(1.2 - np.hypot(xx - 20 - 3 * i, yy - 24) / 14.0, 0, 1) ** 1.5


def test_png16_and_exr_masks_reexport_equal(tmp_path, capsys):
    write_sequence(tmp_path / "plate", frames=FRAMES, width=W, height=H)
    plate = str(tmp_path / "plate" / "plate.####.png")
    png_dir = tmp_path / "png_masks"
    png_dir.mkdir()
    want16 = {}
    for f in (1002, 1003, 1004, 1009):  # 1009: past the plate's end, left out
        want16[f] = np.round(_alpha(f - 1001) * 65535).astype(np.uint16)
        cv2.imwrite(str(png_dir / f"roto_{f}.png"), want16[f])
    exr_dir = tmp_path / "exr_masks"
    exr_dir.mkdir()
    want_half = {}
    for n in (1, 2, 3):  # numbered from 1: --mask-offset 1000 puts them on 1001-1003
        a = _alpha(5 - n).astype(np.float16)
        want_half[1000 + n] = a
        with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"A": a}) as f:
            f.write(str(exr_dir / f"matte.{n:04d}.exr"))

    shot = tmp_path / "shot.roto"
    assert main(["segment", plate, "--out", str(shot), "--masks", str(png_dir), "--object", "hero"]) == 0
    out = capsys.readouterr().out
    assert "imported 3 masks as keyframes (1002-1004); 1 mask frames have no plate frame" in out
    assert main(["segment", plate, "--out", str(shot), "--masks", str(exr_dir / "matte.####.exr"),
                 "--mask-offset", "1000", "--object", "side"]) == 0
    project = load_project(shot)
    hero, side = project.object_by_name("hero"), project.object_by_name("side")
    assert project.prompted_frames(hero.id) == [1002, 1003, 1004]
    assert project.prompted_frames(side.id) == [1001, 1002, 1003]
    assert all(project.prompts[side.id][f].has_mask for f in (1001, 1002, 1003))

    assert main(["export", str(shot), "--out", str(tmp_path / "png"), "--format", "png16", "--object", "hero",
                 "--range", "1002-1004", "--quiet"]) == 0
    for f in (1002, 1003, 1004):
        got = cv2.imread(str(tmp_path / "png" / f"hero.{f}.png"), cv2.IMREAD_UNCHANGED)
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, want16[f])
    assert main(["export", str(shot), "--out", str(tmp_path / "exr"), "--format", "exr", "--object", "side",
                 "--range", "1001-1003", "--quiet"]) == 0
    for f in (1001, 1002, 1003):
        with OpenEXR.File(str(tmp_path / "exr" / f"side.{f}.exr"), separate_channels=True) as exr:
            got = np.array(exr.channels()["A"].pixels)
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float32), want_half[f].astype(np.float32),
                                   atol=1 / 65535 + 1e-7, rtol=2 ** -11)


def test_masks_of_the_wrong_size_or_numbering_say_what_to_do(tmp_path, capsys):
    write_sequence(tmp_path / "plate", frames=FRAMES, width=W, height=H)
    plate = str(tmp_path / "plate" / "plate.####.png")
    (tmp_path / "m").mkdir()
    cv2.imwrite(str(tmp_path / "m" / "m.1001.png"), np.zeros((10, 10), np.uint8))
    assert main(["segment", plate, "--out", str(tmp_path / "a.roto"), "--masks", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "is 10x10 but the plate is 64x48" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "n").mkdir()
    cv2.imwrite(str(tmp_path / "n" / "n.0001.png"), np.zeros((H, W), np.uint8))
    assert main(["segment", plate, "--out", str(tmp_path / "b.roto"), "--masks", str(tmp_path / "n")]) == 2
    assert "--mask-offset 1000" in capsys.readouterr().err
