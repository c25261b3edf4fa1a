"""Clean plates over a shot that hold still: one fill per window (the mean of a few frames' fills with OpenCV) carried along the alignment.

Each frame is first filled from the other frames (cleanplate.CleanPlate). What no frame shows is
not inpainted frame by frame (that flickers): a keyframe's spatial fill (OpenCV or diffusers) is
carried to the following frames along the alignment (homography, or composed DIS flow where the
motion is not planar), so a static background stays static. A new keyframe is made only where the
carried fill does not reach (the hole moved outside the keyframe's view); it is seeded with what
the previous keyframe covers, so only the new part is invented. Each frame takes the fill
straight from its key with one warp (homography tracked frame to frame, refined directly against
the key). With a smooth inpainter (OpenCV) a window's first fill is the mean of the fills of
CONSENSUS frames spread over the window, lined up on it: several guesses err less than one.
`carry=False` is the per-frame fill (the baseline).

`clean_plate_frames` is the plain function interface (frames + masks in, clean frames out) used
by the CLI, the GUI job and render. It carries fills within windows of WINDOW frames fixed on the
shot, each starting from its first frame carried from the previous window's first frame, so any
subset of frames (a farm chunk) gets exactly the pixels a whole-shot run gives.
No Qt; no torch unless the inpainter needs it.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

from roto_studio.core.errors import Cancelled
from roto_studio.models.cleanplate import align as align_flow
from roto_studio.models.base import FrameSource, Inpainter
from roto_studio.models.cleanplate.frame import CleanPlate, fill_parts, regions

WINDOW = 48  # frames per keyframe window (fixed on the shot; see clean_plate_frames)
CONSENSUS = 8  # frames whose fills are averaged for a window's first fill (smooth inpainters)


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
        self._anchor: tuple[int, np.ndarray] | None = None  # the last window's first frame and image
        self._rendered: dict[int, tuple] = {}  # frames rendered for a consensus fill, not cleaned yet

    def _set_key(self, frame: int, image: np.ndarray) -> None:
        self._key = (frame, image.copy())
        self._flow_at, self._flow_chain = frame, None
        self._h_at, self._h_chain = frame, np.eye(3)

    def anchor(self, frame: int, span: Sequence[int] = ()) -> np.ndarray:
        """Start a window at `frame`: its clean image, carried from the previous window's first
        frame only (so it does not depend on which frames were cleaned in between), becomes the key.
        What is still missing is filled once for the window: with a smooth inpainter (`consensus`),
        the mean of the fills of a few frames spread over `span`, lined up on this frame."""
        out, missing = self._render(frame)
        self._rendered = {}
        self.spatial[frame] = int(missing.sum())
        remaining = missing.copy()
        if self._anchor is not None and missing.any():
            h, w = missing.shape
            a, image = self._anchor
            candidates = [(align_flow.warp(image, m, sharp=True), align_flow.inside(m, h, w))
                          for m in self._maps_between(a, frame, missing)]
            if candidates:
                fill_parts(out, out.copy(), missing, regions(missing), remaining, candidates, gain=False)
        if remaining.any():
            out = self.plate.inpainter.fill(out, remaining)
            if getattr(self.plate.inpainter, "consensus", False) and len(span) > 1:
                out[remaining] = np.clip(np.rint(self._consensus(frame, out, remaining, span)), 0, 255)
            self.keyframes.append(frame)
        self._anchor = (frame, out.copy())
        self._set_key(frame, out)
        return out

    def _render(self, frame: int):
        hit = self._rendered.pop(frame, None)
        return hit if hit is not None else self.plate.render(frame, spatial=False)

    def _consensus(self, frame: int, filled: np.ndarray, remaining: np.ndarray, span: Sequence[int]) -> np.ndarray:
        """The `remaining` pixels (N x 3 float32) of the mean of `filled` and the fills
        of up to CONSENSUS - 1 other frames of `span`, each lined up on `frame` (by the alignment
        that matches best around each part). One inpaint is one guess of what is hidden; the mean of
        guesses made from different views errs less, and it is made once, so it still holds still."""
        span = list(span)
        picks = sorted({span[round(k * (len(span) - 1) / (CONSENSUS - 1))] for k in range(1, CONSENSUS)} - {frame})
        total = filled.astype(np.float32)
        count = np.ones(remaining.shape, np.float32)
        h, w = remaining.shape
        parts = regions(remaining)
        for j in picks:
            out_j, missing_j = self._render(j)
            self._rendered[j] = (out_j, missing_j)  # clean(j) uses it (its fill comes from the key)
            guess = self.plate.inpainter.fill(out_j, missing_j) if missing_j.any() else out_j
            candidates = [(align_flow.warp(guess, m, sharp=True), align_flow.inside(m, h, w))
                          for m in self._maps_between(j, frame, remaining)]
            lined, left = filled.copy(), remaining.copy()
            if candidates and fill_parts(lined, filled, remaining, parts, left, candidates, gain=False):
                took = remaining & ~left
                total[took] += lined[took]
                count[took] += 1.0
        return total[remaining] / count[remaining][:, None]

    def _maps_between(self, a: int, b: int, missing: np.ndarray) -> list[np.ndarray]:
        """Maps from frame b to frame a: homography (direct, else through the frames between) and,
        where b is aligned by flow, the flow steps composed."""
        h, w = missing.shape
        ys, xs = np.nonzero(missing)
        region = (max(0, ys.min() - 32), min(h, ys.max() + 33), max(0, xs.min() - 32), min(w, xs.max() + 33))
        maps = []
        H = self.plate.homography(a, b, region)
        numbers, idx = self.plate.numbers, self.plate.index
        if H is None:
            H = np.eye(3)
            for x, y in zip(numbers[idx[a]:idx[b]], numbers[idx[a] + 1:idx[b] + 1]):
                step = self.plate.homography(x, y)
                if step is None:
                    H = None
                    break
                H = step @ H
        if H is not None:
            maps.append(align_flow.homography_map(H, h, w))
        if self.plate.uses_flow(b):
            maps.append(self._flow_map(b, a, None)[0])
        return maps

    def clean(self, frame: int) -> np.ndarray:
        out, missing = self._render(frame) if self.carry else self.plate.render(frame)
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
        assert self._key is not None  # called only once there is a keyframe
        key = self._key[0]
        idx = self.plate.index
        if frame not in idx or key not in idx:
            return []
        maps = []
        h, w = missing.shape
        ys, xs = np.nonzero(missing)
        region = (max(0, ys.min() - 32), min(h, ys.max() + 33), max(0, xs.min() - 32), min(w, xs.max() + 33))
        # tracked: the last frame's homography times the step to this one, refined straight against
        # the key (a good start, and no drift); direct: features key -> frame, which on a far-away
        # frame can lock onto another depth layer. Each part of the hole takes the better.
        tracked = None
        if self._h_at is not None and self._h_chain is not None and self._h_at != frame:
            step = self.plate.homography(self._h_at, frame, region)
            if step is not None:
                tracked = step @ self._h_chain
                if self._h_at != key:
                    tracked = self.plate.refine_ecc(tracked, key, frame, region)
        direct = self.plate.homography(key, frame, region)
        for H in (tracked, direct):
            if H is not None:
                maps.append(align_flow.homography_map(H, h, w))
        if tracked is not None or direct is not None:
            self._h_at, self._h_chain = frame, tracked if tracked is not None else direct
        if self.plate.uses_flow(frame):
            maps.append(self._flow_to_key(frame))
        return maps

    def _flow_to_key(self, frame: int) -> np.ndarray:
        idx = self.plate.index
        assert self._key is not None  # called only once there is a keyframe
        key = self._key[0]
        at = self._flow_at if self._flow_at is not None else key
        if (idx[frame] <= idx[at] and at != key) or (idx[frame] - idx[at]) * (idx[at] - idx[key]) < 0:
            at, self._flow_chain = key, None  # went back past where the chain was: restart at the key
        m, self._flow_chain = self._flow_map(frame, at, self._flow_chain)
        self._flow_at = frame
        return m

    def _flow_map(self, frame: int, at: int, chain: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(full-res map frame -> key, flow-res chain frame -> key) from `chain` (at -> key, None:
        at is the key) and the flow steps from frame to at."""
        numbers, idx = self.plate.numbers, self.plate.index
        d = 1 if idx[at] <= idx[frame] else -1
        walk = numbers[idx[frame]:idx[at]:-d] + [at] if frame != at else [frame]
        m = None  # frame -> at
        for a, b in zip(walk, walk[1:]):
            step = self.plate.flow_step(a, b)
            m = step if m is None else align_flow.compose(m, step)
        if m is not None:
            chain = m if chain is None else align_flow.compose(m, chain)
        if chain is None:  # frame is the keyframe itself
            h, w = self.plate.frame_data(frame)[1].shape
            return align_flow.identity(h, w), None
        return self.plate.full_map(chain, frame), chain


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
    done = 0

    def ready(f, image):
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(todo))

    if not carry:  # per-frame fill: every frame on its own
        for f in todo:
            if cancel is not None and cancel():
                raise Cancelled(f"clean plate cancelled after {done} of {len(todo)} frames; those are kept.")
            image = cleaner.clean(f)
            yield f, image
            ready(f, image)
        return
    # Keyframe fills are carried within windows of WINDOW frames fixed on the shot; each window
    # starts from its first frame, carried from the previous window's first frame. So any subset
    # of frames (a farm chunk) gets the same pixels as a run over the whole shot.
    index = {f: i for i, f in enumerate(numbers)}
    wanted = set(todo)

    def span(win):
        return numbers[win * WINDOW:(win + 1) * WINDOW]

    windows = sorted({index[f] // WINDOW for f in todo})
    next_anchor = 0
    for win in windows:
        for k in range(next_anchor, win):  # the windows before it: their first frames only
            if cancel is not None and cancel():
                raise Cancelled(f"clean plate cancelled after {done} of {len(todo)} frames; those are kept.")
            cleaner.anchor(numbers[k * WINDOW], span(k))
        next_anchor = win + 1
        last = max(index[f] for f in todo if index[f] // WINDOW == win)
        for i in range(win * WINDOW, last + 1):
            f = numbers[i]
            if cancel is not None and cancel():
                raise Cancelled(f"clean plate cancelled after {done} of {len(todo)} frames; those are kept.")
            image = cleaner.anchor(f, span(win)) if i == win * WINDOW else cleaner.clean(f)
            if f in wanted:
                yield f, image
                ready(f, image)
