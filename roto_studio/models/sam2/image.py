"""SAM 2 clicks and boxes on one frame, over sam2's SAM2ImagePredictor.

The image embedding of a frame is computed once per key and kept in a bounded LRU (the
predictor's `_features` / `_orig_hw` are saved and restored), so clicking again on a frame, or on
a prefetched neighbour, costs only the prompt encoder and mask decoder.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch

from roto_studio.core.prompt import Prompt
from roto_studio.models.base import ImageSegmenter, Prediction
from roto_studio.models.sam2.common import feature_sizes


class Sam2ImageSegmenter(ImageSegmenter):
    name = "sam2"

    def __init__(self, model, cache_size: int = 8, mask_logit_scale: float = 10.0):
        """model: a SAM 2 model (SAM2Base; sam2_common.load / from_config build one)."""
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.model = model
        self.predictor = SAM2ImagePredictor(model)
        # the stock predictor assumes a 1024 input; match the model's real size
        self.predictor._bb_feat_sizes = feature_sizes(model.image_size)
        self.cache_size = max(1, int(cache_size))
        self.mask_logit_scale = mask_logit_scale  # logits fed back for a mask-only prompt
        self._cache: OrderedDict = OrderedDict()  # key -> (features, orig_hw)
        self._key: object = None  # the current image's cache key (None: not cached)
        self.embeddings_computed = 0  # how many times the image encoder ran (tests, stats)

    # ---- embeddings -------------------------------------------------------------------------
    def _embed(self, image: np.ndarray):
        image = np.ascontiguousarray(image[..., :3])
        if image.dtype != np.uint8:
            raise ValueError("Sam2ImageSegmenter expects HxWx3 uint8 RGB images")
        with torch.inference_mode():
            self.predictor.set_image(image)
        self.embeddings_computed += 1
        return self.predictor._features, self.predictor._orig_hw

    def _restore(self, entry) -> None:
        p = self.predictor
        p._features, p._orig_hw = entry
        p._is_image_set = True
        p._is_batch = False

    def _remember(self, key, entry) -> None:
        if key is None:
            return
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def has_embedding(self, key) -> bool:
        return key is not None and key in self._cache

    def set_image(self, image: np.ndarray, key: object = None) -> None:
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            self._restore(self._cache[key])
        else:
            entry = self._embed(image)
            self._remember(key, entry)
        self._key = key

    def prefetch(self, images: Sequence[tuple[object, np.ndarray]]) -> None:
        """Embed (key, image) pairs not cached yet; the current image stays current."""
        current = (self.predictor._features, self.predictor._orig_hw) if self.predictor._is_image_set else None
        todo = [(k, im) for k, im in images if k is not None and k not in self._cache]
        # never push the current frame out of the cache by prefetching
        todo = todo[: max(0, self.cache_size - 1)]
        for key, image in todo:
            self._remember(key, self._embed(image))
        if self._key is not None and self._key in self._cache:
            self._cache.move_to_end(self._key)
        if current is not None:
            self._restore(current)

    def clear_cache(self) -> None:
        self._cache.clear()

    # ---- prediction -------------------------------------------------------------------------
    def _mask_to_logits(self, mask: np.ndarray) -> np.ndarray:
        """A frame-size alpha as low-res logits in the model's input frame (1 x S/4 x S/4)."""
        import cv2

        s = self.model.sam_prompt_encoder.mask_input_size
        small = cv2.resize(np.asarray(mask, dtype=np.float32), (s[1], s[0]), interpolation=cv2.INTER_AREA)
        return ((small * 2.0 - 1.0) * self.mask_logit_scale)[None].astype(np.float32)

    def predict(self, prompt: Prompt, mask_logits: np.ndarray | None = None,
                multimask: bool | None = None) -> Prediction:
        p = self.predictor
        if not p._is_image_set:
            raise RuntimeError("set_image must be called before predict")
        if mask_logits is None and prompt.mask is not None:
            mask_logits = self._mask_to_logits(prompt.mask)
        if prompt.is_empty() and mask_logits is None:
            h, w = p._orig_hw[-1]
            return Prediction(np.zeros((h, w), np.float32), 0.0, None)
        coords = labels = box = None
        if prompt.points:
            coords = np.asarray(prompt.points, dtype=np.float32).reshape(-1, 2)
            labels = np.asarray(prompt.labels or [1] * len(coords), dtype=np.int32)
        if prompt.box is not None:
            box = np.asarray(prompt.box, dtype=np.float32).reshape(4)
        if multimask is None:  # one click is ambiguous: let SAM offer three and take the best
            multimask = coords is not None and len(coords) == 1 and box is None and mask_logits is None
        if mask_logits is not None:
            mask_logits = np.asarray(mask_logits, dtype=np.float32).reshape(1, *np.shape(mask_logits)[-2:])
        with torch.inference_mode():
            mask_input, unnorm_coords, lab, unnorm_box = p._prep_prompts(coords, labels, box, mask_logits, True)
            logits, scores, low_res = p._predict(unnorm_coords, lab, unnorm_box, mask_input,
                                                 multimask_output=bool(multimask), return_logits=True)
            best = int(torch.argmax(scores[0])) if multimask else 0
            alpha = torch.sigmoid(logits[0, best]).float().cpu().numpy()
            score = float(scores[0, best])
            low = low_res[0, best : best + 1].float().cpu().numpy()
        return Prediction(alpha, score, low)
