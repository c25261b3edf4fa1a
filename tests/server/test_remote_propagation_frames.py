"""A propagation whose models run on the local model server: the engine hands the remote
propagator the shot's own media (the server reads its frames itself), and every frame is written."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "resources"))

from make_sample import make_sample  # noqa: E402

from roto_studio.client.local import LocalServer  # noqa: E402
from roto_studio.client.remote import remote_engine  # noqa: E402
from roto_studio.core.errors import ModelError  # noqa: E402
from roto_studio.core.project import create_project  # noqa: E402
from tests.models.test_backends_protocol import assert_is_backends  # noqa: E402


def test_remote_propagation_reads_frames_on_the_server(tmp_path):
    clip = make_sample(tmp_path / "clip.mp4", frames=6, width=160, height=96)
    project = create_project(tmp_path / "shot.roto", clip)
    obj = project.add_object("disc")
    server = LocalServer([str(tmp_path)], device="cpu")
    server.start(timeout=120)
    try:
        engine = remote_engine(project, server.client(), "classical")
        assert_is_backends(engine.backends)
        assert engine.server_session is engine.backends.session is not None
        assert engine.retry_options("cpu") == ()  # classical on the server: nothing smaller to retry
        with pytest.raises(ModelError, match="cannot retry 'cpu'"):
            engine.retry("cpu")
        mask = np.zeros((96, 160), np.float32)
        mask[30:60, 40:80] = 1
        engine.set_mask(obj.id, 0, mask)
        result = engine.propagate([obj.id], 0, "forward")
        assert result.written[obj.id] == [1, 2, 3, 4, 5]
        assert project.masks.get(obj.id, 5) is not None
        assert len(engine.media.cache) <= 1  # the frames were read on the server, not here
        engine.close()
    finally:
        server.close()
