"""ViTMatte (transformers VitMatteForImageMatting + VitMatteImageProcessor) behind `Matter`.

Only the unknown band is processed: the frame is cropped to the band (plus context), then either
split into overlapping tiles (mode 'tiles', default: full resolution, tiles without band skipped)
or scaled down to a working size (mode 'resize') and the alpha scaled back up and written inside
the unknown band only. Both keep memory bounded at 4K. A CUDA out-of-memory halves the tile and
retries before giving up with a DeviceOutOfMemory.

torch / transformers are imported inside functions only.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from roto_studio.core.errors import ModelError
from roto_studio.core.trimap import FOREGROUND, UNKNOWN, normalize_trimap, unknown_bbox
from roto_studio.models.base import Matter
from roto_studio.models.matting.classical import solve_in_tiles

WEIGHT_NAMES = ("vitmatte-small", "vitmatte-base")


def _device_choice(device):
    from roto_studio.models import device as dev

    if device is None:
        return dev.choose_device()
    if isinstance(device, str):
        return dev.choose_device(device)
    return device


class ViTMatteMatter(Matter):
    name = "vitmatte"

    def __init__(self, model, processor=None, device=None, mode: str = "tiles", tile: int = 1024,
                 overlap: int = 128, context: int = 32, working_size: int = 1024):
        if mode not in ("tiles", "resize"):
            raise ModelError(f"unknown ViTMatte mode {mode!r}; use 'tiles' or 'resize'.")
        from transformers import VitMatteImageProcessor

        self.device = _device_choice(device)
        self.model = model.to(self.device.device).eval()
        self.processor = processor or VitMatteImageProcessor()
        self.mode = mode
        self.tile, self.overlap, self.context = int(tile), int(overlap), int(context)
        self.working_size = int(working_size)

    # -- construction
    @classmethod
    def from_pretrained(cls, path, device=None, **kwargs) -> "ViTMatteMatter":
        """From a Hugging Face folder (config.json, model.safetensors, preprocessor_config.json)
        or the path of its weights file."""
        from transformers import VitMatteForImageMatting, VitMatteImageProcessor

        folder = Path(path)
        if folder.is_file():
            folder = folder.parent
        if not (folder / "config.json").is_file():
            raise ModelError(f"no ViTMatte config.json in {folder}; download the model again "
                             f"with `roto-studio models download {_model_name(folder)}`.")
        try:
            model = VitMatteForImageMatting.from_pretrained(str(folder))
            try:
                processor = VitMatteImageProcessor.from_pretrained(str(folder))
            except (OSError, ValueError):
                processor = VitMatteImageProcessor()
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"the ViTMatte weights in {folder} cannot be loaded ({_first_line(exc)}); "
                             f"run `roto-studio models download {_model_name(folder)} --force`.") from None
        return cls(model, processor, device=device, **kwargs)

    @staticmethod
    def tiny_config(hidden: int = 32, layers: int = 2):
        """A very small ViTMatte config (random weights, for tests and benchmarks of the pipeline)."""
        from transformers import VitDetConfig, VitMatteConfig

        backbone = VitDetConfig(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, mlp_ratio=2,
            image_size=64, pretrain_image_size=64, patch_size=16, num_channels=4, use_relative_position_embeddings=True,
            # the dataclass signature lacks out_features; its __post_init__ takes it from **kwargs
            out_features=[f"stage{layers}"],  # type: ignore[call-arg]
            window_block_indices=list(range(layers - 1)), residual_block_indices=[], window_size=4)
        return VitMatteConfig(backbone_config=backbone, hidden_size=hidden,
                              convstream_hidden_sizes=[8, 16, hidden],
                              fusion_hidden_sizes=[hidden, 16, 8, 8])

    @classmethod
    def from_config(cls, config=None, seed: int = 0, device="cpu", **kwargs) -> "ViTMatteMatter":
        """Random (seeded) weights from a VitMatteConfig; None = tiny_config()."""
        import torch
        from transformers import VitMatteForImageMatting

        config = config or cls.tiny_config()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = VitMatteForImageMatting(config)
        return cls(model, device=device, **kwargs)

    # -- inference
    def _run(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """One crop through the processor and the model: alpha at the crop's size."""
        from roto_studio.models import device as dev

        h, w = trimap.shape
        # copies: media frames may be read-only views, which torch warns about
        inputs = self.processor(images=image.copy(), trimaps=trimap.copy(), return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device.device)
        with dev.inference_context(self.device):
            alphas = self.model(pixel_values=pixel_values).alphas
        out = alphas[0, 0, :h, :w].float().cpu().numpy()
        del alphas, pixel_values
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def _refine_resized(self, image: np.ndarray, tri: np.ndarray) -> np.ndarray:
        alpha = (tri == FOREGROUND).astype(np.float32)
        box = unknown_bbox(tri, margin=self.context)
        if box is None:
            return alpha
        y0, y1, x0, x1 = box
        img_c, tri_c = image[y0:y1, x0:x1], tri[y0:y1, x0:x1]
        ch, cw = tri_c.shape
        scale = min(1.0, self.working_size / max(ch, cw))
        if scale < 1.0:
            sw, sh = max(1, round(cw * scale)), max(1, round(ch * scale))
            small_img = cv2.resize(img_c, (sw, sh), interpolation=cv2.INTER_AREA)
            small_tri = normalize_trimap(cv2.resize(tri_c, (sw, sh), interpolation=cv2.INTER_NEAREST))
            # the band must stay unknown after scaling: widen it by what nearest sampling drops
            band = cv2.resize((tri_c == UNKNOWN).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0
            small_tri[band] = UNKNOWN
            a_small = self._run(small_img, small_tri)
            a = cv2.resize(a_small, (cw, ch), interpolation=cv2.INTER_LINEAR)
        else:
            a = self._run(img_c, tri_c)
        unknown = tri_c == UNKNOWN
        region = alpha[y0:y1, x0:x1]
        region[unknown] = np.clip(a[unknown], 0.0, 1.0)
        return alpha

    def refine(self, image: np.ndarray, trimap: np.ndarray, progress=None) -> np.ndarray:
        from roto_studio.models import device as dev

        image = np.ascontiguousarray(image[..., :3])
        if image.dtype != np.uint8:
            from roto_studio.models.matting.classical import to_uint8

            image = to_uint8(image)
        tri = normalize_trimap(trimap)
        if tri.shape != image.shape[:2]:
            raise ModelError(f"the trimap is {tri.shape[1]}x{tri.shape[0]} but the image is "
                             f"{image.shape[1]}x{image.shape[0]}; make the trimap from this frame's mask.")
        tile, working = self.tile, self.working_size
        while True:
            try:
                if self.mode == "resize":
                    return self._refine_resized(image, tri)
                return solve_in_tiles(image, tri, self._run, self.tile, min(self.overlap, self.tile // 4),
                                      self.context, progress)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not dev.is_out_of_memory(exc):
                    raise
                dev.free_memory(self.device.device)
                if self.tile <= 256 and self.working_size <= 256:
                    self.tile, self.working_size = tile, working
                    raise dev.out_of_memory_error(exc, self.device.device) from None
                self.tile, self.working_size = max(256, self.tile // 2), max(256, self.working_size // 2)


def _model_name(folder: Path) -> str:
    return folder.name if folder.name in WEIGHT_NAMES else "vitmatte-small"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def find_weights(names=WEIGHT_NAMES) -> tuple[str, Path] | None:
    """(name, main file) of the first usable ViTMatte model downloaded (checked), or None."""
    from roto_studio.models.weights import store as weights

    name, path, _ = weights.pick(names)
    return (name, path) if name is not None and path is not None else None  # pick sets both or neither


def load(name: str | None = None, device=None, **kwargs) -> ViTMatteMatter:
    """ViTMatte from its downloaded folder (name None = small, else base); a ModelError saying what
    is wrong with which file when it cannot be used."""
    from roto_studio.models.weights import store as weights

    found, path, why = weights.pick((name,) if name else WEIGHT_NAMES, auto=not name)
    if path is None:
        raise ModelError(f"{why.rstrip('.')} (or use --backend classical).")
    return ViTMatteMatter.from_pretrained(path, device=device, **kwargs)


def why_not() -> str | None:
    """Why `auto` matting cannot use ViTMatte (the weights' state, naming the file and the fix),
    or None when it can."""
    from roto_studio.models.weights import store as weights

    _, path, why = weights.pick(WEIGHT_NAMES)
    if path is None:
        return why
    try:
        import transformers  # noqa: F401
    except ImportError:
        return "ViTMatte needs the transformers package; pip install transformers."
    return None


def available_backends() -> list[str]:
    """What the matting menu offers: 'vitmatte' only when weights are installed; 'classical' always."""
    out = []
    if find_weights() is not None:
        try:
            import transformers  # noqa: F401
            out.append("vitmatte")
        except ImportError:
            pass
    out.append("classical")
    return out


def make_matter(backend: str = "auto", device=None) -> Matter:
    """auto: ViTMatte when its weights (and transformers) are present, else classical."""
    from roto_studio.models.matting.classical import ClassicalMatter

    if backend == "classical":
        return ClassicalMatter()
    if backend == "vitmatte":
        return load(device=device)
    if backend != "auto":
        raise ModelError(f"unknown matting backend {backend!r}; use auto, vitmatte or classical.")
    if "vitmatte" in available_backends():
        return load(device=device)
    return ClassicalMatter()
