"""Spilling transformers' video-session memory to disk (models.hf.video): a flat dict of tensors
per frame, each restored to its device; conditioning frames kept slim (object pointer only)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch

from roto_studio.models.sam2.video import SpillDict


def _save_outputs(out: dict, path: Path) -> None:
    """A flat dict of tensors (or None) to `path`, each tensor's device remembered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob: dict[str, Any] = {"tensors": {}, "devices": {}, "none": []}
    for k, v in out.items():
        if isinstance(v, torch.Tensor):
            blob["tensors"][k] = v.detach().to("cpu").clone()
            blob["devices"][k] = str(v.device)
        elif v is None:
            blob["none"].append(k)
        else:
            raise TypeError(f"cannot spill {k!r} of type {type(v).__name__}")
    torch.save(blob, path)


def _load_outputs(path: Path) -> dict:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    out = {k: v.to(blob["devices"][k]) for k, v in blob["tensors"].items()}
    out.update({k: None for k in blob["none"]})
    return out


class TensorSpillDict(SpillDict):
    """SpillDict for transformers' frame outputs: a flat dict of tensors, each restored to its device."""

    def __init__(self, folder: Path):
        super().__init__(folder, {}, "cpu", "cpu")

    def _save(self, key: int, out: dict) -> None:
        path = self.folder / f"{key}.pt"
        _save_outputs(out, path)
        self._cold[key] = path
        self.spilled += 1

    def _load(self, key: int) -> dict:
        path = self._cold.pop(key)
        out = _load_outputs(path)
        path.unlink(missing_ok=True)
        self.loaded += 1
        return out


class SlimOutput(dict):
    """A conditioning frame's outputs with the heavy tensors (memory features, masks) on disk.

    The model reads the object pointer of every conditioning frame on every frame, but the memory
    features only of the few closest: the small entries stay here, and any other access (a key,
    `get`, `in`, iteration) first brings the rest back from disk. `slim()` sends them out again."""

    SMALL = ("object_pointer", "object_score_logits")
    _ids = itertools.count()

    def __init__(self, out: dict, folder: Path):
        super().__init__(out)
        self.path = Path(folder) / f"cond{next(self._ids)}.pt"
        self._cold: set = set()
        self.slim()

    def slim(self) -> None:
        heavy = {k: v for k, v in dict.items(self) if k not in self.SMALL}
        if not heavy:
            return
        _save_outputs(heavy, self.path)  # always rewritten: the model may have updated a restored frame
        for k in heavy:
            dict.__delitem__(self, k)
        self._cold = set(heavy)

    @property
    def is_slim(self) -> bool:
        return bool(self._cold)

    def restore(self) -> None:
        if self._cold:
            dict.update(self, _load_outputs(self.path))
            self._cold = set()

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)

    def __missing__(self, key):
        if key in self._cold:
            self.restore()
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key, default=None):
        if key in self._cold:
            self.restore()
        return dict.get(self, key, default)

    def __contains__(self, key) -> bool:
        return key in self._cold or dict.__contains__(self, key)

    def __iter__(self):
        self.restore()
        return dict.__iter__(self)

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._cold)

    def keys(self):
        self.restore()
        return dict.keys(self)

    def items(self):
        self.restore()
        return dict.items(self)

    def values(self):
        self.restore()
        return dict.values(self)

    def copy(self):
        self.restore()
        return dict(self)
