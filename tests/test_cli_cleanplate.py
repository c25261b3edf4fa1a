"""`roto-studio cleanplate` end to end on generated shots: the diffusers backend (a tiny random
pipeline saved as a diffusers folder), settings saved with the project, identical re-renders,
the plate untouched outside the dilated hole, and the plate's precision kept (16-bit PNG, EXR)."""

import json

import cv2
import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core.project import create_project
from tests.core.media_gen import write_exr, write_png
from tests.models.test_cleanplate import texture


def sign_shot(n=4, w=96, h=72, first=1001):
    """A panning shot with a sign fixed to the wall (never uncovered): frames and sign alphas."""
    world = texture(h + 20, w + 4 * n + 20, seed=4)
    sign = np.zeros(world.shape[:2], np.float32)
    sign[34:50, 40:62] = 1.0
    frames, alphas = {}, {}
    for i in range(n):
        M = np.array([[1, 0, -(10 + 3.5 * i)], [0, 1, -10.0]], np.float32)
        bg = cv2.warpAffine(world, M, (w, h), flags=cv2.INTER_LINEAR)
        a = cv2.warpAffine(sign, M, (w, h), flags=cv2.INTER_LINEAR)
        comp = np.array([230, 30, 60], np.float32) * a[..., None] + bg.astype(np.float32) * (1 - a[..., None])
        frames[first + i] = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
        alphas[first + i] = a
    return frames, alphas


def project_for(tmp_path, frames, alphas, kind="png8"):
    plates = tmp_path / "plates"
    plates.mkdir()
    for f, img in frames.items():
        if kind == "exr":
            write_exr(plates / f"plate.{f}.exr", img.astype(np.float32) / 255.0, half=True)
        elif kind == "png16":
            write_png(plates / f"plate.{f}.png", img.astype(np.uint16) * 257 + 3)
        else:
            write_png(plates / f"plate.{f}.png", img)
    ext = "exr" if kind == "exr" else "png"
    p = create_project(tmp_path / "shot.roto", plates / f"plate.####.{ext}")
    obj = p.add_object("Sign")
    for f, a in alphas.items():
        p.masks.set(obj.id, f, a)
    p.save()
    return p


def outside(alpha, px):
    hole = (alpha > 0.02).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return ~cv2.dilate(hole, k).astype(bool)


def test_diffusers_backend_end_to_end_seeded_and_saved(tmp_path, capsys):
    pytest.importorskip("diffusers")
    from tests.models.diffusers_fixtures import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "tiny-inpainting")
    frames, alphas = sign_shot()
    p = project_for(tmp_path, frames, alphas)
    out = tmp_path / "clean"
    args = ["cleanplate", str(p.folder), "--object", "Sign", "--out", str(out), "--backend", "diffusers",
            "--model", str(model), "--seed", "5", "--prompt", "brick wall"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "diffusers" in err and "seed 5" in err and "4 clean frames" in err
    names = sorted(x.name for x in out.iterdir())
    assert names == [f"Sign_clean.{f}.png" for f in sorted(frames)]
    first = {}
    for f in frames:
        got = cv2.cvtColor(cv2.imread(str(out / f"Sign_clean.{f}.png")), cv2.COLOR_BGR2RGB)
        keep = outside(alphas[f], 3 + 6 + 8 + 1)  # grow + the learned fill's dilation and feather
        assert (got[keep] == frames[f][keep]).all()  # the rest of the plate, bit for bit
        hole = alphas[f] > 0.5
        assert (got[hole] != frames[f][hole]).any()
        first[f] = got
    saved = json.loads((p.folder / "project.json").read_text())["settings"]["cleanplate"]
    assert saved == {"backend": "diffusers", "model": str(model), "prompt": "brick wall", "seed": 5, "align": "auto"}
    # a re-render with the saved settings (no flags) gives the same frames
    again = tmp_path / "again"
    assert main(["cleanplate", str(p.folder), "--object", "Sign", "--out", str(again)]) == 0
    for f in frames:
        assert (out / f"Sign_clean.{f}.png").read_bytes() == (again / f"Sign_clean.{f}.png").read_bytes()
    # another seed: another fill
    assert main(args[:-4] + ["--seed", "6", "--out", str(tmp_path / "other")]) == 0
    other = cv2.imread(str(tmp_path / "other" / "Sign_clean.1001.png"))
    assert (cv2.cvtColor(other, cv2.COLOR_BGR2RGB) != first[1001]).any()


def test_missing_learned_weights_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    frames, alphas = sign_shot(n=2)
    p = project_for(tmp_path, frames, alphas)
    code = main(["cleanplate", str(p.folder), "--object", "Sign", "--out", str(tmp_path / "o"),
                 "--backend", "diffusers", "--model", "sdxl-inpainting"])
    assert code == 2
    assert "roto-studio models download sdxl-inpainting" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["png16", "exr"])
def test_plate_precision_kept_outside_the_hole(tmp_path, kind):
    frames, alphas = sign_shot(n=3)
    p = project_for(tmp_path, frames, alphas, kind)
    out = tmp_path / "clean"
    assert main(["cleanplate", str(p.folder), "--object", "Sign", "--out", str(out), "--backend", "opencv",
                 "--pattern", "{project}_{object}_cp.####"]) == 0
    ext = "exr" if kind == "exr" else "png"
    assert sorted(x.name for x in out.iterdir()) == [f"shot_Sign_cp.{f}.{ext}" for f in sorted(frames)]
    with p.open_media() as media:
        for f in frames:
            plate = np.asarray(media.read_full(f))[..., :3]
            if kind == "exr":
                from roto_studio.core.exr import read_exr

                _, channels = read_exr(out / f"shot_Sign_cp.{f}.exr")
                got = np.dstack([channels[c] for c in "RGB"])
                assert channels["R"].dtype == np.float16
            else:
                got = cv2.cvtColor(cv2.imread(str(out / f"shot_Sign_cp.{f}.png"), cv2.IMREAD_UNCHANGED),
                                   cv2.COLOR_BGR2RGB)
                assert got.dtype == np.uint16
            keep = outside(alphas[f], 3)
            assert (got[keep] == plate[keep]).all()
            hole = alphas[f] > 0.5
            assert np.abs(got[hole].astype(np.float64) - plate[hole]).max() > 0


def test_float_plate_keeps_values_above_one_in_the_hole(tmp_path):
    """An HDR plate (a wall at 2.5-6.0 behind the sign): the fill keeps the wall's values instead
    of clipping them at 1 (display white), and the plate outside the hole stays as it is."""
    from roto_studio.core.exr import read_exr

    frames, alphas = sign_shot(n=3)
    plates = tmp_path / "plates"
    plates.mkdir()
    for f, img in frames.items():
        write_exr(plates / f"plate.{f}.exr", 2.5 + img.astype(np.float32) / 255.0 * 3.5, half=True)
    p = create_project(tmp_path / "shot.roto", plates / "plate.####.exr")
    obj = p.add_object("Sign")
    for f, a in alphas.items():
        p.masks.set(obj.id, f, a)
    p.save()
    out = tmp_path / "clean"
    assert main(["cleanplate", str(p.folder), "--object", "Sign", "--out", str(out), "--backend", "opencv"]) == 0
    with p.open_media() as media:
        for f in frames:
            plate = np.asarray(media.read_full(f))[..., :3].astype(np.float32)
            _, channels = read_exr(out / f"Sign_clean.{f}.exr")
            got = np.dstack([channels[c] for c in "RGB"]).astype(np.float32)
            keep = outside(alphas[f], 3)
            assert (got[keep] == plate[keep]).all()
            hole = alphas[f] > 0.5
            ring = ~outside(alphas[f], 10) & keep
            assert got[hole].min() > 1.5, got[hole].min()  # not clipped to display white
            # the sign (2.5 + 3.5 * (0.9, 0.12, 0.24)) is gone: each channel is the wall's around it
            gap = np.abs(got[hole].mean(axis=0) - plate[ring].mean(axis=0))
            assert (gap < 0.5).all(), (got[hole].mean(axis=0), plate[ring].mean(axis=0))
