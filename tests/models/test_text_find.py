"""Finding objects by name returns what transformers' models and processors give when called as
their documentation shows (tiny seeded random configs: no weights, no network)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from roto_studio.core.errors import ModelError  # noqa: E402
from roto_studio.models.hf import build as hf_build  # noqa: E402
from roto_studio.models.text.backends import next_name  # noqa: E402
from roto_studio.models.text.find import GroundingDinoFinder, Sam3TextFinder, split_phrases  # noqa: E402
from tests.models.sam2_fixtures import scene  # noqa: E402


@pytest.fixture(scope="module")
def image():
    return scene(3, 120, 90)


def test_sam3_finder_equals_documented_calls(image):
    model, processor = hf_build.random_sam3()
    finder = Sam3TextFinder(model, processor)
    finder.set_image(image, key=("shot", 1001))
    found = finder.find(["person", "dog"], min_score=0.5)
    finder.set_image(image, key=("shot", 1001))  # cached: no second embedding
    assert finder.embeddings_computed == 1

    want = []
    for phrase in ("person", "dog"):
        inputs = processor(images=image, text=phrase, return_tensors="pt")
        with torch.no_grad():
            outputs = model(**inputs)
        res = processor.post_process_instance_segmentation(
            outputs, threshold=0.5, mask_threshold=0.5, target_sizes=inputs.get("original_sizes").tolist())[0]
        order = torch.argsort(res["scores"], descending=True, stable=True)
        want += [(phrase, res["masks"][i], res["scores"][i], res["boxes"][i]) for i in order.tolist()]
    assert len(found) == len(want) > 0
    assert {f.phrase for f in found} == {"person", "dog"}
    for f, (phrase, mask, score, box) in zip(found, want):
        assert f.phrase == phrase
        assert f.alpha.shape == image.shape[:2]
        np.testing.assert_array_equal(f.alpha, mask.float().numpy())
        assert f.score == pytest.approx(float(score), abs=1e-6)
        np.testing.assert_allclose(f.box, box.numpy(), atol=1e-4)
        assert f.score >= 0.5
    # a higher bar keeps a subset
    assert len(finder.find(["person", "dog"], min_score=0.55)) < len(found)
    with pytest.raises(ModelError):
        finder.find(["person"], min_score=1.5)


def test_grounding_dino_boxes_then_sam2_equal_documented_calls(image, tmp_path):
    pytest.importorskip("sam2")
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    from roto_studio.models.sam2.common import feature_sizes, from_config
    from roto_studio.models.sam2.image import Sam2ImageSegmenter

    model, processor = hf_build.random_grounding_dino(tmp_path / "tok")
    sam2 = from_config("tiny", image_size=128)
    finder = GroundingDinoFinder(model, processor, Sam2ImageSegmenter(sam2))
    finder.set_image(image, key=("shot", 1001))
    found = finder.find(["person"], min_score=0.9)

    inputs = processor(images=image, text=[["person"]], return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    res = processor.post_process_grounded_object_detection(
        outputs, inputs.input_ids, threshold=0.9, text_threshold=0.25, target_sizes=[image.shape[:2]])[0]
    order = torch.argsort(res["scores"], descending=True, stable=True).tolist()
    assert len(found) == len(order) > 0
    predictor = SAM2ImagePredictor(sam2)
    predictor._bb_feat_sizes = feature_sizes(128)
    predictor.set_image(image)
    for f, i in zip(found, order):
        assert f.score == pytest.approx(float(res["scores"][i]), abs=1e-6)
        box = res["boxes"][i].numpy()
        box = np.clip(box, 0, [120, 90, 120, 90])
        np.testing.assert_allclose(f.box, box, atol=1e-4)
        logits, _, _ = predictor.predict(box=np.asarray(f.box, np.float32), multimask_output=False, return_logits=True)
        np.testing.assert_allclose(f.alpha, 1 / (1 + np.exp(-logits[0])), atol=1e-5)


def test_phrases_and_names():
    assert split_phrases(" person, dog.  red   car,,person ") == ["person", "dog", "red car"]
    assert next_name({"person 1", "person 2", "dog 1", "person x"}, "person") == "person 3"
    assert next_name(set(), "red car") == "red car 1"
