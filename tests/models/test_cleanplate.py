"""Clean plates on a generated panning shot: the temporal fill recovers the true background."""

import cv2
import numpy as np
import pytest

from roto_studio.models.cleanplate import CleanPlate, OpenCVInpainter, _offsets, inpaint_only


class Frames:
    def __init__(self, frames):
        self._f = frames
        self.height, self.width = next(iter(frames.values())).shape[:2]

    @property
    def frame_numbers(self):
        return sorted(self._f)

    def read(self, f):
        return self._f[f]


def texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cells in (4, 12, 40):  # several scales so features and detail exist everywhere
        small = rng.integers(0, 255, (cells, cells * w // h, 3)).astype(np.uint8)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) / 3.0
    return np.clip(img, 0, 255).astype(np.uint8)


def panning_shot(n=10, w=160, h=120, first=1001):
    world = texture(h + 20, w + 8 * n + 20)
    frames, plates, alphas = {}, {}, {}
    for i in range(n):
        M = np.array([[1, 0, -(10 + 6.5 * i)], [0, 1, -(10 + 0.7 * i)]], np.float32)  # sub-pixel pan
        bg = cv2.warpAffine(world, M, (w, h), flags=cv2.INTER_LINEAR)
        a = np.zeros((h, w), np.float32)
        x0 = 20 + 9 * i
        a[40:80, x0:x0 + 30] = 1.0
        a = cv2.GaussianBlur(a, (0, 0), 1.0)
        obj = np.full((h, w, 3), (250, 20, 200), np.float32)
        comp = obj * a[..., None] + bg.astype(np.float32) * (1 - a[..., None])
        frames[first + i] = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
        plates[first + i] = bg
        alphas[first + i] = a
    return frames, plates, alphas


def psnr(a, b, region):
    mse = ((a.astype(np.float64) - b.astype(np.float64))[region] ** 2).mean()
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-9))


def test_offsets_near_first_then_sparser():
    offs = _offsets(20)
    assert offs[:4] == [1, -1, 2, -2]
    assert max(offs) <= 20 and len(offs) == len(set(offs))


def test_temporal_clean_plate_beats_inpainting():
    frames, plates, alphas = panning_shot()
    plate = CleanPlate(Frames(frames), alphas.get, grow=2)
    # the estimated homography between frames is the pan we made
    H = plate.homography(1003, 1005)
    assert H is not None
    centre = cv2.perspectiveTransform(np.array([[[80.0, 60.0]]]), H)[0, 0]
    np.testing.assert_allclose(centre - [80.0, 60.0], [-13.0, -1.4], atol=0.5)
    for f in (1001, 1005, 1010):
        ours, left = plate.render(f)
        hole = alphas[f] > 0.02
        base = inpaint_only(frames[f], alphas[f], grow=2)
        p_ours, p_base = psnr(ours, plates[f], hole), psnr(base, plates[f], hole)
        assert p_ours > 28, (f, p_ours)
        assert p_ours > p_base + 6, (f, p_ours, p_base)
        assert left.sum() < 0.05 * hole.sum()
        # outside the hole nothing changes
        assert (ours[~cv2.dilate(hole.astype(np.uint8), np.ones((7, 7))).astype(bool)]
                == frames[f][~cv2.dilate(hole.astype(np.uint8), np.ones((7, 7))).astype(bool)]).all()


def test_never_visible_background_goes_to_the_spatial_fill():
    frames, plates, alphas = panning_shot(n=3)
    static = {f: alphas[1002] for f in frames}  # stuck to the frame: hidden in every frame
    plate = CleanPlate(Frames(frames), static.get, grow=2)
    out, left = plate.render(1002)
    assert left.sum() > 0  # the part no frame shows
    assert (out[left] != frames[1002][left]).any()  # was inpainted
    # frames without a mask come back unchanged
    none = CleanPlate(Frames(frames), lambda f: None)
    img, left = none.render(1001)
    assert (img == frames[1001]).all() and not left.any()


def test_opencv_inpainter_touches_only_the_hole():
    img = texture(60, 80)
    hole = np.zeros((60, 80), bool)
    hole[20:30, 30:40] = True
    out = OpenCVInpainter().fill(img, hole)
    assert (out[~hole] == img[~hole]).all()
    assert out.shape == img.shape and out.dtype == np.uint8


def test_cleanplate_cli_writes_rgb_sequence(tmp_path, capsys):
    from roto_studio.cli import main
    from roto_studio.core.project import create_project

    frames, plates, alphas = panning_shot(n=6)
    (tmp_path / "plates").mkdir()
    for f, img in frames.items():
        cv2.imwrite(str(tmp_path / "plates" / f"plate.{f:04d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    p = create_project(tmp_path / "shot.roto", tmp_path / "plates" / "plate.####.png")
    obj = p.add_object("Box 1")
    for f, a in alphas.items():
        p.masks.set(obj.id, f, a)
    p.save()
    out = tmp_path / "clean"
    assert main(["cleanplate", str(p.folder), "--object", "Box 1", "--out", str(out)]) == 0
    files = sorted(x.name for x in out.iterdir())
    assert files == [f"Box_1_clean.{f}.png" for f in sorted(frames)]
    got = cv2.cvtColor(cv2.imread(str(out / "Box_1_clean.1003.png")), cv2.COLOR_BGR2RGB)
    assert got.shape == frames[1003].shape
    hole = alphas[1003] > 0.02
    assert psnr(got, plates[1003], hole) > 25
    assert "6 clean frames" in capsys.readouterr().err
    assert main(["cleanplate", str(p.folder), "--object", "nope", "--out", str(out)]) == 2


def test_inpainter_choice_without_learned_weights(monkeypatch, tmp_path):
    from roto_studio.core.errors import ModelError
    from roto_studio.models.inpaint import make_inpainter

    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path))  # an empty weights folder
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    assert make_inpainter("auto").name == "opencv"
    assert make_inpainter("opencv").name == "opencv"
    with pytest.raises(ModelError, match="models download"):
        make_inpainter("diffusers")
    with pytest.raises(ModelError, match="unknown"):
        make_inpainter("magic")
