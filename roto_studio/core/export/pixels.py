"""Pixel conversions for export: alpha to 8/16-bit, plates to float / 16 / 8-bit (float through the
sRGB curve for display files), straight or premultiplied cut-outs, PNG encoding and EXR channels."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roto_studio.core.errors import ExportError
from roto_studio.core.masks import to_alpha

def clean_alpha(alpha: np.ndarray) -> np.ndarray:
    """float32 0..1, NaN -> 0 (a new array; the input is never changed)."""
    return to_alpha(alpha)


def _clean_or_same(alpha: np.ndarray) -> np.ndarray:
    """Like clean_alpha, but a float32 2-D alpha already inside 0..1 (no NaN) is returned as is:
    two quick reductions instead of a clipped copy. Only for read-only use."""
    a = np.asarray(alpha)
    if a.dtype == np.float32 and a.ndim == 2 and a.size:
        lo, hi = float(a.min()), float(a.max())  # NaN anywhere makes both NaN: fails the test
        if lo >= 0.0 and hi <= 1.0:
            return a
    return clean_alpha(a)


def _scaled(alpha: np.ndarray, scale: float, dtype: npt.DTypeLike) -> np.ndarray:
    """alpha * scale rounded to an integer type, clamped explicitly first (NaN -> 0, below 0 -> 0,
    above 1 -> 1) so the result never depends on how a library saturates NaN (OpenCV 5 turns
    NaN into the type's maximum, older releases into 0)."""
    a = _clean_or_same(alpha)
    out = np.multiply(a, np.float32(scale), dtype=np.float32)
    np.rint(out, out=out)
    scaled: np.ndarray = out.astype(dtype)
    return scaled


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    return _scaled(alpha, 255.0, np.uint8)


def alpha_to_uint16(alpha: np.ndarray) -> np.ndarray:
    return _scaled(alpha, 65535.0, np.uint16)


def _rgb3(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def plate_to_float(image: np.ndarray) -> np.ndarray:
    """RGB in float32 (uint8 /255, uint16 /65535, float kept as is: HDR stays HDR)."""
    image = _rgb3(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Scene-linear float -> sRGB-encoded float 0..1 (the display curve)."""
    x = np.clip(np.nan_to_num(np.asarray(x, np.float32)), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def plate_to_uint16(image: np.ndarray) -> np.ndarray:
    """RGB in uint16 keeping the source precision: 8-bit scaled by 257, 10/12/16-bit kept, float
    (scene-linear EXR) through the sRGB curve as the viewer shows it (PNG and ProRes are display files)."""
    image = _rgb3(image)
    if image.dtype == np.uint16:
        return image
    if image.dtype == np.uint8:
        return image.astype(np.uint16) * 257
    return np.rint(linear_to_srgb(image) * 65535.0).astype(np.uint16)


def plate_to_uint8(image: np.ndarray) -> np.ndarray:
    image = _rgb3(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        out: np.ndarray = np.rint(image.astype(np.float32) / 257.0).astype(np.uint8)
        return out
    return np.rint(linear_to_srgb(image) * 255.0).astype(np.uint8)


def cutout(rgb: np.ndarray, alpha: np.ndarray, mode: str = "straight") -> np.ndarray:
    """HxWx4 RGBA in rgb's dtype (uint8, uint16 or float32); premultiplied scales colour by alpha."""
    rgb = _rgb3(rgb)
    a = clean_alpha(alpha)
    if rgb.dtype == np.uint8:
        out_a = np.rint(a * 255.0).astype(np.uint8)
    elif rgb.dtype == np.uint16:
        out_a = np.rint(a * 65535.0).astype(np.uint16)
    else:
        rgb = rgb.astype(np.float32)
        out_a = a
    if mode == "premultiplied":
        if rgb.dtype == np.float32:
            rgb = rgb * a[:, :, None]
        else:
            rgb = np.rint(rgb.astype(np.float32) * a[:, :, None]).astype(rgb.dtype)
    elif mode != "straight":
        raise ExportError(f"unknown cut-out mode '{mode}'; use straight or premultiplied.")
    return np.dstack([rgb, out_a])


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a grey (HxW), RGB or RGBA uint8/uint16 image (RGB order in, BGR for cv2)."""
    import cv2

    if image.dtype not in (np.uint8, np.uint16):
        raise ExportError(f"PNG needs 8 or 16-bit pixels, got {image.dtype}.")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ExportError("OpenCV could not encode a PNG image.")
    return buf.tobytes()


def exr_channels(alphas: dict[str, np.ndarray], rgb: np.ndarray | None = None, mode: str = "straight",
                 layers: bool | None = None) -> dict[str, np.ndarray]:
    """Channels for one EXR file.

    One alpha and layers falsy -> `A` (plus R, G, B for a cut-out). Several alphas -> layers
    `<name>.A`; with a cut-out, R, G, B, A also hold the plate and the union of the alphas.
    A clean float32 alpha is used as is (not copied): treat the result as read-only.
    """
    if layers is None:
        layers = len(alphas) > 1
    out: dict[str, np.ndarray] = {}
    cleaned = {name: _clean_or_same(a) for name, a in alphas.items()}
    if layers:
        for name, a in cleaned.items():
            out[f"{name}.A"] = a
        main: np.ndarray | None = np.maximum.reduce(list(cleaned.values())) if cleaned else None
    else:
        (main,) = cleaned.values()
    if rgb is not None:
        if main is None:
            raise ExportError("an EXR cut-out needs at least one alpha (an object with masks).")
        colour = plate_to_float(rgb)
        if mode == "premultiplied":
            colour = colour * main[:, :, None]
        out["R"], out["G"], out["B"] = colour[:, :, 0], colour[:, :, 1], colour[:, :, 2]
        out["A"] = main
    elif not layers and main is not None:
        out["A"] = main
    return out

