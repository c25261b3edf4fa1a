"""Propagation over transformers' SAM 2-family video models (EdgeTAM, SAM 3 tracker), flat in memory.

`EdgeTamVideoModel` and `Sam3TrackerVideoModel` share one inference-session design: a dict of
preprocessed frames, per-object prompt inputs and a per-object dict of frame outputs (the memory
bank). Driven as their documentation shows (the processor adds inputs, `model(session, frame_idx)`
runs a frame), except for two things that keep memory flat however long the shot is:

- `LazyFrames` stands in for `session.processed_frames`: it preprocesses a frame from the
  FrameSource, with the processor's own video processor, only when the model asks for it, and keeps
  a few in a small LRU;
- each object's non-conditioning outputs live in a `TensorSpillDict` (models.hf.spill): the frames the model can
  attend to from the current one stay in memory, older ones go to the spill folder (core.spill) and come back
  only if asked for;
- where the model reads the memory of only the few closest conditioning frames (SAM 3 makes one
  every 16 frames per instance), the others keep just their object pointer in memory
  (`SlimOutput`); the rest waits on disk. What the model reads is unchanged, so masks equal the
  stock session's.

Frames are plate numbers outside, positions (0..n-1 in `frames.frame_numbers`) inside.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from roto_studio.core.errors import ModelError
from roto_studio.core.spill import SpillFolder, spill_root
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import FrameSource, PropagationSteps, VideoPropagator
from roto_studio.models.hf.speed import fuse_backbone, install_constant_caches
from roto_studio.models.hf.spill import SlimOutput, TensorSpillDict
from roto_studio.models.sam2.video import SpillDict


class LazyFrames(dict):
    """`session.processed_frames` that preprocesses frames on demand (position -> 3xSxS tensor)."""

    def __init__(self, source: FrameSource, processor, dtype=torch.float32, cache_frames: int = 3):
        super().__init__()
        self.source = source
        self.processor = processor
        self.frame_numbers = list(source.frame_numbers)
        self.dtype = dtype
        self.cache_frames = max(1, int(cache_frames))
        self._cache: OrderedDict = OrderedDict()
        self.decoded = 0  # frames preprocessed so far (tests)

    def prepare(self, rgb: np.ndarray) -> torch.Tensor:
        """One frame through the processor's video processor, as init_video_session does a clip."""
        clip = np.array(rgb[None, ..., :3], dtype=np.uint8)  # writable: frame caches are read-only
        out = self.processor.video_processor(videos=[clip], return_tensors="pt")
        return out.pixel_values_videos[0][0].to(self.dtype)

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def __contains__(self, index) -> bool:
        return isinstance(index, int) and 0 <= index < len(self.frame_numbers)

    def __getitem__(self, index: int) -> torch.Tensor:
        index = int(index)
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        if not 0 <= index < len(self.frame_numbers):
            raise KeyError(index)
        x = self.prepare(self.source.read(self.frame_numbers[index]))
        self.decoded += 1
        self._cache[index] = x
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)
        return x

    def __setitem__(self, index, value) -> None:  # streamed frames are not used here
        raise ModelError("this session reads its frames from the shot; frames cannot be added.")

    def keys(self):
        return range(len(self.frame_numbers))


def conditioning_to_keep(frames, pos: int, max_cond: int, near: int) -> set:
    """Conditioning frames whose memory the model may read around `pos`: for frames pos-1..pos+1,
    the `max_cond` closest (its own rule: closest before, closest at/after, then by distance), and
    any within `near` frames (an unselected one stands in for a tracked frame there)."""
    frames = list(frames)
    if max_cond < 0 or len(frames) <= max_cond:
        return set(frames)
    keep = {t for t in frames if abs(t - pos) <= near + 1}
    for p in (pos - 1, pos, pos + 1):
        chosen = set()
        before = [t for t in frames if t < p]
        after = [t for t in frames if t >= p]
        if before:
            chosen.add(max(before))
        if after:
            chosen.add(min(after))
        rest = sorted((t for t in frames if t not in chosen), key=lambda t: abs(t - p))
        chosen.update(rest[:max(0, max_cond - len(chosen))])
        keep |= chosen
    return keep


def memory_window(config) -> int:
    """How many frames either side of the current one the model reads outputs of."""
    num_maskmem = int(getattr(config, "num_maskmem", 7))
    ptrs = int(getattr(config, "max_object_pointers_in_encoder", 16))
    return max(num_maskmem, ptrs) + 1


class SessionMemory:
    """What the transformers video backends share about their inference session: frame memory
    outside the attention window spilled to disk, released on close, and frame lookups.
    Subclasses set session, window, processor, dtype, frame_cache and spill_root."""

    # set by the subclasses; transformers' model, processor and session are typed Any here
    model: Any
    processor: Any
    session: Any | None  # None before start() and after close()
    dtype: torch.dtype
    frame_cache: int
    spill_root: Path
    frames: LazyFrames | None
    _pos: dict[int, int]
    _spill: SpillFolder | None
    _spill_dir: Path | None

    @property
    def window(self) -> int:
        """How many frames either side of the current one the model reads outputs of."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _open_frames(self, frames: FrameSource) -> None:
        """Close any earlier session, then make the shot's frames and a fresh spill folder ready."""
        self.close()
        self.frames = LazyFrames(frames, self.processor, self.dtype, self.frame_cache)
        if len(self.frames) == 0:
            raise ModelError("the shot has no frames to track.")
        self._pos = {f: i for i, f in enumerate(self.frames.frame_numbers)}
        self._spill = SpillFolder(self.spill_root)
        self._spill_dir = self._spill.path

    def _need_session(self) -> Any:
        if self.session is None:
            raise RuntimeError("start(frames) must be called first")
        return self.session

    def _need_frames(self) -> LazyFrames:
        if self.frames is None:
            raise RuntimeError("start(frames) must be called first")
        return self.frames

    def _need_spill_dir(self) -> Path:
        if self._spill_dir is None:
            raise RuntimeError("start(frames) must be called first")
        return self._spill_dir

    def position(self, frame: int) -> int:
        try:
            return self._pos[int(frame)]
        except KeyError:
            numbers = self._need_frames().frame_numbers
            raise ModelError(f"frame {frame} is not in the shot ({numbers[0]}-{numbers[-1]}).") from None

    def _span(self, start: int, reverse: bool, stop: int | None) -> tuple[int, int]:
        """Positions of the first and last frame a propagation visits (stop None: to the end)."""
        s = self.position(start)
        e = (0 if reverse else len(self._need_frames()) - 1) if stop is None else self.position(stop)
        if (e > s) if reverse else (e < s):
            raise ValueError(f"stop frame {stop} lies behind start frame {start} for this direction")
        return s, e

    def _spill_ready(self) -> None:
        for outs in self._need_session().output_dict_per_obj.values():
            if not isinstance(outs["non_cond_frame_outputs"], SpillDict):
                spill = TensorSpillDict(self._need_spill_dir())
                for k, v in outs["non_cond_frame_outputs"].items():
                    spill[k] = v
                outs["non_cond_frame_outputs"] = spill

    def _tracker_config(self):
        return self.model.config

    def _spill_outside(self, pos: int) -> None:
        w = self.window
        cfg = self._tracker_config()
        max_cond = int(getattr(cfg, "max_cond_frame_num", -1))
        near = int(getattr(cfg, "num_maskmem", 7))
        for outs in self._need_session().output_dict_per_obj.values():
            nc = outs["non_cond_frame_outputs"]
            if isinstance(nc, SpillDict):
                nc.spill_outside(pos - w, pos + w)
            cond = outs["cond_frame_outputs"]
            if max_cond < 0 or len(cond) <= max_cond:
                continue
            keep = conditioning_to_keep(dict.keys(cond), pos, max_cond, near)
            for t, out in list(dict.items(cond)):
                if t in keep:
                    continue
                if isinstance(out, SlimOutput):
                    if not out.is_slim:
                        out.slim()
                else:
                    cond[t] = SlimOutput(out, self._need_spill_dir())

    def conditioning_in_memory(self) -> dict:
        """{session object index: conditioning frames held whole in memory} (tests, stats)."""
        sess = self._need_session()
        return {i: sorted(t for t, o in d["cond_frame_outputs"].items()
                          if not (isinstance(o, SlimOutput) and o.is_slim))
                for i, d in sess.output_dict_per_obj.items()}

    def _clear_spills(self) -> None:
        if self.session is None:
            return
        for outs in self.session.output_dict_per_obj.values():
            nc = outs["non_cond_frame_outputs"]
            if isinstance(nc, SpillDict):
                nc.clear()
            for out in dict.values(outs["cond_frame_outputs"]):
                if isinstance(out, SlimOutput):
                    out.drop()

    def _release(self) -> None:
        self._clear_spills()
        if self._spill is not None:
            self._spill.remove()
        self._spill = None
        self.session = None
        self.frames = None
        self._spill_dir = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class HFVideoPropagator(SessionMemory, VideoPropagator):
    """Prompts on any frame for several objects; propagation forward or backward from any frame.

    model: an EdgeTamVideoModel / Sam3TrackerVideoModel (eval mode); processor: its
    Sam2VideoProcessor / Sam3TrackerVideoProcessor.
    """

    name = "edgetam"

    def __init__(self, model, processor, device=None, dtype=torch.float32, spill_dir=None,
                 frame_cache: int = 3, name: str | None = None, fuse: bool = False,
                 cpu_runtime: str | None = None, weights_path=None):
        self.model = model.eval()
        install_constant_caches(self.model)  # same values, computed once
        if fuse:  # opt-in: faster backbone, numerics differ in the last bits
            fuse_backbone(self.model)
        self.runtime = None  # models.cpu.runtime.RuntimeChoice for EdgeTAM's image encoder
        dev = torch.device(device) if device is not None else next(model.parameters()).device
        if type(model).__name__ == "EdgeTamVideoModel":  # on the CPU: ONNX Runtime where it pays
            from roto_studio.models.cpu.export import accelerate_edgetam

            self.runtime = accelerate_edgetam(self.model, weights_path, str(dev), cpu_runtime)
        self.processor = processor
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.dtype = dtype
        self.spill_root = Path(spill_dir) if spill_dir else spill_root(None)  # never $TMPDIR
        self._spill: SpillFolder | None = None
        self.frame_cache = frame_cache
        if name:
            self.name = name
        self.session = None
        self.frames: LazyFrames | None = None
        self._spill_dir: Path | None = None
        self._pos: dict[int, int] = {}
        self._ids: dict[str, int] = {}  # our object ids -> the session's integer ids
        self._prompts: dict[str, dict[int, Prompt]] = {}  # replayed after remove_object

    @property
    def window(self) -> int:
        return memory_window(self.model.config)

    # ---- session -------------------------------------------------------------------------
    def start(self, frames: FrameSource) -> None:
        self._open_frames(frames)
        self._new_session()
        sess = self._need_session()
        sess.video_height = int(frames.height)
        sess.video_width = int(frames.width)

    def _new_session(self) -> None:
        sess = self.processor.init_video_session(inference_device=self.device, dtype=self.dtype)
        sess.processed_frames = self.frames
        if self.session is not None:
            sess.video_height, sess.video_width = self.session.video_height, self.session.video_width
            self._clear_spills()
        self.session = sess
        self._ids.clear()

    def close(self) -> None:
        self._release()
        self._ids.clear()
        self._prompts.clear()

    @property
    def object_ids(self) -> list[str]:
        return list(self._ids)

    def _session_id(self, obj_id: str) -> int:
        if obj_id not in self._ids:
            self._ids[obj_id] = max(self._ids.values(), default=0) + 1
        return self._ids[obj_id]

    def _trim(self, pos: int) -> None:
        self._spill_outside(pos)

    def memory_frames(self) -> dict:
        """{obj_id: positions whose non-conditioning outputs are in memory} (tests, stats)."""
        sess = self._need_session()
        back = {v: k for k, v in self._ids.items()}
        out = {}
        for idx, d in sess.output_dict_per_obj.items():
            nc = d["non_cond_frame_outputs"]
            out[back.get(sess.obj_idx_to_id(idx))] = nc.in_memory() if isinstance(nc, SpillDict) else sorted(nc)
        return out

    def _alphas(self, pred_masks: torch.Tensor) -> torch.Tensor:
        sess = self._need_session()
        logits = self.processor.post_process_masks(
            [pred_masks], original_sizes=[[sess.video_height, sess.video_width]], binarize=False)[0]
        return torch.sigmoid(logits.float())[:, 0]

    # ---- prompts -------------------------------------------------------------------------
    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        sess = self._need_session()
        pos = self.position(frame)
        sid = self._session_id(obj_id)
        self._add_inputs(pos, sid, prompt)
        self._prompts.setdefault(obj_id, {})[int(frame)] = prompt
        self._spill_ready()
        with torch.inference_mode():
            out = self.model(inference_session=sess, frame_idx=pos)
        alpha = self._alphas(out.pred_masks)[list(out.object_ids).index(sid)]
        self._trim(pos)
        return alpha.cpu().numpy().astype(np.float32, copy=False)

    def _add_inputs(self, pos: int, sid: int, prompt: Prompt) -> None:
        sess = self._need_session()
        if prompt.mask is not None and not prompt.points and prompt.box is None:
            mask = np.asarray(prompt.mask)
            mask = mask.astype(bool) if mask.dtype == bool else mask >= 0.5
            self.processor.add_inputs_to_inference_session(
                inference_session=sess, frame_idx=pos, obj_ids=sid, input_masks=mask)
            return
        if prompt.is_empty():
            raise ModelError("an empty prompt cannot condition the tracker; give clicks, a box or a mask.")
        points = labels = boxes = None
        if prompt.points:
            points = [[[[float(x), float(y)] for x, y in prompt.points]]]
            labels = [[[int(v) for v in (prompt.labels or [1] * len(prompt.points))]]]
        if prompt.box is not None:
            boxes = [[[float(v) for v in prompt.box]]]
        self.processor.add_inputs_to_inference_session(
            inference_session=sess, frame_idx=pos, obj_ids=sid, input_points=points,
            input_labels=labels, input_boxes=boxes)

    # ---- propagation ---------------------------------------------------------------------
    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> PropagationSteps:
        sess = self._need_session()
        if not self._ids:
            raise ModelError("nothing to track: add a prompt for an object first.")
        s, e = self._span(start, reverse, stop)
        order = range(s, e - 1, -1) if reverse else range(s, e + 1)
        back = {v: k for k, v in self._ids.items()}
        numbers = self._need_frames().frame_numbers
        for pos in order:
            with torch.inference_mode():
                out = self.model(inference_session=sess, frame_idx=pos, reverse=reverse)
                alphas = self._alphas(out.pred_masks).cpu().numpy()
            self._spill_ready()
            self._trim(pos)
            yield numbers[pos], {back[sid]: alphas[i] for i, sid in enumerate(out.object_ids) if sid in back}

    # ---- objects ---------------------------------------------------------------------------
    def remove_object(self, obj_id: str) -> None:
        """The stock session cannot drop one object: start afresh and replay the others' prompts."""
        self._need_session()
        if obj_id not in self._ids:
            return
        keep = {o: p for o, p in self._prompts.items() if o != obj_id}
        self.reset()
        for o, frames in keep.items():
            for f, p in sorted(frames.items()):
                self.add_prompt(f, o, p)

    def reset(self) -> None:
        self._need_session()
        self._new_session()
        self._prompts.clear()
