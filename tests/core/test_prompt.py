"""The one prompt type (core.prompt.Prompt): the project file form reads back the same prompt (and
old files' form), the wire form the client sends is what the server decodes, and the edits the
window makes (a click, a box, a brush stroke) give the prompts the model is asked with."""

import numpy as np
import pytest

from roto_studio.core import wire
from roto_studio.core.prompt import Prompt
from roto_studio.models import base


def test_the_models_take_the_same_type():
    assert base.Prompt is Prompt


def test_project_form_round_trips_and_reads_what_older_projects_wrote():
    p = Prompt.from_clicks([(10.5, 20, 1), (3, 4, 0)], box=(1, 2, 30, 40), has_mask=True)
    d = p.to_dict()
    assert d == {"points": [[10.5, 20.0, 1], [3.0, 4.0, 0]], "box": [1.0, 2.0, 30.0, 40.0], "has_mask": True}
    assert Prompt.from_dict(d) == p
    old = {"points": [[5, 6, 1]], "box": None, "has_mask": False}  # a project file from before
    q = Prompt.from_dict(old)
    assert q.points == [(5.0, 6.0)] and q.labels == [1] and q.box is None and not q.has_mask
    for bad in ({"points": [[True, 1, 1]]}, {"points": [["1", 1, 1]]}, {"box": [1, 2, 3]}, {"has_mask": 1},
                {"points": [[float("nan"), 1, 1]]}):
        with pytest.raises(ValueError):
            Prompt.from_dict(bad)


def test_the_wire_form_is_what_the_server_decodes():
    mask = np.zeros((6, 8), np.float32)
    mask[1:4, 2:7] = 0.25 + np.arange(5) / 7  # not on a 16-bit step: sent as float32
    p = Prompt(points=[(1.5, 2.0), (3.0, 4.25)], labels=[1, 0], box=(0.0, 0.5, 7.0, 5.0), mask=mask)
    body = wire.prompt_body(p)
    assert set(body) == {"points", "labels", "box", "mask"}
    back = wire.prompt_from_body(body["points"], body["labels"], body["box"], body["mask"], (8, 6))
    assert back == p and np.array_equal(back.mask, mask) and back.has_mask
    with pytest.raises(wire.WireError, match="no prompt"):
        wire.prompt_from_body([], [], None, None, (8, 6))
    with pytest.raises(wire.WireError, match="one entry per point"):
        wire.prompt_from_body([[1, 1], [2, 2]], [1], None, None, (8, 6))
    assert wire.prompt_from_body([[1, 1]], [], None, None, (8, 6)).labels == [1]


def test_window_edits_and_what_the_model_is_asked():
    p = Prompt().with_click(10, 12, 1).with_click(3, 4, 0)
    assert p.clicks == [(10.0, 12.0, 1), (3.0, 4.0, 0)] and not p.is_empty()
    boxed = p.with_box((1, 2, 3, 4))
    assert boxed.points == [] and boxed.box == (1.0, 2.0, 3.0, 4.0)
    brushed = p.keyed()
    assert brushed.has_mask and brushed.mask is None and brushed.clicks == p.clicks
    asked = brushed.for_model()
    assert not asked.has_mask and asked.clicks == p.clicks
    assert Prompt(has_mask=True).for_model().is_empty()  # a brushed frame alone asks the model nothing
    assert not Prompt(has_mask=True).is_empty()  # but the project keeps it as a keyframe
    stored = Prompt(points=[(1, 1)], labels=[1], mask=np.ones((2, 2), np.float32)).stored()
    assert stored.mask is None and stored.has_mask
