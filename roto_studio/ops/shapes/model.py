"""The shapes' data: closed cubic Bezier shapes keyed over frames, per object.

Coordinates are plate pixels with the origin at the top-left corner of the image and y down
(pixel (i, j) covers [i, i+1] x [j, j+1]); each format writer converts to its application's
convention. A Key holds, for one frame, N anchors, their in and out tangents (relative to the
anchor: segment i runs P[i], P[i]+out[i], P[i+1]+in[i+1], P[i+1]) and a feather (inner, outer,
pixels) per anchor. A Shape keeps its point count over its life [first, last]; between its keys
every value interpolates linearly. A new point count is a new Shape (a new key in the issue's
words: the topology or the fit changed).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Key:
    points: np.ndarray  # (N, 2) anchors
    tin: np.ndarray  # (N, 2) in tangents, relative
    tout: np.ndarray  # (N, 2) out tangents, relative
    feather: np.ndarray | None = None  # (N, 2) inner, outer (px); None = hard

    def __post_init__(self):
        self.points = np.asarray(self.points, np.float64).reshape(-1, 2)
        self.tin = np.asarray(self.tin, np.float64).reshape(-1, 2)
        self.tout = np.asarray(self.tout, np.float64).reshape(-1, 2)
        if self.feather is not None:
            self.feather = np.asarray(self.feather, np.float64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.points)

    def feathers(self) -> np.ndarray:
        return self.feather if self.feather is not None else np.zeros((len(self), 2))

    def controls(self) -> np.ndarray:
        """(N, 4, 2): the control points of each segment."""
        p = self.points
        q = np.roll(p, -1, axis=0)
        return np.stack([p, p + self.tout, q + np.roll(self.tin, -1, axis=0), q], axis=1)

    def sample(self, step: float = 1.0) -> np.ndarray:
        """A closed polyline along the curve, about `step` px apart (the last point not repeated)."""
        c = self.controls()
        if len(c) == 0:
            return np.zeros((0, 2))
        length = np.sum(np.linalg.norm(np.diff(c, axis=1), axis=2), axis=1)
        n = np.clip(np.ceil(length / max(step, 1e-3)), 2, 400).astype(int)
        seg = np.repeat(np.arange(len(c)), n)
        starts = np.repeat(np.cumsum(n) - n, n)
        t = ((np.arange(len(seg)) - starts) / np.repeat(n, n))[:, None]
        s = 1.0 - t
        q = c[seg]
        return s ** 3 * q[:, 0] + 3 * s * s * t * q[:, 1] + 3 * s * t * t * q[:, 2] + t ** 3 * q[:, 3]

    def lerp(self, other: "Key", t: float) -> "Key":
        f = None
        if self.feather is not None or other.feather is not None:
            f = self.feathers() * (1 - t) + other.feathers() * t
        return Key(self.points * (1 - t) + other.points * t, self.tin * (1 - t) + other.tin * t,
                   self.tout * (1 - t) + other.tout * t, f)

    def to_dict(self) -> dict:
        d = {"points": _r(self.points), "in": _r(self.tin), "out": _r(self.tout)}
        if self.feather is not None:
            d["feather"] = _r(self.feather)
        return d


@dataclass
class Shape:
    name: str
    hole: bool = False
    keys: dict[int, Key] = field(default_factory=dict)
    first: int | None = None  # first and last frame the shape exists on
    last: int | None = None

    def key_frames(self) -> list[int]:
        return sorted(self.keys)

    def point_count(self) -> int:
        return len(next(iter(self.keys.values()))) if self.keys else 0

    def alive(self, frame: int) -> bool:
        lo = self.first if self.first is not None else min(self.keys)
        hi = self.last if self.last is not None else max(self.keys)
        return lo <= frame <= hi

    def at(self, frame: int) -> Key | None:
        """The shape on `frame` (linear between keys, held past the end keys), None when gone."""
        if not self.keys or not self.alive(frame):
            return None
        frames = self.key_frames()
        i = bisect.bisect_left(frames, frame)
        if i < len(frames) and frames[i] == frame:
            return self.keys[frame]
        if i == 0:
            return self.keys[frames[0]]
        if i == len(frames):
            return self.keys[frames[-1]]
        a, b = frames[i - 1], frames[i]
        return self.keys[a].lerp(self.keys[b], (frame - a) / (b - a))


@dataclass
class ObjectShapes:
    name: str
    color: tuple[int, int, int] = (255, 80, 80)
    shapes: list[Shape] = field(default_factory=list)

    def at(self, frame: int) -> list[tuple[Shape, Key]]:
        return [(s, k) for s in self.shapes if (k := s.at(frame)) is not None]

    def key_frames(self) -> list[int]:
        return sorted({f for s in self.shapes for f in s.keys})


@dataclass
class ShapeDoc:
    width: int
    height: int
    frames: list[int]  # the plate frames covered
    fps: float = 24.0
    objects: list[ObjectShapes] = field(default_factory=list)


def bezier(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points of the cubic with controls c (4, 2) at parameters t."""
    t = np.asarray(t, np.float64)[:, None]
    s = 1.0 - t
    return s ** 3 * c[0] + 3 * s * s * t * c[1] + 3 * s * t * t * c[2] + t ** 3 * c[3]


def path_data(key: Key, digits: int = 3) -> str:
    """The SVG path commands of a closed key: absolute M, C ... Z."""
    fmt = f"{{:.{digits}f}}"

    def xy(p):
        return f"{fmt.format(p[0])},{fmt.format(p[1])}"

    parts = [f"M{xy(key.points[0])}"]
    for c in key.controls():
        parts.append(f"C{xy(c[1])} {xy(c[2])} {xy(c[3])}")
    parts.append("Z")
    return " ".join(parts)


def _r(a: np.ndarray) -> list:
    return np.round(np.asarray(a, np.float64), 4).tolist()
