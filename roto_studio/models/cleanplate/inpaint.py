"""Spatial hole filling for clean plates: OpenCV inpainting, or a diffusers inpainting model, and
the choice between them (`make_inpainter`).

OpenCV needs nothing; the diffusers backend needs torch + diffusers and the weights of a registry
entry of kind 'inpaint' (`sd15-inpainting`, `sdxl-inpainting`) or a local diffusers folder.
No Qt; torch/diffusers are imported only when the diffusers backend is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.models.base import Inpainter

DEFAULT_MODEL = "sd15-inpainting"


class OpenCVInpainter(Inpainter):
    name = "opencv"
    consensus = True  # a smooth estimate: fills of one background from several frames may be averaged

    def __init__(self, radius: int = 5, method: str = "telea"):
        self.radius = int(radius)
        self.flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        hole = np.asarray(hole).astype(bool)
        if not hole.any():
            return image.copy()
        # inpaint only a crop around the hole (cv2.inpaint cost grows with the image)
        ys, xs = np.nonzero(hole)
        m = 4 * self.radius + 8
        y0, y1 = max(0, ys.min() - m), min(hole.shape[0], ys.max() + 1 + m)
        x0, x1 = max(0, xs.min() - m), min(hole.shape[1], xs.max() + 1 + m)
        out = image.copy()
        crop = cv2.inpaint(np.ascontiguousarray(image[y0:y1, x0:x1]),
                           hole[y0:y1, x0:x1].astype(np.uint8) * 255, self.radius, self.flag)
        out[y0:y1, x0:x1] = crop
        return out


def model_folder(name: str) -> Path | None:
    """The diffusers folder (model_index.json at its root) of registry entry NAME, when its files
    are present and pass their checks; None otherwise."""
    from roto_studio.models.weights import registry
    from roto_studio.models.weights import store as weights

    spec = registry.get(name)
    path = weights.find(spec.name)
    if path is None:
        return None
    root = Path(path)
    for _ in Path(spec.filename).parts:
        root = root.parent
    return root if (root / "model_index.json").is_file() else None


def find_inpaint_weights() -> Path | None:
    """Folder of the first installed learned-inpainting model (registry kind 'inpaint'), or None."""
    try:
        from roto_studio.models.weights import registry
    except ImportError:
        return None
    from roto_studio.models.weights import licences

    for spec in registry.by_kind("inpaint"):
        if not licences.auto_may_use(spec.name):
            continue
        try:
            folder = model_folder(spec.name)
        except Exception:  # noqa: BLE001 - treat a broken cache as missing
            folder = None
        if folder is not None:
            return folder
    return None


def _diffusers_installed() -> bool:
    try:
        import diffusers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def make_inpainter(backend: str = "auto", model: str | None = None, prompt: str = "", seed: int = 0,
                   device=None, steps: int = 25, notify: Callable[[str], None] | None = None) -> Inpainter:
    """auto: diffusers when installed with weights (of `model`, else of any inpainting entry),
    else OpenCV. `model` is a registry name or a diffusers folder."""
    if backend == "opencv":
        return OpenCVInpainter()
    if backend not in ("auto", "diffusers"):
        raise ModelError(f"unknown inpainting backend {backend!r}; use auto, diffusers or opencv.")
    folder = None
    if model and Path(model).expanduser().is_dir():
        folder = Path(model).expanduser()
    elif model:
        folder = model_folder(model)  # unknown names raise a ModelError listing the known ones
        if folder is None and backend == "diffusers":
            raise ModelError(f"the {model} weights are missing; run `roto-studio models download {model}` "
                             "(or point ROTO_WEIGHTS_OFFLINE at a folder holding them), or use --backend opencv.")
    else:
        folder = find_inpaint_weights()
    if folder is None or not _diffusers_installed():
        if backend == "diffusers":
            if folder is None:
                raise ModelError(f"learned inpainting needs inpainting weights; run `roto-studio models download "
                                 f"{DEFAULT_MODEL}` or use --backend opencv.")
            raise ModelError("learned inpainting needs torch and diffusers; `pip install diffusers` or use --backend opencv.")
        return OpenCVInpainter()
    from roto_studio.models.cleanplate.diffusion import DiffusionInpainter

    return DiffusionInpainter.from_folder(folder, device=device, prompt=prompt, seed=seed, steps=steps, notify=notify)
