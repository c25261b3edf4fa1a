"""Clean plates over a shot that hold still: keyframe fills carried along the alignment.

Each frame is first filled from the other frames (cleanplate.CleanPlate). What no frame shows is
not inpainted frame by frame (that flickers): a keyframe's spatial fill (OpenCV or diffusers) is
carried to the following frames along the alignment (homography, or composed DIS flow where the
motion is not planar), so a static background stays static. A new keyframe is made only where the
carried fill does not reach (the hole moved outside the keyframe's view); it is seeded with what
the previous keyframe covers, so only the new part is invented. `carry=False` is the per-frame
fill (the baseline).

`clean_plate_frames` is the plain function interface (frames + masks in, clean frames out) used
by the CLI, the GUI job and the model server. No Qt; no torch unless the inpainter needs it.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from roto_studio.core.errors import Cancelled
from roto_studio.models import align_flow
from roto_studio.models.base import FrameSource, Inpainter
from roto_studio.models.cleanplate import CleanPlate, fill_parts, regions


class ShotCleaner:
    """Clean frames of one CleanPlate in increasing frame order, carrying keyframe fills."""

    def __init__(self, plate: CleanPlate, carry: bool = True):
        self.plate = plate
        self.carry = bool(carry)
        self.keyframes: list[int] = []
        self.spatial: dict[int, int] = {}  # frame -> pixels no other frame showed
        self._key: tuple[int, np.ndarray] | None = None  # (frame, its clean image)
        self._flow_at: int | None = None  # frame the flow chain reaches
        self._flow_chain: np.ndarray | None = None  # flow-resolution map _flow_at -> key (None: identity)
        self._h_at: int | None = None
        self._h_chain: np.ndarray | None = None  # homography key -> _h_at

    def clean(self, frame: int) -> np.ndarray:
        out, missing = self.plate.render(frame, spatial=not self.carry)
        self.spatial[frame] = int(missing.sum())
        if not self.carry or not missing.any():
            return out
        remaining = missing.copy()
        if self._key is not None:
            h, w = missing.shape
            candidates = [(align_flow.warp(self._key[1], m, sharp=True), align_flow.inside(m, h, w))
                          for m in self._to_key(frame, missing)]
            if candidates:
                fill_parts(out, out.copy(), missing, regions(missing), remaining, candidates, gain=False)
        if remaining.any():
            out = self.plate.inpainter.fill(out, remaining)
            self._key = (frame, out.copy())
            self.keyframes.append(frame)
            self._flow_at, self._flow_chain = frame, None
            self._h_at, self._h_chain = frame, np.eye(3)
        return out

    def _to_key(self, frame: int, missing: np.ndarray) -> list[np.ndarray]:
        """Full-resolution maps from `frame` to the keyframe: by homography, then by composed
        flow where the frame is aligned by flow too (each part of the hole takes the better)."""
        key = self._key[0]
        idx = self.plate._index
        if frame not in idx or key not in idx:
            return []
        maps = []
        h, w = missing.shape
        ys, xs = np.nonzero(missing)
        region = (max(0, ys.min() - 32), min(h, ys.max() + 33), max(0, xs.min() - 32), min(w, xs.max() + 33))
        H = self.plate.homography(key, frame, region)  # direct: no drift
        if H is None and self._h_at is not None and self._h_chain is not None:
            step = self.plate.homography(self._h_at, frame, region)
            H = None if step is None else step @ self._h_chain
        if H is not None:
            self._h_at, self._h_chain = frame, H
            maps.append(align_flow.homography_map(H, h, w))
        if self.plate.uses_flow(frame):
            maps.append(self._flow_to_key(frame))
        return maps

    def _flow_to_key(self, frame: int) -> np.ndarray | None:
        numbers, idx = self.plate.numbers, self.plate._index
        at = self._flow_at if self._flow_at is not None else self._key[0]
        if idx[frame] <= idx[at] and at != self._key[0]:
            at, self._flow_chain = self._key[0], None  # went backwards: restart from the key
        d = 1 if idx[at] <= idx[frame] else -1
        walk = numbers[idx[frame]:idx[at]:-d] + [at] if frame != at else [frame]
        m = None  # frame -> at
        for a, b in zip(walk, walk[1:]):
            step = self.plate.flow_step(a, b)
            m = step if m is None else align_flow.compose(m, step)
        if m is None:
            chain = self._flow_chain
        else:
            chain = m if self._flow_chain is None else align_flow.compose(m, self._flow_chain)
        self._flow_at, self._flow_chain = frame, chain
        if chain is None:  # frame is the keyframe itself
            h, w = self.plate._frame(frame)[1].shape
            return align_flow.identity(h, w)
        return self.plate.full_map(chain, frame)


def clean_plate_frames(frames: FrameSource, masks: Callable[[int], np.ndarray | None],
                       todo: Sequence[int] | None = None, *, exclude=None, inpainter: Inpainter | None = None,
                       align: str = "auto", grow: int = 3, carry: bool = True,
                       frame_numbers: Sequence[int] | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame, clean RGB uint8) for `todo` (default: every frame), in frame order.

    masks(frame) gives the object's alpha (the hole), exclude(frame) other moving things.
    Cancel raises Cancelled between frames; what was yielded stays valid."""
    numbers = list(frame_numbers if frame_numbers is not None else frames.frame_numbers)
    known = set(numbers)
    todo = sorted(f for f in (todo if todo is not None else numbers) if f in known)
    plate = CleanPlate(frames, masks, exclude=exclude, frame_numbers=numbers, grow=grow,
                       inpainter=inpainter, align=align)
    cleaner = ShotCleaner(plate, carry=carry)
    for i, f in enumerate(todo):
        if cancel is not None and cancel():
            raise Cancelled(f"clean plate cancelled after {i} of {len(todo)} frames; those are kept.")
        yield f, cleaner.clean(f)
        if progress is not None:
            progress(i + 1, len(todo))
