"""Learned inpainting through diffusers: Stable Diffusion 1.5 / SDXL inpainting pipelines.

`DiffusionInpainter.fill(image, hole)` dilates and feathers the hole, hands the model a crop
around it at the model's native size (512 for SD 1.5, 1024 for SDXL), and blends the result back
at full resolution: pixels outside the dilated, feathered hole are returned bit for bit. The noise
comes from a CPU generator seeded with `seed`, so a re-render is identical on any device. A GPU
out-of-memory retries with tiled VAE decoding and sliced attention, then on the CPU, and says so
through `notify`.

No Qt; torch and diffusers are imported only when a pipeline is built or run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.models.base import Inpainter

DEFAULT_PROMPT = "clean background"
NEGATIVE_PROMPT = "person, object, text, watermark, logo, frame, border, blurry"
NATIVE_SIZE = {"sd15": 512, "sdxl": 1024}


def _grown(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask.copy()
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def hole_weight(hole: np.ndarray, dilate: int, feather: int) -> np.ndarray:
    """Float32 blend weight: 1 on the hole grown by `dilate` px, falling towards 0 over the next
    `feather` px, and exactly 0 outside the hole grown by dilate + feather (elliptical kernels),
    so the rest of the plate stays untouched."""
    hole = np.asarray(hole).astype(bool)
    core = _grown(hole, dilate)
    if feather <= 0 or not hole.any():
        return core.astype(np.float32)
    dist = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, 5)  # 0 on the core
    w = np.clip(1.0 - dist / float(feather + 1), 0.0, 1.0).astype(np.float32)
    w[~_grown(hole, dilate + feather)] = 0.0
    w[core] = 1.0
    return w


def crop_box(hole: np.ndarray, native: int, context: float = 2.0) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): a window around the hole, about `context` times its size and at least
    the model's native size, inside the image."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    by0, by1, bx0, bx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    want = max(native, int(context * max(by1 - by0, bx1 - bx0)) + 32)
    ch, cw = min(h, max(want, by1 - by0)), min(w, max(want, bx1 - bx0))
    cy, cx = (by0 + by1) // 2, (bx0 + bx1) // 2
    y0 = int(np.clip(cy - ch // 2, 0, h - ch))
    x0 = int(np.clip(cx - cw // 2, 0, w - cw))
    return y0, y0 + ch, x0, x0 + cw


def model_size(ch: int, cw: int, native: int, multiple: int = 8) -> tuple[int, int]:
    """(height, width) the model works at: the longer side at `native`, both a multiple of 8."""
    s = native / max(ch, cw)
    th = max(multiple, int(round(ch * s / multiple)) * multiple)
    tw = max(multiple, int(round(cw * s / multiple)) * multiple)
    return th, tw


def pipeline_kind(pipe) -> str:
    name = type(pipe).__name__.lower()
    return "sdxl" if "xl" in name else "sd15"


def native_size(pipe) -> int:
    """The size the model was trained at: the UNet's latent size times the VAE's scale (512 for
    SD 1.5, 1024 for SDXL), else the usual size for its kind."""
    try:
        return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    except (AttributeError, TypeError, ValueError):
        return NATIVE_SIZE[pipeline_kind(pipe)]


def choose_dtype(device_kind: str) -> str:
    """fp16 on CUDA; fp32 on Apple GPUs; bf16 on CPUs with fast bf16 (AVX512-BF16/AMX), else fp32."""
    if device_kind == "cuda":
        return "float16"
    if device_kind == "cpu":
        try:
            import torch

            if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
                return "bfloat16"
        except Exception:  # noqa: BLE001 - older torch: stay on fp32
            pass
    return "float32"


def load_pipeline(folder, device: str = "cpu", dtype: str | None = None):
    """An inpainting pipeline from a diffusers folder (model_index.json at its root)."""
    try:
        import torch
        from diffusers import AutoPipelineForInpainting
    except ImportError:
        raise ModelError("learned inpainting needs torch and diffusers; `pip install diffusers` "
                         "or use --backend opencv.") from None
    folder = Path(folder)
    index = folder / "model_index.json"
    try:
        klass = json.loads(index.read_text()).get("_class_name", "")
    except (OSError, ValueError):
        raise ModelError(f"{folder} is not a diffusers inpainting model (no readable model_index.json); "
                         "download it again with `roto-studio models download sd15-inpainting`.") from None
    dtype = dtype or choose_dtype(device.split(":")[0])
    kwargs = {"dtype": getattr(torch, dtype), "local_files_only": True}
    if any(folder.glob("unet/*.fp16.safetensors")) and not any(folder.glob("unet/*[!6].safetensors")):
        kwargs["variant"] = "fp16"  # only the pinned fp16 files are present: load them (cast to dtype)
    if "XL" not in klass:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        pipe = AutoPipelineForInpainting.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the inpainting model in {folder} cannot be loaded ({str(exc).splitlines()[0][:160]}); "
                         "download it again or use --backend opencv.") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class DiffusionInpainter(Inpainter):
    """Hole filling with a diffusers inpainting pipeline (SD 1.5 or SDXL inpainting)."""

    name = "diffusers"

    def __init__(self, pipe, prompt: str = "", seed: int = 0, steps: int = 25, guidance: float = 7.5,
                 negative_prompt: str | None = NEGATIVE_PROMPT, dilate: int = 6, feather: int = 8,
                 native: int | None = None, notify: Callable[[str], None] | None = None):
        self.pipe = pipe
        self.prompt = prompt.strip() or DEFAULT_PROMPT
        self.seed, self.steps, self.guidance = int(seed), int(steps), float(guidance)
        self.negative_prompt = negative_prompt or None
        self.dilate, self.feather = int(dilate), int(feather)
        self.native = int(native or native_size(pipe))
        self.notify = notify or (lambda message: None)
        self._tiled = False

    @classmethod
    def from_folder(cls, folder, device=None, dtype: str | None = None, **kwargs) -> "DiffusionInpainter":
        from roto_studio.models import device as dev

        choice = dev.choose_device(device) if not hasattr(device, "device") else device
        return cls(load_pipeline(folder, choice.device, dtype), **kwargs)

    @property
    def device(self) -> str:
        return str(self.pipe.device)

    def variant(self, prompt: str = "", seed: int = 0) -> "DiffusionInpainter":
        """This inpainter (the same loaded pipeline) with another prompt and seed."""
        import copy

        other = copy.copy(self)
        other.prompt = prompt.strip() or DEFAULT_PROMPT
        other.seed = int(seed)
        return other

    def generate(self, crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The pipeline's image for an RGB uint8 crop and its bool mask, at the crop's size.

        The crop is resized to the model's size (longer side native, multiples of 8) and back."""
        from PIL import Image

        ch, cw = mask.shape
        th, tw = model_size(ch, cw, self.native)
        image = Image.fromarray(np.ascontiguousarray(crop))
        mask_image = Image.fromarray(mask.astype(np.uint8) * 255)
        if (th, tw) != (ch, cw):
            image = image.resize((tw, th), Image.Resampling.LANCZOS)
            mask_image = mask_image.resize((tw, th), Image.Resampling.BILINEAR)
            mask_image = mask_image.point(lambda v: 255 if v > 0 else 0)  # never shrink the hole
        result = self._run(image, mask_image, th, tw)
        if result.size != (cw, ch):
            result = result.resize((cw, ch), Image.Resampling.LANCZOS)
        return np.asarray(result.convert("RGB"))

    def _call(self, image, mask_image, th: int, tw: int):
        import torch

        return self.pipe(prompt=self.prompt, negative_prompt=self.negative_prompt, image=image,
                         mask_image=mask_image, height=th, width=tw, num_inference_steps=self.steps,
                         guidance_scale=self.guidance,
                         generator=torch.Generator("cpu").manual_seed(self.seed)).images[0]

    def _run(self, image, mask_image, th: int, tw: int):
        """Run once; on a GPU out-of-memory retry tiled, then on the CPU (saying so)."""
        from roto_studio.models import device as dev

        while True:
            try:
                return self._call(image, mask_image, th, tw)
            except Exception as exc:  # noqa: BLE001 - only device OOM is handled here
                if not dev.is_out_of_memory(exc):
                    raise
                dev.free_memory()
                if not self._tiled:
                    self._tiled = True
                    self.notify(f"out of memory on {self.device}: retrying with tiled VAE and sliced attention.")
                    vae = getattr(self.pipe, "vae", None)
                    if vae is not None and hasattr(vae, "enable_tiling"):
                        vae.enable_tiling()
                    if hasattr(self.pipe, "enable_attention_slicing"):
                        self.pipe.enable_attention_slicing()
                    continue
                if self.device.startswith("cpu"):
                    raise ModelError("out of memory even on the CPU; use a smaller range or --backend opencv.") from None
                import torch

                self.notify(f"still out of memory on {self.device}: continuing on the CPU (slower).")
                self.pipe = self.pipe.to("cpu", torch.float32)
                dev.free_memory()

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        hole = np.asarray(hole).astype(bool)
        if not hole.any():
            return image.copy()
        weight = hole_weight(hole, self.dilate, self.feather)
        touched = weight > 0
        y0, y1, x0, x1 = crop_box(touched, self.native)
        crop = image[y0:y1, x0:x1]
        generated = self.generate(crop, touched[y0:y1, x0:x1])
        return blend(image, generated, weight, (y0, y1, x0, x1))


def blend(image: np.ndarray, generated: np.ndarray, weight: np.ndarray, box) -> np.ndarray:
    """image with `generated` (the crop `box`) blended in by `weight`; untouched where weight is 0."""
    y0, y1, x0, x1 = box
    out = image.copy()
    w = weight[y0:y1, x0:x1]
    sel = w > 0
    src = image[y0:y1, x0:x1][sel].astype(np.float32)
    mixed = src + (generated[sel].astype(np.float32) - src) * w[sel][:, None]
    out[y0:y1, x0:x1][sel] = np.clip(np.rint(mixed), 0, 255).astype(image.dtype)
    return out
