"""The ProRes frames' YCbCr conversion (core.export.prores.yuva_planes, numpy) against libswscale,
called through PyAV's VideoFrame.reformat as its documentation shows, on one thread.

Fed 8-bit RGB, swscale follows the BT.601/709/2020 equations (white 940, red Cr 960 in 10 bits);
fed 16-bit RGB it writes white as 943, so the comparison is made on 8-bit sources."""

import av
import numpy as np
import pytest

from roto_studio.core.export.prores import yuva_planes


def swscale(rgba8: np.ndarray, matrix: str) -> np.ndarray:
    h, w = rgba8.shape[:2]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba8), format="rgba")
    kw = dict(format="yuva444p10le", src_colorspace=matrix, dst_colorspace=matrix, dst_color_range="MPEG")
    try:
        out = frame.reformat(threads=1, **kw)
    except TypeError:  # PyAV before `threads`: swscale ran on one thread
        out = frame.reformat(**kw)
    return np.stack([np.frombuffer(p, np.uint16).reshape(h, p.line_size // 2)[:, :w] for p in out.planes])


@pytest.mark.parametrize("number, name", [(1, "ITU709"), (5, "ITU601"), (6, "SMPTE170M"), (9, "BT2020"),
                                          (7, "SMPTE240M")])
def test_yuva_planes_match_swscale_within_one_code(number, name):
    rng = np.random.default_rng(number)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sizes: plane rows are padded
    rgb[0, :3] = [(0, 0, 0), (255, 255, 255), (255, 0, 0)]
    alpha = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    ours = yuva_planes(rgb.astype(np.uint16) * 257, alpha / 255.0, number)
    ref = swscale(np.dstack([rgb, alpha]), name)
    assert ours.dtype == np.uint16 and ours.shape == ref.shape == (4, 37, 53)
    assert np.abs(ours.astype(int) - ref).max() <= 1
    assert ours[0, 0, 0] == 64 and ours[0, 0, 1] == 940  # black and white, video range
    assert ours[3].min() >= 0 and ours[3].max() <= 1023
