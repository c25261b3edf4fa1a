"""SAM 2 image backend: prompts give the bare SAM2ImagePredictor's answer as soft alpha; embeddings
are cached per key and prefetched. Model: SAM 2.1 tiny, shipped config, seeded random weights."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sam2_fixtures import disc_centre, make_model, scene, square_box, torch  # noqa: E402

from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.sam2.image import Sam2ImageSegmenter  # noqa: E402


@pytest.fixture(scope="module")
def model():
    m = make_model(image_size=128)
    calls = {"n": 0}
    orig = m.forward_image

    def counted(img):
        calls["n"] += 1
        return orig(img)

    m.forward_image = counted
    m.encoder_calls = calls
    return m


@pytest.fixture()
def seg(model):
    s = Sam2ImageSegmenter(model, cache_size=3)
    s.set_image(scene(0), key=("shot", 0))
    return s


def bare(seg, multimask, **kw):
    """The stock predictor's own answer on the same features: (logits at full size, scores, low res)."""
    with torch.inference_mode():
        return seg.predictor.predict(multimask_output=multimask, return_logits=True, **kw)


def sigmoid(x):
    return torch.sigmoid(torch.from_numpy(x)).numpy()


def check_alpha(alpha, shape=(120, 160)):
    assert alpha.shape == shape and alpha.dtype == np.float32
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert len(np.unique(alpha)) > 10  # soft, not thresholded
    assert 0.0 < (alpha > 0.5).mean() < 1.0


def test_box(seg):
    p = seg.predict(Prompt(box=square_box(0)))
    logits, scores, low = bare(seg, False, box=np.array(square_box(0)))
    check_alpha(p.alpha)
    assert np.allclose(p.alpha, sigmoid(logits[0]), atol=1e-6)
    assert p.score == pytest.approx(float(scores[0]))
    assert p.logits.shape == (1, 32, 32) and np.allclose(p.logits, low[:1])


def test_include_exclude_points_and_box_with_points(seg):
    pts, labels = [disc_centre(0), (150, 110)], [1, 0]
    p = seg.predict(Prompt(points=pts, labels=labels))
    logits, _, _ = bare(seg, False, point_coords=np.array(pts), point_labels=np.array(labels))
    check_alpha(p.alpha)
    assert np.allclose(p.alpha, sigmoid(logits[0]), atol=1e-6)

    q = seg.predict(Prompt(points=[(118, 30)], labels=[0], box=square_box(0)))
    logits, _, _ = bare(seg, False, point_coords=np.array([(118, 30)]), point_labels=np.array([0]),
                        box=np.array(square_box(0)))
    assert np.allclose(q.alpha, sigmoid(logits[0]), atol=1e-6)
    box_only = seg.predict(Prompt(box=square_box(0)))
    assert not np.allclose(q.alpha, box_only.alpha)  # the exclude click changed the answer


def test_refinement_from_previous_logits(seg):
    first = seg.predict(Prompt(points=[disc_centre(0)], labels=[1]))
    pts, labels = [disc_centre(0), (10, 10)], [1, 0]
    refined = seg.predict(Prompt(points=pts, labels=labels), mask_logits=first.logits)
    logits, _, _ = bare(seg, False, point_coords=np.array(pts), point_labels=np.array(labels),
                        mask_input=first.logits)
    assert np.allclose(refined.alpha, sigmoid(logits[0]), atol=1e-6)
    fresh = seg.predict(Prompt(points=pts, labels=labels))
    assert not np.allclose(refined.alpha, fresh.alpha)  # the previous logits were used


def test_single_click_multimask_picks_best_score(seg):
    click = Prompt(points=[disc_centre(0)], labels=[1])
    p = seg.predict(click)  # automatic: one click -> three candidates
    logits, scores, _ = bare(seg, True, point_coords=np.array([disc_centre(0)]), point_labels=np.array([1]))
    assert len(scores) == 3
    best = int(np.argmax(scores))
    assert p.score == pytest.approx(float(scores.max()))
    assert np.allclose(p.alpha, sigmoid(logits[best]), atol=1e-6)
    single = seg.predict(click, multimask=False)
    logits1, _, _ = bare(seg, False, point_coords=np.array([disc_centre(0)]), point_labels=np.array([1]))
    assert np.allclose(single.alpha, sigmoid(logits1[0]), atol=1e-6)


def test_embedding_cache_and_prefetch(model):
    seg = Sam2ImageSegmenter(model, cache_size=3)
    calls = model.encoder_calls
    start = calls["n"]
    click = Prompt(points=[disc_centre(0)], labels=[1])
    seg.set_image(scene(0), key=0)
    a0 = seg.predict(click).alpha
    seg.set_image(scene(4), key=4)
    a4 = seg.predict(click).alpha
    assert calls["n"] - start == 2 and not np.array_equal(a0, a4)

    seg.set_image(scene(0), key=0)  # cache hit: no encoder run, same answer
    assert calls["n"] - start == 2 and seg.embeddings_computed == 2
    assert np.array_equal(seg.predict(click).alpha, a0)

    seg.prefetch([(1, scene(1)), (0, scene(0)), (2, scene(2))])  # 0 is cached already
    assert calls["n"] - start == 4
    assert np.array_equal(seg.predict(click).alpha, a0)  # current image untouched by prefetch
    assert [seg.has_embedding(k) for k in (0, 1, 2, 4)] == [True, True, True, False]  # bounded LRU
    seg.set_image(scene(1), key=1)
    assert calls["n"] - start == 4
    assert not np.array_equal(seg.predict(click).alpha, a0)

    seg.prefetch([(k, scene(k)) for k in (6, 7, 8)])  # never pushes the current frame out
    assert seg.has_embedding(1) and len(seg._cache) == 3 and calls["n"] - start == 6
    seg.set_image(scene(5))  # no key: computed, not cached
    assert calls["n"] - start == 7 and len(seg._cache) == 3
