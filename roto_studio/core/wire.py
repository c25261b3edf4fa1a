"""What travels between the model server and its clients: masks, frames and prompts as bytes.

Pure numpy + OpenCV (no torch, no pickle). Every encoding here is lossless for what it carries:
- masks answered by the server: 16-bit grey PNG, quantised exactly as the project's mask store
  does (round(alpha * 65535)), so a client storing the decoded alpha writes the same file;
- masks sent to the server (prompts, trimaps, holes): 16-bit PNG when that is exact, else raw
  float32 compressed with zlib ("f32z");
- frames: RGB uint8 as PNG (fast compression level), named by the SHA-256 of their pixels.
- prompts (core.prompt.Prompt): {"points": [[x, y]], "labels": [0|1], "box"?: [x1, y1, x2, y2],
  "mask"?: an encoded mask} (prompt_body / prompt_from_body, the client's and the server's one form).
- masks in binary answers (what the client asks for; JSON + base64 PNG stays the default):
  the quantised uint16 pixels raw ("u16", loopback) or zlib-compressed ("u16z", networks), in
  messages of a 4-byte length, a JSON header and the blobs it lists (pack / read_message).
Decoders check the declared size before decoding, so a small file cannot claim a huge image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import zlib
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from roto_studio.core.errors import RotoError
from roto_studio.core.prompt import Prompt

MAX_SIDE = 16384
MAX_PIXELS = 134_217_728
_FAST_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
_FRAME_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1]


class WireError(RotoError):
    """Bytes that do not decode to what they claim (answered with 400 by the server)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str = "data") -> bytes:
    if not isinstance(text, str):
        raise WireError(f"{what} must be base64 text.")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise WireError(f"{what} is not valid base64.") from None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG header, without decoding the image."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise WireError("not a PNG image.")
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def _check_size(w: int, h: int, what: str, expect: tuple[int, int] | None = None) -> None:
    if w < 1 or h < 1 or w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise WireError(f"{what} is {w}x{h}; at most {MAX_SIDE} px a side and {MAX_PIXELS} pixels.")
    if expect is not None and (w, h) != tuple(expect):
        raise WireError(f"{what} is {w}x{h} but the frame is {expect[0]}x{expect[1]}.")


def _decode_png(data: bytes, what: str, expect: tuple[int, int] | None = None) -> np.ndarray:
    w, h = png_size(data)
    _check_size(w, h, what, expect)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.shape[1] != w or img.shape[0] != h:
        raise WireError(f"{what} is a damaged PNG.")
    return img


# ---------------------------------------------------------------- masks
def quantize(alpha: np.ndarray) -> np.ndarray:
    """float alpha 0..1 -> uint16, exactly as core.masks.MaskStore.set stores it."""
    a = np.clip(np.nan_to_num(np.asarray(alpha, np.float32), nan=0.0), 0.0, 1.0)
    return (a * 65535.0 + 0.5).astype(np.uint16)


def mask_png16(alpha: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", quantize(alpha), _FAST_PNG)
    if not ok:
        raise WireError("could not encode a mask.")
    return buf.tobytes()


def alpha_from_png16(data: bytes, expect: tuple[int, int] | None = None) -> np.ndarray:
    img = _decode_png(data, "the mask", expect)
    if img.ndim != 2 or img.dtype != np.uint16:
        raise WireError("a mask must be a 16-bit grey PNG.")
    result: np.ndarray = img.astype(np.float32) / np.float32(65535.0)
    return result


def encode_mask(alpha: np.ndarray) -> dict[str, Any]:
    """A mask to send: {"png16": b64} when exact, else {"f32z": b64, "shape": [h, w]}."""
    a = np.asarray(alpha)
    if a.dtype == np.bool_:
        a = a.astype(np.float32)
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise WireError(f"a mask must be 2-D, got shape {a.shape}.")
    q = quantize(a)
    if np.array_equal(q.astype(np.float32) / np.float32(65535.0), a):
        return {"png16": b64(mask_png16(a))}
    return {"f32z": b64(zlib.compress(a.tobytes(), 1)), "shape": [int(a.shape[0]), int(a.shape[1])]}


def decode_mask(obj: Any, expect: tuple[int, int] | None = None, what: str = "the mask") -> np.ndarray:
    """The inverse of encode_mask; expect = (width, height) when known."""
    if not isinstance(obj, dict):
        raise WireError(f"{what} must be an object with png16 or f32z.")
    if "png16" in obj:
        return alpha_from_png16(unb64(obj["png16"], what), expect)
    if "f32z" in obj:
        shape = obj.get("shape")
        if (not isinstance(shape, list) or len(shape) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)):
            raise WireError(f"{what}: f32z needs shape [height, width].")
        h, w = shape
        _check_size(w, h, what, expect)
        raw = _inflate(unb64(obj["f32z"], what), h * w * 4, what)
        result: np.ndarray = np.frombuffer(raw, np.float32).reshape(h, w).copy()
        return result
    raise WireError(f"{what} must have png16 or f32z.")


def _inflate(data: bytes, size: int, what: str) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, size + 1)
    except zlib.error:
        raise WireError(f"{what} is not valid zlib data.") from None
    if len(out) != size or d.unconsumed_tail:
        raise WireError(f"{what} does not hold {size} bytes.")
    return out


def gray8_png(mask: np.ndarray) -> bytes:
    """A trimap (0/128/255) or a hole (bool) as an 8-bit grey PNG."""
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        m = m.astype(np.uint8) * 255
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(m, np.uint8), _FAST_PNG)
    if not ok:
        raise WireError("could not encode an 8-bit mask.")
    return buf.tobytes()


def gray8_from_png(data: bytes, expect: tuple[int, int] | None = None, what: str = "the mask") -> np.ndarray:
    img = _decode_png(data, what, expect)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise WireError(f"{what} must be an 8-bit grey PNG.")
    return img


# ---------------------------------------------------------------- frames
def frame_hash(image: np.ndarray) -> str:
    """SHA-256 of an RGB uint8 frame's size and pixels: its name in the server's frame cache."""
    a = np.ascontiguousarray(image)
    h = hashlib.sha256(f"{a.shape[0]}x{a.shape[1]}x{a.shape[2] if a.ndim == 3 else 1}:{a.dtype.str}:".encode())
    h.update(a.data.cast("B"))
    return h.hexdigest()


def is_hash(text: object) -> bool:
    return isinstance(text, str) and len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def frame_png(image: np.ndarray) -> bytes:
    """RGB uint8 HxWx3 -> PNG bytes (stored as RGB order by converting to OpenCV's BGR)."""
    a = np.ascontiguousarray(image[..., :3])
    if a.dtype != np.uint8 or a.ndim != 3:
        raise WireError("a frame must be HxWx3 uint8 RGB.")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(a, cv2.COLOR_RGB2BGR), _FRAME_PNG)
    if not ok:
        raise WireError("could not encode a frame.")
    return buf.tobytes()


def frame_from_png(data: bytes) -> np.ndarray:
    img = _decode_png(data, "the frame")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise WireError("a frame must be an 8-bit RGB PNG.")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def rgb_png(image: np.ndarray) -> bytes:
    return frame_png(image)


# ---------------------------------------------------------------- float arrays (SAM 2 logits)
def encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a, dtype=np.float32)
    return {"f32z": b64(zlib.compress(a.tobytes(), 1)), "shape": [int(v) for v in a.shape]}


def decode_array(obj: Any, max_items: int = 4 * 2**20, what: str = "the array") -> np.ndarray:
    if not isinstance(obj, dict) or "f32z" not in obj:
        raise WireError(f"{what} must be an object with f32z and shape.")
    shape = obj.get("shape")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE for v in shape)):
        raise WireError(f"{what}: shape must be 1 to 4 positive sizes.")
    n = int(np.prod(shape))
    if n > max_items:
        raise WireError(f"{what} is too large ({n} values, at most {max_items}).")
    raw = _inflate(unb64(obj["f32z"], what), n * 4, what)
    out: np.ndarray = np.frombuffer(raw, np.float32).reshape(shape).copy()
    if not np.isfinite(out).all():
        raise WireError(f"{what} holds NaN or infinite values.")
    return out


# ---------------------------------------------------------------- binary messages (masks as raw bytes)
BINARY = "application/x-roto-binary"
MASK_CODECS = ("png16", "u16", "u16z")
MAX_HEADER = 1 << 20


def mask_blob(alpha: np.ndarray, codec: str) -> tuple[dict[str, Any], bytes]:
    """(meta, bytes) of a mask for a binary message: 'u16' raw, 'u16z' zlib (level 1), or 'png16'."""
    q = quantize(alpha)
    meta = {"codec": codec, "shape": [int(q.shape[0]), int(q.shape[1])]}
    if codec == "u16":
        return meta, q.astype("<u2", copy=False).tobytes()
    if codec == "u16z":
        return meta, zlib.compress(q.astype("<u2", copy=False).tobytes(), 1)
    return meta, mask_png16(alpha)


def alpha_from_blob(meta: dict[str, Any], data: bytes, expect: tuple[int, int] | None = None) -> np.ndarray:
    """The float alpha of a mask_blob (the same values alpha_from_png16 gives for that mask)."""
    codec = meta.get("codec") if isinstance(meta, dict) else None
    if codec == "png16":
        return alpha_from_png16(data, expect)
    shape = meta.get("shape") if isinstance(meta, dict) else None
    if codec not in ("u16", "u16z") or not isinstance(shape, list) or len(shape) != 2 \
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise WireError("a mask blob needs codec u16, u16z or png16 and shape [height, width].")
    h, w = shape
    _check_size(w, h, "the mask", expect)
    raw = _inflate(data, h * w * 2, "the mask") if codec == "u16z" else data
    if len(raw) != h * w * 2:
        raise WireError("the mask does not hold height x width 16-bit values.")
    result: np.ndarray = np.frombuffer(raw, "<u2").reshape(h, w).astype(np.float32) / np.float32(65535.0)
    return result


def pack(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    """One binary message: 4-byte big-endian header length, JSON header (with the blob sizes), blobs."""
    head = dict(header)
    head["blobs"] = [len(b) for b in blobs]
    text = json.dumps(head, separators=(",", ":")).encode()
    return b"".join([struct.pack(">I", len(text)), text, *blobs])


def read_message(read: Callable[[int], bytes]) -> tuple[dict[str, Any], list[bytes]] | None:
    """The next message from read(n) -> exactly n bytes (b'' at the end: None)."""
    first = read(4)
    if not first:
        return None
    if len(first) != 4:
        raise WireError("a binary message was cut short.")
    (n,) = struct.unpack(">I", first)
    if n > MAX_HEADER:
        raise WireError("a binary message header is too large.")
    try:
        header = json.loads(read(n))
    except ValueError:
        raise WireError("a binary message header is not JSON.") from None
    sizes = header.get("blobs", []) if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(isinstance(v, int) and 0 <= v <= 2**31 for v in sizes):
        raise WireError("a binary message header must list its blob sizes.")
    blobs = [read(v) for v in sizes]
    if any(len(b) != v for b, v in zip(blobs, sizes)):
        raise WireError("a binary message was cut short.")
    return header, blobs


def prompt_body(prompt: Prompt) -> dict[str, Any]:
    """A prompt as it travels to the server (clicks, labels, box, mask; no stored flags)."""
    body: dict[str, Any] = {"points": [[float(x), float(y)] for x, y, _ in prompt.clicks],
                  "labels": [label for _, _, label in prompt.clicks]}
    if prompt.box is not None:
        body["box"] = [float(v) for v in prompt.box]
    if prompt.mask is not None:
        body["mask"] = encode_mask(prompt.mask)
    return body


def prompt_from_body(points: Any, labels: Any, box: Any, mask: Any, size: tuple[int, int] | None, logits: bool = False) -> Prompt:
    """The Prompt a request carries (its fields already shape-checked); WireError when it asks
    nothing (and has no mask logits to refine) or the labels do not match the points."""
    if not (points or box or mask or logits):
        raise WireError("the request has no prompt: give points (with labels), a box or a mask.")
    if labels and len(labels) != len(points):
        raise WireError("labels must have one entry per point.")
    return Prompt(points=[(float(x), float(y)) for x, y in points],
                  labels=[int(v) for v in labels] or [1] * len(points),
                  box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
                  mask=decode_mask(mask, size) if mask else None)

