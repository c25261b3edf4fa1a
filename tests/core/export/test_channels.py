"""EXR channels for a cut-out need an alpha: asked for layers of no alphas with the plate, the
channel builder says so (found by mypy: the union alpha was None and `colour * None` failed)."""

from __future__ import annotations

import numpy as np
import pytest

from roto_studio.core.errors import ExportError
from roto_studio.core.export.pixels import exr_channels


def test_a_cut_out_of_no_alphas_is_refused():
    rgb = np.zeros((4, 4, 3), np.uint8)
    for mode in ("straight", "premultiplied"):
        with pytest.raises(ExportError, match="at least one alpha"):
            exr_channels({}, rgb, mode, layers=True)


def test_layers_alone_and_one_alpha_are_as_before():
    a = np.full((4, 4), 0.5, np.float32)
    assert exr_channels({}, None, layers=True) == {}
    assert set(exr_channels({"hero": a})) == {"A"}
    out = exr_channels({"hero": a, "car": a}, np.zeros((4, 4, 3), np.uint8), "premultiplied")
    assert set(out) == {"hero.A", "car.A", "R", "G", "B", "A"}
