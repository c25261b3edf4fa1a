"""Clean plates on a generated panning shot: the temporal fill recovers the true background."""

import cv2
import numpy as np
import pytest

from roto_studio.models.cleanplate.frame import CleanPlate, OpenCVInpainter, source_offsets, inpaint_only


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
    offs = source_offsets(20)
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
    from roto_studio.models.cleanplate.inpaint import make_inpainter

    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path))  # an empty weights folder
    monkeypatch.delenv("ROTO_WEIGHTS_OFFLINE", raising=False)
    assert make_inpainter("auto").name == "opencv"
    assert make_inpainter("opencv").name == "opencv"
    with pytest.raises(ModelError, match="models download"):
        make_inpainter("diffusers")
    with pytest.raises(ModelError, match="unknown"):
        make_inpainter("magic")


truth: dict = {}  # the last wall_sign_shot's backgrounds (no sign)


def wall_sign_shot(n=8, w=160, h=120, first=1001, near_speed=None):
    """A pan over a wall with a sign on it (no frame shows what is behind the sign). With
    near_speed, the lower half is a nearer wall moving that many px per frame (parallax) and the
    sign is on it. Returns frames, sign alphas, and per frame the sign layer's x offset."""
    far_world = texture(h + 20, w + 8 * n + 40, seed=1)
    near_world = texture(h + 20, w + int((near_speed or 0) * n) + 40, seed=2)
    frames, alphas, shifts = {}, {}, {}
    truth.clear()
    for i in range(n):
        fx = 10 + 3.3 * i
        nx = 10 + (near_speed or 3.3) * i
        bg = cv2.warpAffine(far_world, np.float32([[1, 0, -fx], [0, 1, -10]]), (w, h), flags=cv2.INTER_LINEAR)
        sign_world = np.zeros(near_world.shape[:2], np.float32)
        sign_world[80:104, 70:104] = 1.0
        M = np.float32([[1, 0, -nx], [0, 1, -10]])
        if near_speed:
            near = cv2.warpAffine(near_world, M, (w, h), flags=cv2.INTER_LINEAR)
            bg[h // 2:] = near[h // 2:]
        a = cv2.warpAffine(sign_world, M, (w, h), flags=cv2.INTER_LINEAR)
        truth[first + i] = bg.copy()
        comp = np.array([20, 240, 40], np.float32) * a[..., None] + bg.astype(np.float32) * (1 - a[..., None])
        frames[first + i] = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
        alphas[first + i] = a
        shifts[first + i] = nx
    return frames, alphas, shifts


def _change_along_the_wall(outs, alphas, shifts):
    """Mean change of the filled pixels between consecutive frames, lined up by the sign's motion."""
    diffs = []
    fs = sorted(outs)
    for a, b in zip(fs, fs[1:]):
        M = np.float32([[1, 0, shifts[a] - shifts[b]], [0, 1, 0]])  # b's pixels in a's frame
        back = cv2.warpAffine(outs[a], M, outs[a].shape[1::-1], flags=cv2.INTER_LANCZOS4)
        sel = cv2.erode((alphas[b] > 0.5).astype(np.uint8), np.ones((5, 5))).astype(bool)
        diffs.append(np.abs(outs[b].astype(float) - back.astype(float))[sel].mean())
    return float(np.mean(diffs))


@pytest.mark.parametrize("near_speed", [None, 6.7])
def test_keyframe_fill_holds_still_where_no_frame_shows_the_background(near_speed):
    from roto_studio.models.cleanplate.shot import ShotCleaner

    frames, alphas, shifts = wall_sign_shot(near_speed=near_speed)
    plate = CleanPlate(Frames(frames), alphas.get, grow=2)
    carried = ShotCleaner(plate)
    ours = {f: carried.clean(f) for f in sorted(frames)}
    assert carried.keyframes == [1001]  # one fill, carried to every other frame
    if near_speed:
        assert plate.uses_flow(1004)  # the sign's wall does not move like the rest: flow is tried
    per_frame = ShotCleaner(CleanPlate(Frames(frames), alphas.get, grow=2), carry=False)
    theirs = {f: per_frame.clean(f) for f in sorted(frames)}
    still, flicker = _change_along_the_wall(ours, alphas, shifts), _change_along_the_wall(theirs, alphas, shifts)
    assert still < 0.35 * flicker, (still, flicker)
    for f in frames:  # nothing outside the grown hole changes
        keep = ~cv2.dilate((alphas[f] > 0.02).astype(np.uint8), np.ones((7, 7))).astype(bool)
        assert (ours[f][keep] == frames[f][keep]).all()


def test_clean_plate_frames_cancel_keeps_what_was_yielded():
    from roto_studio.core.errors import Cancelled
    from roto_studio.models.cleanplate.shot import clean_plate_frames

    frames, alphas, _ = wall_sign_shot(n=5)
    seen, ticks = [], []
    with pytest.raises(Cancelled, match="after 2 of 5"):
        for f, img in clean_plate_frames(Frames(frames), alphas.get, grow=2, progress=lambda d, t: ticks.append(d),
                                         cancel=lambda: len(seen) >= 2):
            seen.append(f)
    assert seen == [1001, 1002] and ticks == [1, 2]


def test_flow_map_fills_the_hole_with_the_motion_around_it():
    from roto_studio.models.cleanplate import align as align_flow

    a = texture(80, 100, seed=5)
    M = np.float32([[1, 0, 2.5], [0, 1, -1.25]])
    b = cv2.warpAffine(a, M, (100, 80), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    hole = np.zeros((80, 100), bool)
    hole[30:50, 40:65] = True
    a_holed = a.copy()
    a_holed[hole] = (255, 0, 255)
    m = align_flow.DenseFlow().step_map(a_holed, b, hole, np.zeros_like(hole))
    disp = (m - align_flow.identity(80, 100))[hole]
    np.testing.assert_allclose(np.median(disp, axis=0), [2.5, -1.25], atol=0.15)
    assert np.abs(disp - [2.5, -1.25]).max() < 0.5


def test_a_worse_alignment_does_not_fill_what_the_best_one_shows_hidden():
    """Around a part of the hole, one source lines up exactly and shows the part hidden there too
    (a sign fixed to its wall); another lines up 0.6 px off (say, the other depth layer's motion)
    and would fill it with the wall beside the sign. The best alignment seen for the part, in the
    same call or an earlier source's, decides."""
    from roto_studio.models.cleanplate.frame import fill_parts, regions

    image = texture(80, 100, seed=7)
    hole = np.zeros((80, 100), bool)
    hole[30:50, 40:65] = True
    exact = (image, ~hole)  # lines up, shows nothing of the part
    shifted = cv2.warpAffine(image, np.float32([[1, 0, 0.6], [0, 1, 0]]), (100, 80), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
    off = (shifted, np.ones_like(hole))  # 0.6 px off, "shows" all of it

    def filled(calls):
        out, missing, seen = image.copy(), hole.copy(), {}
        for candidates in calls:
            fill_parts(out, image, hole, regions(hole), missing, candidates, gain=False, seen=seen)
        return int((hole & ~missing).sum())

    assert filled([[off]]) == hole.sum()  # on its own it is within the limit and fills the part
    assert filled([[exact, off]]) == 0
    assert filled([[exact], [off]]) == 0


def test_composing_flow_steps_does_not_drift():
    from roto_studio.models.cleanplate import align as align_flow

    step = align_flow.identity(60, 400) + np.float32([6.2, 0.27])  # a steady sub-pixel pan
    m = step
    for _ in range(29):
        m = align_flow.compose(m, step)
    np.testing.assert_allclose(m[30, 10] - align_flow.identity(60, 400)[30, 10], [186.0, 8.1], atol=0.01)


@pytest.mark.parametrize("near_speed", [None, 6.7])
def test_one_fill_per_window_errs_no_more_than_per_frame_fills(near_speed):
    """clean_plate_frames fills what no frame shows once per window (the mean of a few frames'
    fills, lined up): no larger error against the true background than a fill on every frame,
    and it holds still."""
    from roto_studio.models.cleanplate.shot import clean_plate_frames

    frames, alphas, shifts = wall_sign_shot(n=10, near_speed=near_speed)
    source = Frames(frames)
    ours = dict(clean_plate_frames(source, alphas.get, grow=2))
    per_frame = dict(clean_plate_frames(source, alphas.get, grow=2, carry=False))
    sign = {f: alphas[f] > 0.02 for f in frames}

    def mse(outs):
        return np.mean([((outs[f].astype(float) - truth[f]) ** 2)[sign[f]].mean() for f in frames])

    assert mse(ours) <= mse(per_frame), (mse(ours), mse(per_frame))
    still, flicker = _change_along_the_wall(ours, alphas, shifts), _change_along_the_wall(per_frame, alphas, shifts)
    assert still < 0.35 * flicker, (still, flicker)


def zooming_sign_shot(seed, n=8, w=200, h=150, zoom=0.15):
    """A camera pushing in while panning over a wall with a sign on it (no frame shows what is
    behind the sign): frames, sign alphas, true backgrounds."""
    world = texture(360, 480, seed=seed)
    sign = np.zeros((360, 480), np.float32)
    sign[170:200, 220:262] = 1.0
    sign = cv2.GaussianBlur(sign, (0, 0), 0.8)
    frames, alphas, backgrounds = {}, {}, {}
    for i in range(n):
        t = i / (n - 1)
        s = 1.0 + zoom * t
        cx, cy = 200 + 60 * t, 170 + 10 * t
        M = np.float32([[s, 0, w / 2 - s * cx], [0, s, h / 2 - s * cy]])
        bg = cv2.warpAffine(world, M, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        a = cv2.warpAffine(sign, M, (w, h), flags=cv2.INTER_LINEAR)
        comp = np.array([20, 240, 40], np.float32) * a[..., None] + bg * (1 - a[..., None])
        frames[1001 + i] = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
        alphas[1001 + i] = a
        backgrounds[1001 + i] = bg
    return frames, alphas, backgrounds


def test_the_mean_of_several_fills_errs_less_than_one_fill():
    """A window's fill of what no frame shows is the mean of a few frames' fills, lined up: over
    a push-in (each frame sees the sign's surroundings at another scale) it errs less than the
    one fill of the window's first frame carried the same way."""
    from roto_studio.models.cleanplate.shot import clean_plate_frames

    class OneFill(OpenCVInpainter):
        consensus = False  # the same inpainter, without the averaging

    totals = {"mean": 0.0, "one": 0.0}
    for seed in (2, 3, 4):
        frames, alphas, backgrounds = zooming_sign_shot(seed)
        for name, inpainter in (("mean", None), ("one", OneFill())):
            outs = dict(clean_plate_frames(Frames(frames), alphas.get, grow=2, inpainter=inpainter))
            totals[name] += np.mean([((outs[f].astype(float) - backgrounds[f]) ** 2)[alphas[f] > 0.02].mean()
                                     for f in frames])
    assert totals["mean"] < 0.97 * totals["one"], totals
