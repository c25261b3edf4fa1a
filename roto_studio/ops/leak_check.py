"""Which propagated frames of an object may be leaking or drifting (core.leaks), worked out from
an alpha source and the media: each frame is measured against the key frame it was propagated
from (the nearest keyframe on the side the run came from) and the plate neighbour it came from,
and the frames of each key are judged together. Used by the window's attention check after a
propagation and by `roto-studio check`. No Qt."""

from __future__ import annotations

import bisect
from typing import Callable, Iterable, Sequence

from roto_studio.core.leaks import KeyModel, flag_run, measure


def _key_for(frame: int, keys: Sequence[int], numbers: Sequence[int], written_order: dict) -> int | None:
    """The keyframe `frame` was propagated from: the nearest keyframe before it in plate order
    when the run went forward to it, else the nearest after it."""
    before = [k for k in keys if k < frame]
    after = [k for k in keys if k > frame]
    if not before and not after:
        return None
    if before and after:
        # the side whose neighbour was written earlier (or not by this run) is where it came from
        i = bisect.bisect_left(numbers, frame)
        prev = numbers[i - 1] if i > 0 else None
        nxt = numbers[i + 1] if i + 1 < len(numbers) else None
        mine = written_order.get(frame, 0)
        from_prev = prev is not None and written_order.get(prev, -1) < mine
        from_next = nxt is not None and written_order.get(nxt, -1) < mine
        if from_next and not from_prev:
            return after[0]
        return before[-1]
    return before[-1] if before else after[0]


def leak_frames(masks, media, obj_id: str, frames: Iterable[int], numbers: Sequence[int],
                keys: Sequence[int], cancelled: Callable[[], bool] | None = None) -> dict[int, str]:
    """{frame: reason} among `frames` (as a run wrote them, in order) of obj_id.

    masks: an alpha source with get(obj_id, frame); media: read(frame) -> RGB; keys: the
    object's keyframes (prompted frames with a mask)."""
    frames = [int(f) for f in frames]
    order = {f: k for k, f in enumerate(frames)}
    numbers = list(numbers)
    keys = sorted(int(k) for k in keys if masks.get(obj_id, int(k)) is not None)
    index = {f: i for i, f in enumerate(numbers)}
    by_key: dict[int, list] = {}
    models: dict[int, KeyModel | None] = {}
    for f in frames:
        if cancelled is not None and cancelled():
            break
        if f in keys or f not in index:
            continue
        key = _key_for(f, keys, numbers, order)
        if key is None:
            continue
        if key not in models:
            try:
                models[key] = KeyModel(media.read(key), masks.get(obj_id, key))
            except ValueError:  # an empty key mask: nothing to compare with
                models[key] = None
        model = models[key]
        if model is None:
            continue
        alpha = masks.get(obj_id, f)
        if alpha is None:
            continue
        i = index[f]
        step = -1 if key < f else 1
        j = i + step
        source = masks.get(obj_id, numbers[j]) if 0 <= j < len(numbers) else None
        by_key.setdefault(key, []).append(measure(model, media.read(f), alpha, source, f))
    out: dict[int, str] = {}
    for checks in by_key.values():
        out.update(flag_run(checks))
    return out
