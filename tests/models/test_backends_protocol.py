"""The set of backends is one interface (models.base.Backends): the local set answers every member
of it, and so does the model server's (checked with a real server session in
tests/server/test_remote_propagation_frames.py). The engine asks them what out of memory means
and what a retry rebuilds, never which kind they are."""

from __future__ import annotations

import inspect

import pytest

from roto_studio.core.errors import ModelError
from roto_studio.models import backends as backends_mod
from roto_studio.models.base import Backends
from roto_studio.models.device import DeviceOutOfMemory


def members() -> set[str]:
    names = set(getattr(Backends, "__annotations__", {}))
    names |= {n for n, v in vars(Backends).items()
              if not n.startswith("_") and (inspect.isfunction(v) or isinstance(v, property))}
    return names


def assert_is_backends(obj) -> None:
    assert {"plan", "image", "video", "device", "out_of_memory", "retried", "close"} <= members()
    missing = sorted(n for n in members() if not hasattr(obj, n))
    assert not missing, f"{type(obj).__name__} lacks {missing} of models.base.Backends"
    for name in ("out_of_memory", "retry_options", "retried", "close"):
        want = list(inspect.signature(getattr(Backends, name)).parameters)[1:]
        have = list(inspect.signature(getattr(obj, name)).parameters)
        assert have == want, f"{type(obj).__name__}.{name}{have} is not Backends.{name}{want}"


def test_the_local_set_is_a_backends_and_rebuilds_on_retry():
    local = backends_mod.BackendSet(backends_mod.choose("classical"))
    assert_is_backends(local)
    assert local.session is None and not local.reads_own_frames and local.retries_by_itself == ()
    assert local.out_of_memory(ValueError("shape mismatch")) is None  # not memory: raised as it was
    err = local.out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert isinstance(err, DeviceOutOfMemory) and "\n" not in str(err)
    with pytest.raises(ModelError):
        local.retried("offload")  # classical has no model to offload
    moved = local.retried("cpu")
    assert moved is not local and isinstance(moved, backends_mod.BackendSet)
    assert moved.plan.device == "cpu" and any("CPU" in n for n in moved.plan.notes)


def test_models_the_caller_built_are_a_backends_that_cannot_be_rebuilt(tmp_path):
    from roto_studio.core.project import create_project
    from roto_studio.models import classical
    from roto_studio.models.engine import Engine

    given = backends_mod.GivenBackends(image=classical.GrabCutSegmenter(), video=classical.FlowPropagator())
    assert_is_backends(given)
    assert given.session is None and given.device is None and given.retry_options("cpu") == ()
    with pytest.raises(ModelError, match="no video propagator was given"):
        backends_mod.GivenBackends(image=classical.GrabCutSegmenter()).video
    engine = Engine.given(create_project(tmp_path / "shot.roto", tmp_path / "clip.mp4"),
                          image=classical.GrabCutSegmenter())
    assert engine.backends.image is engine.image and engine.server_session is None
    with pytest.raises(ModelError, match="cannot be rebuilt"):
        engine.retry("cpu")
    local = Engine.local(engine.project, backend="classical")
    assert isinstance(local.backends, backends_mod.BackendSet) and local.plan.name == "classical"
