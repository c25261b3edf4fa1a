"""The edge-adaptive trimap and the mask -> matte path, on generated images with known alpha."""

from __future__ import annotations

import cv2
import numpy as np

from roto_studio.core.edge_matte import adaptive_trimap, colour_alpha, guard, matte_from_mask
from roto_studio.core.trimap import UNKNOWN, default_band
from roto_studio.models.matting.classical import ClassicalMatter

H, W = 160, 200
FG, BG = np.array([220, 60, 40], np.float32), np.array([30, 70, 200], np.float32)


def composite(alpha: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 3, (H, W, 3)).astype(np.float32)
    img = alpha[..., None] * FG + (1 - alpha[..., None]) * BG + noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def disc(radius=50) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return ((x - W / 2) ** 2 + (y - H / 2) ** 2 <= radius ** 2).astype(np.float32)


def fuzzy_disc(radius=45, seed=1) -> np.ndarray:
    """A disc with hair: many thin semi-transparent strands reaching out 20 px beyond its edge."""
    rng = np.random.default_rng(seed)
    alpha = disc(radius)
    strands = np.zeros((H, W), np.float32)
    for angle in np.linspace(0, 2 * np.pi, 160, endpoint=False):
        length = rng.uniform(10, 22)
        a = angle + rng.normal(0, 0.02)
        x0, y0 = W / 2 + radius * np.cos(a), H / 2 + radius * np.sin(a)
        x1, y1 = W / 2 + (radius + length) * np.cos(a), H / 2 + (radius + length) * np.sin(a)
        cv2.line(strands, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(0.4, 0.9)), 1, cv2.LINE_AA)
    return np.maximum(alpha, cv2.GaussianBlur(strands, (3, 3), 0.6))


def band_width(trimap: np.ndarray, mask: np.ndarray) -> float:
    """Unknown pixels per pixel of mask edge: the band's mean width."""
    m8 = (mask > 0.5).astype(np.uint8)
    edge = int((m8 ^ cv2.erode(m8, np.ones((3, 3), np.uint8))).sum())
    return float((trimap == UNKNOWN).sum()) / max(edge, 1)


def test_hard_edge_stays_thin_and_fuzzy_edge_widens():
    hard = disc()
    fuzzy = fuzzy_disc()
    band = default_band(H, W)
    t_hard = adaptive_trimap(composite(hard), hard, band=band)
    mask = (fuzzy > 0.5).astype(np.float32)
    t_fuzzy = adaptive_trimap(composite(fuzzy), mask, band=band)
    w_hard, w_fuzzy = band_width(t_hard, hard), band_width(t_fuzzy, mask)
    assert w_hard <= band  # thinner than the fixed band (which is 2 * band wide)
    assert w_fuzzy >= 2.5 * w_hard
    # the strands outside the mask are inside the unknown band
    strands = (fuzzy > 0.2) & (mask < 0.5)
    assert (t_fuzzy[strands] == UNKNOWN).mean() > 0.8


def test_colour_alpha_follows_the_edge():
    alpha = fuzzy_disc()
    est, contrast = colour_alpha(composite(alpha), alpha > 0.5, default_band(H, W))
    near = cv2.dilate((alpha > 0.5).astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool)
    assert np.abs(est - alpha)[near].mean() < 0.08
    assert np.median(contrast[near]) > 3


def test_matte_from_mask_beats_the_mask_and_guard_keeps_it_when_the_matte_strays():
    alpha = fuzzy_disc()
    image = composite(alpha)
    mask = (alpha > 0.5).astype(np.float32)
    matte = matte_from_mask(image, mask, ClassicalMatter("cf"))
    sad_mask = np.abs(mask - alpha).sum()
    sad_matte = np.abs(matte - alpha).sum()
    assert sad_matte < 0.7 * sad_mask
    # a matte that bleeds past a hard edge into clear background is pulled back to the mask
    hard = disc()
    hard_image = composite(hard, seed=2)
    evidence_hard = colour_alpha(hard_image, hard > 0.5, default_band(H, W))
    outside = cv2.distanceTransform((hard < 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (outside > 0) & (outside <= 3)
    bled = hard.copy()
    bled[ring] = 0.7
    guarded_hard = guard(bled, hard, evidence_hard)
    assert np.median(guarded_hard[ring]) < 0.1
    evidence = colour_alpha(image, mask > 0.5, default_band(H, W))
    guarded = guard(matte, mask, evidence)
    # where the matte is plausible it is kept
    ring = (alpha > 0.05) & (alpha < 0.95)
    assert np.abs(guarded - matte)[ring].mean() < 0.02


def test_premultiplied_cutout_has_no_fringe(tmp_path):
    """Soft edges of a red object over blue: the exported premultiplied colour is red * alpha (the
    object's own colour), not the plate's red-blue mix; with --plate-edges it is the mix."""
    import subprocess
    import sys

    alpha = fuzzy_disc()
    image = composite(alpha)
    plates = tmp_path / "plates"
    plates.mkdir()
    for i in range(2):
        cv2.imwrite(str(plates / f"p.{i + 1:04d}.png"), image[..., ::-1])
    soft = np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "matte.png"), soft)
    project = tmp_path / "s.roto"

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "roto_studio", *map(str, args)], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr

    cli("segment", plates / "p.####.png", "--out", project, "--frame", 1, "--mask", tmp_path / "matte.png",
        "--backend", "classical", "--object", "hair")
    cli("export", project, "--out", tmp_path / "a", "--format", "exr", "--rgba", "--quiet")  # EXR: premultiplied
    cli("export", project, "--out", tmp_path / "b", "--format", "exr", "--rgba", "premultiplied",
        "--plate-edges", "--quiet")
    from roto_studio.core.exr import read_exr

    read = lambda p: np.dstack([read_exr(p)[1][c].astype(np.float32) for c in "RGBA"])  # noqa: E731
    ours, plain = read(tmp_path / "a" / "hair.0001.exr"), read(tmp_path / "b" / "hair.0001.exr")
    a = ours[..., 3]
    edge = (a > 0.15) & (a < 0.85)
    assert edge.sum() > 100
    blue_ours = np.abs(ours[..., 2][edge] - a[edge] * FG[2] / 255).mean()
    blue_plain = np.abs(plain[..., 2][edge] - a[edge] * FG[2] / 255).mean()
    assert blue_ours < 0.4 * blue_plain  # the background's blue is gone from the edge
    inside = a > 0.999
    np.testing.assert_array_equal(ours[inside], plain[inside])  # solid pixels keep the plate
