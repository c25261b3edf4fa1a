"""core/media/cache.py: the frame cache keeps the most recently used frames within its byte budget."""

import numpy as np

from roto_studio.core.media.cache import FrameCache


def test_frame_cache_evicts_least_recently_used():
    cache = FrameCache(300)
    for k in "abc":
        cache.put(k, np.zeros(100, np.uint8))
    cache.get("a")
    cache.put("d", np.zeros(100, np.uint8))
    assert "b" not in cache and "a" in cache and "d" in cache
    cache.put("huge", np.zeros(1000, np.uint8))  # larger than the budget: not kept
    assert "huge" not in cache and cache.nbytes == 300
