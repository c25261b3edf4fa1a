"""Cryptomatte encoding (Psyop's Cryptomatte specification): the objects' soft mattes as ranked
ID/coverage pairs in a `CryptoObject` layer of an EXR, with the header metadata and manifest.

Each object's ID is the MurmurHash3_32 (seed 0) of its name, turned into a float32 by copying
the bits with the exponent kept inside 1..254 (so no ID is a denormal, an infinity or a NaN).
Per pixel the objects are ranked by coverage, highest first; rank pairs go two to a layer:
`CryptoObject00.r` ID rank 0, `.g` its coverage, `.b` ID rank 1, `.a` its coverage, then
`CryptoObject01` and so on. A pixel no object covers holds ID 0 and coverage 0. The coverage is
the object's own alpha, so a decoder gives back each matte as exported, soft edges and overlaps
included. Every Crypto channel is 32-bit float (IDs do not survive half precision).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import json
import struct

import numpy as np

from roto_studio.core.errors import ExportError

LAYER = "CryptoObject"
HASH = "MurmurHash3_32"
CONVERSION = "uint32_to_float32"


def _mmh3() -> Any:
    try:
        import mmh3
    except ImportError:
        raise ExportError("Cryptomatte export needs the mmh3 package (the optional extra `pipeline`): "
                          "pip install 'roto-studio[pipeline]'.") from None
    return mmh3


def name_hash(name: str) -> int:
    """MurmurHash3_32 (x86, seed 0) of the UTF-8 name, unsigned."""
    h: int = _mmh3().hash(str(name).encode("utf-8"), 0, signed=False)
    return h


def id_bits(name: str) -> int:
    """The float32 bit pattern of the name's ID: the hash with its exponent kept inside 1..254."""
    h = name_hash(name)
    exponent = (h >> 23) & 0xFF
    if exponent == 0 or exponent == 255:
        h ^= 1 << 23
    return h


def id_value(name: str) -> float:
    value: float = struct.unpack("<f", struct.pack("<I", id_bits(name)))[0]
    return value


def metadata_key(layer: str = LAYER) -> str:
    """The 7-character key of the layer's metadata: the start of the hash of its name."""
    return f"{name_hash(layer):08x}"[:7]


def manifest(names: Iterable[str]) -> dict[str, str]:
    """{name: ID as 8 hex digits of its float32 bits}."""
    return {str(n): f"{id_bits(n):08x}" for n in names}


def header_attributes(names: Iterable[str], layer: str = LAYER) -> dict[str, str]:
    """The `cryptomatte/<key>/...` header attributes the specification requires, with the manifest."""
    key = metadata_key(layer)
    return {
        f"cryptomatte/{key}/name": layer,
        f"cryptomatte/{key}/hash": HASH,
        f"cryptomatte/{key}/conversion": CONVERSION,
        f"cryptomatte/{key}/manifest": json.dumps(manifest(names), separators=(",", ":"), ensure_ascii=False),
    }


def levels(count: int) -> int:
    """Ranks stored for `count` objects: every object can be ranked, two ranks to a layer."""
    return 2 * max(1, (count + 1) // 2)


def channels(names: Sequence[str], alphas: Sequence[np.ndarray], layer: str = LAYER) -> dict[str, np.ndarray]:
    """{channel: HxW float32} of the Cryptomatte layers for the objects' mattes (0..1, one per name)."""
    names = list(names)
    if not names or len(names) != len(alphas):
        raise ExportError("a Cryptomatte needs at least one object, each with its matte.")
    if len(set(names)) != len(names):
        raise ExportError("two objects have the same name, so their Cryptomatte IDs would be the same; "
                          "rename one.")
    stack = np.stack([np.nan_to_num(np.clip(np.asarray(a, np.float32), 0.0, 1.0), nan=0.0) for a in alphas])
    ids = np.array([id_value(n) for n in names], np.float32)
    order = np.argsort(-stack, axis=0, kind="stable")  # per pixel, highest coverage first
    coverage = np.take_along_axis(stack, order, axis=0)
    ranked = ids[order]
    ranked[coverage <= 0] = 0.0
    n_levels = levels(len(names))
    h, w = stack.shape[1:]
    zero = np.zeros((h, w), np.float32)
    out = {}
    for rank in range(n_levels):
        part = f"{layer}{rank // 2:02d}"
        id_ch, cov_ch = ("r", "g") if rank % 2 == 0 else ("b", "a")
        if rank < len(names):
            out[f"{part}.{id_ch}"] = np.ascontiguousarray(ranked[rank])
            out[f"{part}.{cov_ch}"] = np.ascontiguousarray(coverage[rank])
        else:
            out[f"{part}.{id_ch}"] = zero
            out[f"{part}.{cov_ch}"] = zero
    return out



def write_cryptomatte(path: Path, group: Any, alphas: Sequence[np.ndarray], options: Any, threads: int = 1, attributes: dict[str, Any] | None = None) -> None:
    """One frame's Cryptomatte EXR for the objects of `group` (an export plan's group), with each
    object's `<layer>.A` beside it when `options.crypto_layers`."""
    from roto_studio.core.export.writers import write_exr_file

    chans = channels([o.name for o in group.objects], alphas)
    precision = {name: "float" for name in chans}
    if options.crypto_layers:
        for layer, alpha in zip(group.layers, alphas):
            chans[f"{layer}.A"] = np.clip(np.nan_to_num(np.asarray(alpha, np.float32), nan=0.0), 0.0, 1.0)
    attrs = dict(attributes or {})
    attrs.update(header_attributes([o.name for o in group.objects]))
    write_exr_file(path, chans, options.exr_precision, options.exr_compression.lower(), threads,
                   attributes=attrs, channel_precision=precision)
