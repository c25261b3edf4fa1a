"""Finding objects by name on one frame: SAM 3, or Grounding DINO boxes cut out by SAM 2.

- `Sam3TextFinder`: `Sam3Model` + `Sam3Processor` called as their documentation shows (the image
  embedding computed once per frame and reused for every phrase), instances kept by
  `post_process_instance_segmentation` at the minimum score.
- `GroundingDinoFinder`: `GroundingDinoForObjectDetection` + its processor give boxes and scores
  per phrase (`post_process_grounded_object_detection`); each box then goes to an ImageSegmenter
  (the SAM 2 image backend) for its mask. The score is the detection's.

Phrases are found one at a time, so each instance belongs to exactly one phrase.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch

from roto_studio.core.errors import ModelError
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import Found, ImageSegmenter, TextFinder

MASK_THRESHOLD = 0.5  # SAM 3's own default for binarising instance masks


def split_phrases(text: str) -> list[str]:
    """'person, dog. red car' -> ['person', 'dog', 'red car'] (commas or full stops separate)."""
    parts = [p.strip() for p in text.replace(".", ",").split(",")]
    out = [" ".join(p.split()) for p in parts if p.strip()]
    return list(dict.fromkeys(out))


def _check_score(min_score: float) -> float:
    s = float(min_score)
    if not 0.0 <= s <= 1.0:
        raise ModelError(f"the minimum score {min_score} must lie between 0 and 1.")
    return s


class _EmbeddingCache:
    def __init__(self, size: int = 2):
        self.size = max(1, size)
        self.items: OrderedDict = OrderedDict()

    def get(self, key):
        if key is None or key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key, value) -> None:
        if key is None:
            return
        self.items[key] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class Sam3TextFinder(TextFinder):
    name = "sam3"

    def __init__(self, model, processor, device=None, cache_size: int = 2):
        self.model = model.eval()
        self.processor = processor
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self._cache = _EmbeddingCache(cache_size)
        self._current: tuple[Any, list, tuple[int, ...]] | None = None  # (vision_embeds, original_sizes, (h, w))
        self.embeddings_computed = 0

    def set_image(self, image: np.ndarray, key: object = None) -> None:
        hit = self._cache.get(key)
        if hit is not None:
            self._current = hit
            return
        image = np.array(image[..., :3], dtype=np.uint8)  # a writable copy (frame caches are read-only)
        inputs = self.processor(images=image, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            embeds = self.model.get_vision_features(pixel_values=inputs.pixel_values)
        self.embeddings_computed += 1
        self._current = (embeds, inputs["original_sizes"].tolist(), image.shape[:2])
        self._cache.put(key, self._current)

    def find(self, phrases: Sequence[str], min_score: float = 0.5) -> list[Found]:
        if self._current is None:
            raise RuntimeError("set_image must be called before find")
        threshold = _check_score(min_score)
        embeds, sizes, _ = self._current
        found: list[Found] = []
        for phrase in phrases:
            text = self.processor(text=phrase, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                out = self.model(vision_embeds=embeds, input_ids=text.input_ids, attention_mask=text.attention_mask)
            res = self.processor.post_process_instance_segmentation(
                out, threshold=threshold, mask_threshold=MASK_THRESHOLD, target_sizes=sizes)[0]
            found.extend(_sorted(phrase, res["masks"], res["scores"], res["boxes"]))
        return found


class GroundingDinoFinder(TextFinder):
    name = "grounding-dino"

    def __init__(self, model, processor, segmenter: ImageSegmenter, device=None,
                 text_threshold: float = 0.25):
        self.model = model.eval()
        self.processor = processor
        self.segmenter = segmenter
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.text_threshold = text_threshold
        self._image: np.ndarray | None = None
        self._key: object = None

    def set_image(self, image: np.ndarray, key: object = None) -> None:
        self._image = np.array(image[..., :3], dtype=np.uint8)
        self._key = key
        self.segmenter.set_image(self._image, key=key)

    def detect(self, phrase: str, min_score: float) -> dict:
        """Boxes, scores and labels of one phrase, exactly as the processor post-processes them."""
        if self._image is None:
            raise RuntimeError("set_image must be called before detect")
        h, w = self._image.shape[:2]
        inputs = self.processor(images=self._image, text=[[phrase]], return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model(**inputs)
        return self.processor.post_process_grounded_object_detection(
            out, inputs.input_ids, threshold=min_score, text_threshold=self.text_threshold,
            target_sizes=[(h, w)])[0]

    def find(self, phrases: Sequence[str], min_score: float = 0.5) -> list[Found]:
        if self._image is None:
            raise RuntimeError("set_image must be called before find")
        threshold = _check_score(min_score)
        h, w = self._image.shape[:2]
        found: list[Found] = []
        for phrase in phrases:
            det = self.detect(phrase, threshold)
            order = torch.argsort(det["scores"], descending=True, stable=True).tolist()
            for i in order:
                x1, y1, x2, y2 = (float(v) for v in det["boxes"][i])
                x1, x2 = max(0.0, min(x1, x2)), min(float(w), max(x1, x2))
                y1, y2 = max(0.0, min(y1, y2)), min(float(h), max(y1, y2))
                if x2 - x1 < 1 or y2 - y1 < 1:
                    continue
                pred = self.segmenter.predict(Prompt(box=(x1, y1, x2, y2)))
                found.append(Found(phrase, np.asarray(pred.alpha, np.float32), float(det["scores"][i]),
                                   (x1, y1, x2, y2)))
        return found


def _sorted(phrase, masks, scores, boxes) -> list[Found]:
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    return [Found(phrase, masks[i].float().cpu().numpy(), float(scores[i]), _box(boxes[i])) for i in order]


def _box(values) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2
