"""He et al.'s guided filter with a grey guide, in box filters only (OpenCV): the soft edge the
classical segmenter feathers with and Cutie's upsampled mattes are refined by."""

from __future__ import annotations

import cv2
import numpy as np


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """`src` filtered to follow the edges of `guide` (both float32 HxW, guide 0..1); float32 out."""
    k = (2 * radius + 1, 2 * radius + 1)

    def mean(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(src)
    cov = mean(guide * src) - mean_i * mean_p
    var = mean(guide * guide) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    result: np.ndarray = mean(a) * guide + mean(b)
    return result
