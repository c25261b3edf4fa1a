"""A propagation does not fill the shot's frame cache: what it keeps per frame stays bounded."""

from __future__ import annotations

import av
import numpy as np

from roto_studio.core.project import create_project
from roto_studio.models.engine import Engine


def _clip(path, n=24, w=64, h=48):
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(n):
            img = np.full((h, w, 3), 90, np.uint8)
            img[(xx - 16 - i) ** 2 + (yy - h // 2) ** 2 < 100] = (220, 60, 40)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def test_propagation_leaves_the_frame_cache_to_the_artist(tmp_path):
    project = create_project(tmp_path / "shot.roto", _clip(tmp_path / "clip.mp4"))
    media = project.open_media()
    obj = project.add_object("disc")
    first = media.read(0)
    looked_at = [media.read(f) for f in (5, 6)]  # frames the artist scrubbed to
    mask = (np.abs(first.astype(int) - (220, 60, 40)).sum(2) < 60).astype(np.float32)
    engine = Engine.local(project, backend="classical", media=media)
    engine.set_mask(obj.id, 0, mask, keyframe=True)
    cached = len(media.cache)
    result = engine.propagate([obj.id], 0, "forward")
    assert len(result.written[obj.id]) == media.frame_count - 1
    assert project.masks.get(obj.id, media.frame_count - 1) is not None
    # every frame was read for the pass, none of them added to the cache
    assert engine._stream.decoded >= media.frame_count - 1 - len(looked_at) - 1
    assert len(media.cache) == cached
    assert all(("rgb", f) in media.cache for f in (0, 5, 6))
    # the cache still serves a later read, and reading without keeping gives the same pixels
    again = media.read(10, keep=False)
    assert ("rgb", 10) not in media.cache
    assert np.array_equal(again, media.read(10)) and ("rgb", 10) in media.cache
