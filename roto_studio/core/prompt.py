"""The one prompt type: what the artist gave for one object on one frame (clicks with labels, a
box, a mask, a phrase). The window, the engine, the CLI, the client and the server all pass this
`Prompt`; the project keeps it without the mask's pixels (the mask store holds those, `has_mask`
says there was one), and core.wire sends it to the model server.

Project file form (`to_dict`): {"points": [[x, y, label], ...], "box": [x1, y1, x2, y2] | null,
"has_mask": bool}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError("expected a number")
    return float(v)


def _flag(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true/false")
    return v


def _box(box: Any) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1, y1, x2, y2)


@dataclass
class Prompt:
    """Clicks and/or a box and/or a mask (and/or a phrase) for one object on one frame."""

    points: list[tuple[float, float]] = field(default_factory=list)  # (x, y) in frame pixels
    labels: list[int] = field(default_factory=list)  # 1 include, 0 exclude; one per point
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2
    mask: Any = field(default=None, compare=False)  # HxW alpha 0..1 (or bool) numpy array
    text: str | None = None  # a phrase, for backends that find objects by name (SAM 3 video)
    has_mask: bool = False  # a mask was given on this frame (true whenever `mask` is set)

    def __post_init__(self) -> None:
        if self.mask is not None:
            self.has_mask = True

    def is_empty(self) -> bool:
        return not self.points and self.box is None and self.mask is None and not self.text and not self.has_mask

    @property
    def clicks(self) -> list[tuple[float, float, int]]:
        """The points with their labels, (x, y, label) each (a missing label counts as include)."""
        labels = list(self.labels) + [1] * (len(self.points) - len(self.labels))
        return [(float(x), float(y), int(lab)) for (x, y), lab in zip(self.points, labels)]

    @classmethod
    def from_clicks(cls, clicks: Iterable[Sequence[Any]] = (), box: Any = None, has_mask: bool = False) -> "Prompt":
        clicks = list(clicks)
        return cls(points=[(float(x), float(y)) for x, y, _ in clicks], labels=[1 if int(c[2]) else 0 for c in clicks],
                   box=_box(box), has_mask=has_mask)

    def with_click(self, x: float, y: float, label: int) -> "Prompt":
        """This prompt and one more click."""
        return Prompt.from_clicks(self.clicks + [(x, y, label)], self.box, self.has_mask)

    def with_box(self, box: Any) -> "Prompt":
        """A new box starts the prompt afresh (the clicks go)."""
        return Prompt.from_clicks([], box, self.has_mask)

    def keyed(self) -> "Prompt":
        """This prompt, marked as having a mask (a brush stroke, an imported mask), without pixels."""
        return Prompt.from_clicks(self.clicks, self.box, True)

    def stored(self) -> "Prompt":
        """What the project keeps: clicks, box and whether a mask was given (no pixels, no phrase)."""
        return Prompt.from_clicks(self.clicks, self.box, self.has_mask)

    def for_model(self) -> "Prompt":
        """The clicks and box to ask a model with (a stored mask flag asks nothing)."""
        return replace(Prompt.from_clicks(self.clicks, self.box), text=self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"points": [list(c) for c in self.clicks],
                "box": list(self.box) if self.box is not None else None,
                "has_mask": bool(self.has_mask)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Prompt":
        clicks = []
        for p in d.get("points") or []:
            x, y, label = p
            clicks.append((_num(x), _num(y), 1 if int(label) else 0))
        box = d.get("box")
        if box is not None:
            if len(box) != 4:
                raise ValueError("a box has 4 numbers")
            box = tuple(_num(v) for v in box)
        return cls.from_clicks(clicks, box, _flag(d.get("has_mask", False)))
