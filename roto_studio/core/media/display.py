"""Pixel conversions for display: native frames (8/16-bit, half/float scene-linear) to 8-bit sRGB,
and the FFmpeg-style pixel-format names reported for image frames."""

from __future__ import annotations

import numpy as np

def _srgb_lut() -> np.ndarray:
    """uint8 sRGB code for every float16 bit pattern (scene-linear -> display)."""
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    halves = np.nan_to_num(halves, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    encoded = np.where(halves <= 0.0031308, halves * 12.92, 1.055 * np.power(halves, 1 / 2.4) - 0.055)
    return np.round(encoded * 255).astype(np.uint8)


_SRGB_LUT: np.ndarray | None = None


def to_display_uint8(image: np.ndarray) -> np.ndarray:
    """Native frame (uint8/uint16/float, 3 or 4 channels) -> HxWx3 uint8 RGB."""
    global _SRGB_LUT
    rgb = image[..., :3]
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if rgb.dtype == np.uint16:
        return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if _SRGB_LUT is None:
        _SRGB_LUT = _srgb_lut()
    half = np.ascontiguousarray(rgb, dtype=np.float16)
    return _SRGB_LUT[half.view(np.uint16)]


def pixel_format_name(channels: int, kind: str) -> str:
    """Names in FFmpeg's style for image frames. kind: u8, u16, f16, f32, u32."""
    table = {
        "u8": {1: "gray", 2: "ya8", 3: "rgb24", 4: "rgba"},
        "u16": {1: "gray16le", 2: "ya16le", 3: "rgb48le", 4: "rgba64le"},
        "f16": {1: "grayf16le", 2: "yaf16le", 3: "rgbf16le", 4: "rgbaf16le"},
        "f32": {1: "grayf32le", 2: "yaf32le", 3: "rgbf32le", 4: "rgbaf32le"},
        "u32": {1: "gray32", 2: "ya32", 3: "rgb96", 4: "rgba128"},
    }
    return table[kind].get(channels, f"{kind}x{channels}")


BITS = {"u8": 8, "u16": 16, "f16": 16, "f32": 32, "u32": 32}

