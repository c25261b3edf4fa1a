"""The CPU runtime: image encoders exported to ONNX and run by ONNX Runtime give PyTorch's
outputs within 1e-3 (random weights, small image sizes); the export is cached per weights hash;
ROTO_CPU_RUNTIME picks the runtime. The reference is the untouched PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from roto_studio.core.errors import ModelError  # noqa: E402
from roto_studio.models.cpu import runtime as cpu_runtime  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from tests.models.sam2_fixtures import scene  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cpu-runtime")


@pytest.fixture(autouse=True)
def _cache_env(cache, monkeypatch):
    monkeypatch.setenv("ROTO_CPU_RUNTIME_CACHE", str(cache))
    monkeypatch.delenv("ROTO_CPU_RUNTIME", raising=False)


class Frames:
    def __init__(self, n=5):
        self.frames = [scene(t) for t in range(n)]
        self.height, self.width = self.frames[0].shape[:2]
        self.frame_numbers = list(range(n))

    def read(self, frame):
        return self.frames[frame]


def _track(prop, frames):
    prop.start(frames)
    disc = (np.abs(frames.read(0).astype(int) - (220, 60, 50)).sum(2) < 60).astype(np.float32)
    first = prop.add_prompt(0, "a", Prompt(mask=disc))
    return [first] + [a["a"] for _, a in prop.propagate(0)]


def test_edgetam_on_onnx_runtime_equals_pytorch(cache):
    pytest.importorskip("transformers")
    pytest.importorskip("timm")
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.hf.video import HFVideoPropagator

    frames = Frames()
    ref_model, processor = hf_build.random_edgetam(tiny=True)
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        ref_feats = ref_model.get_image_features(x, return_dict=True)
    ref = _track(HFVideoPropagator(ref_model, processor, cpu_runtime="torch"), frames)

    model, processor = hf_build.random_edgetam(tiny=True)
    prop = HFVideoPropagator(model, processor, cpu_runtime="onnx")
    assert prop.runtime.runtime == "onnx"
    exported = sorted(cache.glob("edgetam-128-*.onnx"))
    assert len(exported) == 1
    with torch.inference_mode():
        got_feats = model.get_image_features(x, return_dict=True)
    for a, b in zip(ref_feats.fpn_hidden_states + ref_feats.fpn_position_encoding,
                    got_feats.fpn_hidden_states + got_feats.fpn_position_encoding):
        assert a.shape == b.shape
        assert float((a - b).abs().max()) < 1e-3
    got = _track(prop, frames)
    assert len(got) == len(ref) == 6  # the prompted frame, then it again and the 4 after it
    for a, b in zip(ref, got):
        assert float(np.abs(a - b).max()) < 1e-3

    # the same weights again: the cached export is used, not made anew
    stamp = exported[0].stat().st_mtime_ns
    again, processor = hf_build.random_edgetam(tiny=True)
    assert HFVideoPropagator(again, processor, cpu_runtime="onnx").runtime.runtime == "onnx"
    assert exported[0].stat().st_mtime_ns == stamp and len(list(cache.glob("edgetam-128-*.onnx"))) == 1
    # other weights: another export
    other, processor = hf_build.random_edgetam(tiny=True, seed=1)
    HFVideoPropagator(other, processor, cpu_runtime="onnx")
    assert len(list(cache.glob("edgetam-128-*.onnx"))) == 2


def test_sam2_image_encoder_on_onnx_runtime_equals_pytorch():
    pytest.importorskip("sam2")
    from roto_studio.models.cpu.export import accelerate_sam2
    from roto_studio.models.sam2.common import from_config

    ref = from_config("tiny", image_size=128)
    model = from_config("tiny", image_size=128)
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        want = ref.forward_image(x)
    choice = accelerate_sam2(model, runtime="onnx")
    assert choice.runtime == "onnx"
    with torch.inference_mode():
        got = model.forward_image(x)
    assert float((want["vision_features"] - got["vision_features"]).abs().max()) < 1e-3
    for key in ("backbone_fpn", "vision_pos_enc"):
        for a, b in zip(want[key], got[key]):
            assert a.shape == b.shape and float((a - b).abs().max()) < 1e-3


def test_runtime_choice_from_the_environment(monkeypatch):
    pytest.importorskip("transformers")
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.cpu.export import accelerate_edgetam

    model, _ = hf_build.random_edgetam(tiny=True)
    monkeypatch.setenv("ROTO_CPU_RUNTIME", "torch")
    assert accelerate_edgetam(model).runtime == "torch"
    monkeypatch.setenv("ROTO_CPU_RUNTIME", "auto")
    auto = accelerate_edgetam(model)  # a 128 px model: the export would not pay
    assert auto.runtime == "torch" and "128 px" in auto.reason
    assert accelerate_edgetam(model, device="cuda").runtime == "torch"
    monkeypatch.setenv("ROTO_CPU_RUNTIME", "tensorrt")
    with pytest.raises(ModelError, match="ROTO_CPU_RUNTIME"):
        cpu_runtime.requested()
    if cpu_runtime.installed()["openvino"] is None:
        monkeypatch.setenv("ROTO_CPU_RUNTIME", "openvino")
        with pytest.raises(ModelError, match="cpu-runtime"):
            accelerate_edgetam(model)
