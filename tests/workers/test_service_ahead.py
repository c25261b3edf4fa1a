"""Ahead of the artist: after a click, the model thread embeds the neighbouring frames while idle,
so a click there runs no image encoder; a look at another frame re-targets it (real SAM 2 image
segmenter, random weights at 128)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("sam2")

from roto_studio.core.project import create_project  # noqa: E402
from roto_studio.models.backends import BackendPlan  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.engine import Engine  # noqa: E402
from roto_studio.models.sam2.common import from_config  # noqa: E402
from roto_studio.models.sam2.image import Sam2ImageSegmenter  # noqa: E402
from roto_studio.workers.service import ModelService  # noqa: E402
from tests.models.test_engine import FakeMedia, FakeVideo  # noqa: E402


@pytest.fixture
def service(tmp_path):
    project = create_project(tmp_path / "shot.roto", tmp_path / "clip.mp4")
    obj = project.add_object("thing")
    made = {}

    def build():
        image = Sam2ImageSegmenter(from_config("tiny", image_size=128))
        made["engine"] = Engine.given(project, image=image, video=FakeVideo(), media=FakeMedia(),
                                plan=BackendPlan("sam2", "test", device="cpu"))
        return made["engine"]

    s = ModelService(build)
    yield s, obj, made
    s.stop()


def test_neighbours_are_embedded_after_a_click_and_a_look_retargets(qtbot, service):
    s, obj, made = service
    with qtbot.waitSignal(s.promptDone, timeout=60000):
        s.prompt(obj.id, 1005, Prompt(points=[(10, 10)], labels=[1]))
    engine = made["engine"]
    image = engine.image
    qtbot.waitUntil(lambda: engine.ahead.computed == 2 and s.pending() == 0, timeout=60000)
    assert image.has_embedding(engine.image_key(1006)) and image.has_embedding(engine.image_key(1004))
    encoded = image.embeddings_computed
    assert encoded == 3
    # a click on the neighbour runs only the prompt encoder and mask decoder
    with qtbot.waitSignal(s.promptDone, timeout=60000) as sig:
        s.prompt(obj.id, 1006, Prompt(points=[(12, 12)], labels=[1]))
    assert sig.args[2] == 1006 and sig.args[3].shape == (24, 32)
    qtbot.waitUntil(lambda: engine.ahead.computed == 4 and not engine.ahead.pending(), timeout=60000)
    assert image.embeddings_computed == encoded + 1  # 1007 only: 1005 was cached already
    # scrubbing elsewhere: the frames around the new one are embedded next
    s.look(1010)
    qtbot.waitUntil(lambda: image.has_embedding(engine.image_key(1011))
                    and image.has_embedding(engine.image_key(1009)), timeout=60000)
    assert not image.has_embedding(engine.image_key(1003))
