"""Temporal matting (ops.temporal_matte): still edges stop shimmering, moving ones stay right, and
where nothing moves the result is exactly per-frame matting (classical and ViTMatte)."""

from __future__ import annotations

import numpy as np

from roto_studio.cli import main
from roto_studio.core.edge_matte import matte_from_mask
from roto_studio.core.project import load_project
from roto_studio.models.matting.classical import ClassicalMatter
from roto_studio.models.matting.vitmatte import ViTMatteMatter
from roto_studio.ops.temporal_matte import TemporalMatter
from tests.ops.shots import background, composite, soft_disc, write_project

H, W = 64, 80


def flicker(seq):
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(seq, seq[1:])]))


def sad(a, b):
    return float(np.abs(a - b).sum())


def noisy_still_clip(frames=6):
    """A still soft-edged disc over a still background, with fresh sensor noise on every frame."""
    rng = np.random.default_rng(3)
    bg = background(H, W)
    alpha = soft_disc(H, W, 40, 32, 16, 3.0)
    images = [composite(alpha, (0.9, 0.8, 0.3), bg, 0.02, rng) for _ in range(frames)]
    return images, alpha, (alpha >= 0.5).astype(np.float32)


def test_still_edges_flicker_less_than_per_frame_matting():
    images, truth, mask = noisy_still_clip()
    matter = ClassicalMatter()
    per_frame = [matte_from_mask(img, mask, matter, soft=mask) for img in images]
    tm = TemporalMatter(matter)
    guided = [tm.matte(i, img, mask, soft=mask) for i, img in enumerate(images)]
    assert flicker(per_frame) > 1e-4  # the noise does make per-frame matting shimmer
    assert flicker(guided) <= 0.5 * flicker(per_frame)
    assert np.mean([sad(g, truth) for g in guided]) <= np.mean([sad(p, truth) for p in per_frame])


def test_moving_edges_are_re_solved():
    bg = background(H, W, 2)
    matter = ClassicalMatter()
    tm = TemporalMatter(matter)
    per, ours, truths = [], [], []
    for i in range(5):
        alpha = soft_disc(H, W, 24 + 6 * i, 32, 12, 2.0)  # 6 px a frame
        img = composite(alpha, (0.2, 0.4, 0.95), bg)
        mask = (alpha >= 0.5).astype(np.float32)
        per.append(matte_from_mask(img, mask, matter, soft=mask))
        ours.append(tm.matte(i, img, mask, soft=mask))
        truths.append(alpha)
    for p, o, t in zip(per, ours, truths):
        assert sad(o, t) <= 1.1 * sad(p, t) + 1.0  # no trail left behind the moving edge


def test_nothing_moving_equals_per_frame_vitmatte_and_classical():
    bg = background(H, W, 4)
    alpha = soft_disc(H, W, 40, 32, 15, 2.5)
    img = composite(alpha, (0.9, 0.9, 0.9), bg)
    mask = (alpha >= 0.5).astype(np.float32)
    for matter in (ViTMatteMatter.from_config(seed=0, device="cpu"), ClassicalMatter()):
        alone = matte_from_mask(img, mask, matter, soft=mask)
        tm = TemporalMatter(matter)
        for i in range(3):
            np.testing.assert_allclose(tm.matte(i, img.copy(), mask, soft=mask), alone, atol=1e-5)


def test_matte_command_guides_consecutive_frames(tmp_path, capsys):
    images, truth, mask = noisy_still_clip(5)
    project = write_project(tmp_path, images, [mask] * len(images))
    obj = project.objects[0]
    assert main(["matte", str(project.folder), "--backend", "classical"]) == 0
    guided = [load_project(project.folder).masks.get(obj.id, 1001 + i) for i in range(5)]
    project = write_project(tmp_path / "b", images, [mask] * len(images))
    assert main(["matte", str(project.folder), "--backend", "classical", "--per-frame"]) == 0
    alone = [load_project(project.folder).masks.get(project.objects[0].id, 1001 + i) for i in range(5)]
    assert flicker(guided) <= 0.5 * flicker(alone)
