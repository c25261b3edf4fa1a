"""The diffusers inpainting backend on a tiny random-weight Stable Diffusion inpainting pipeline:
same pixels as the pipeline called directly, plate untouched outside the dilated hole, seeded."""

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from roto_studio.models.cleanplate.diffusion import DEFAULT_PROMPT, NEGATIVE_PROMPT, DiffusionInpainter  # noqa: E402
from tests.models.diffusers_fixtures import tiny_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return tiny_pipeline(tmp_path_factory.mktemp("tiny_sd"))


def texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8, w // 8, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def grown(mask, px):
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def test_equals_the_diffusers_pipeline_called_directly(pipe):
    from PIL import Image

    image = texture(64, 64)
    hole = np.zeros((64, 64), bool)
    hole[22:36, 18:40] = True
    ours = DiffusionInpainter(pipe, prompt="", seed=7, steps=2, native=64, dilate=2, feather=3)
    out = ours.fill(image, hole)
    # what diffusers' docs show: the pipeline on a PIL image and mask, a seeded generator
    touched = grown(hole, 5)
    upstream = pipe(prompt=DEFAULT_PROMPT, negative_prompt=NEGATIVE_PROMPT, image=Image.fromarray(image),
                    mask_image=Image.fromarray(touched.astype(np.uint8) * 255), height=64, width=64,
                    num_inference_steps=2, guidance_scale=7.5,
                    generator=torch.Generator("cpu").manual_seed(7)).images[0]
    upstream = np.asarray(upstream)
    core = grown(hole, 2)
    assert (out[core] == upstream[core]).all()  # the dilated hole is the model's pixels exactly
    assert (out[~touched] == image[~touched]).all()  # the plate beyond the feather: the input
    band = touched & ~core  # the feather: between the two
    lo, hi = np.minimum(image[band], upstream[band]), np.maximum(image[band], upstream[band])
    assert ((out[band] >= lo) & (out[band] <= hi)).all()
    assert (out[band] != image[band]).any()


def test_plate_outside_the_dilated_hole_is_identical_and_seed_repeats(pipe):
    image = texture(96, 160, seed=3)
    hole = np.zeros((96, 160), bool)
    cv2.circle(hole.view(np.uint8), (110, 50), 12, 1, -1)
    inp = DiffusionInpainter(pipe, prompt="grass", seed=11, steps=2, native=64, dilate=3, feather=4)
    a = inp.fill(image, hole)
    assert a.shape == image.shape and a.dtype == np.uint8
    outside = ~grown(hole, 3 + 4)
    assert (a[outside] == image[outside]).all()
    assert (a[hole] != image[hole]).any()
    assert (inp.fill(image, hole) == a).all()  # same seed: the same pixels
    inp.seed = 12
    assert (inp.fill(image, hole) != a).any()


def test_out_of_memory_retries_tiled_then_gives_a_clear_error(pipe):
    from roto_studio.core.errors import ModelError

    class RunsOutOnce:  # the real pipeline, raising torch's OOM on its first call(s)
        def __init__(self, pipe, fails):
            self.pipe, self.fails, self.device, self.vae = pipe, fails, pipe.device, pipe.vae

        def __call__(self, **kw):
            if self.fails:
                self.fails -= 1
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.pipe(**kw)

    image = texture(64, 64)
    hole = np.zeros((64, 64), bool)
    hole[20:30, 20:30] = True
    said = []
    wrapped = RunsOutOnce(pipe, 1)
    out = DiffusionInpainter(wrapped, seed=1, steps=1, native=64, notify=said.append).fill(image, hole)
    assert "tiled" in said[0] and (out[hole] != image[hole]).any()
    assert pipe.vae.use_tiling
    pipe.vae.disable_tiling()
    with pytest.raises(ModelError, match="out of memory"):
        DiffusionInpainter(RunsOutOnce(pipe, 2), seed=1, steps=1, native=64).fill(image, hole)
