"""SAM 3 video: every instance of some phrases tracked through a shot, flat in memory.

Over transformers' `Sam3VideoModel` + `Sam3VideoProcessor`, driven as their documentation shows
(`add_text_prompt`, `propagate_in_video_iterator`, `postprocess_outputs`). As for EdgeTAM
(models.hf.video), the session's frames are read lazily from the FrameSource and its tracker
memory beyond the attention window is spilled to disk, so memory stays flat in shot length.

Behind the VideoPropagator interface: `add_prompt(frame, group, Prompt(text="person"))` adds a
phrase (the group names it) and returns the union of its instances on that frame; `propagate`
yields {instance key: alpha} where the key is "GROUP#ID" (ID: the model's object id). Instances
that appear mid-shot simply show up with new keys; `phrase_of(key)` and `score_of(key)` describe them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from roto_studio.core.errors import ModelError
from roto_studio.core.spill import SpillFolder, spill_root
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import FrameSource, PropagationSteps, VideoPropagator
from roto_studio.models.hf.speed import install_constant_caches
from roto_studio.models.hf.video import LazyFrames, SessionMemory, memory_window
from roto_studio.models.sam2.video import SpillDict


class Sam3VideoPropagator(SessionMemory, VideoPropagator):
    name = "sam3"

    def __init__(self, model, processor, device=None, dtype=torch.float32, spill_dir=None, frame_cache: int = 3):
        self.model = model.eval()
        install_constant_caches(self.model)  # same values, computed once
        self.processor = processor
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.dtype = dtype
        self.spill_root = Path(spill_dir) if spill_dir else spill_root(None)  # never $TMPDIR
        self._spill: SpillFolder | None = None
        self.frame_cache = frame_cache
        self.session = None
        self.frames: LazyFrames | None = None
        self._spill_dir: Path | None = None
        self._pos: dict[int, int] = {}
        self._groups: dict[str, str] = {}  # group (our name) -> phrase
        self._scores: dict[str, float] = {}

    @property
    def window(self) -> int:
        return memory_window(self.model.config.tracker_config) + int(self.model.config.hotstart_delay)

    # ---- session -------------------------------------------------------------------------
    def start(self, frames: FrameSource) -> None:
        self._open_frames(frames)
        self._new_session(int(frames.height), int(frames.width))

    def _new_session(self, height: int, width: int) -> None:
        self._clear_spills()
        sess = self.processor.init_video_session(inference_device=self.device, dtype=self.dtype)
        sess.processed_frames = self.frames
        sess.video_height, sess.video_width = height, width
        self.session = sess
        self._scores.clear()

    def close(self) -> None:
        self._release()
        self._groups.clear()
        self._scores.clear()

    # ---- memory ----------------------------------------------------------------------------
    def _tracker_config(self):
        return self.model.config.tracker_config

    def _trim(self, pos: int) -> None:
        self._spill_outside(pos)
        w = self.window
        # per-frame bookkeeping the model never reads again once far behind
        sess = self._need_session()
        for per_frame in (sess.obj_id_to_tracker_score_frame_wise, sess.suppressed_obj_ids):
            for f in [f for f in per_frame if abs(f - pos) > w]:
                del per_frame[f]

    def memory_frames(self) -> dict:
        sess = self._need_session()
        return {sess.obj_idx_to_id(i): (d["non_cond_frame_outputs"].in_memory()
                                        if isinstance(d["non_cond_frame_outputs"], SpillDict)
                                        else sorted(d["non_cond_frame_outputs"]))
                for i, d in sess.output_dict_per_obj.items()}

    # ---- prompts ---------------------------------------------------------------------------
    def add_text(self, group: str, phrase: str) -> None:
        sess = self._need_session()
        phrase = " ".join(str(phrase).split())
        if not phrase:
            raise ModelError("give a phrase to find, e.g. 'person'.")
        self._groups[group] = phrase
        self.processor.add_text_prompt(inference_session=sess, text=phrase)

    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        """Text prompts only: adds the phrase and returns the union of its instances on `frame`."""
        text = getattr(prompt, "text", None)
        if not text:
            raise ModelError("SAM 3 video follows phrases: give Prompt(text=...); "
                             "for clicked objects use the EdgeTAM or SAM 2 backend.")
        self.add_text(obj_id, text)
        sess = self._need_session()
        h, w = sess.video_height, sess.video_width
        alpha = np.zeros((h, w), np.float32)
        for key, a in self._frame(self.position(frame)).items():
            if key.split("#")[0] == obj_id:
                alpha = np.maximum(alpha, a)
        return alpha

    def _frame(self, pos: int) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            out = self.model(inference_session=self._need_session(), frame_idx=pos)
        self._spill_ready()
        self._trim(pos)
        return self._results(out)

    def _results(self, out) -> dict[str, np.ndarray]:
        sess = self._need_session()
        post = self.processor.postprocess_outputs(sess, out)
        by_phrase = {p: g for g, p in self._groups.items()}
        result = {}
        for oid, score, mask in zip(post["object_ids"].tolist(), post["scores"].tolist(), post["masks"]):
            phrase = sess.prompts[sess.obj_id_to_prompt_id[oid]]
            key = f"{by_phrase.get(phrase, phrase)}#{oid}"
            self._scores[key] = float(score)
            result[key] = mask.float().cpu().numpy()
        return result

    def phrase_of(self, key: str) -> str:
        group = key.split("#")[0]
        return self._groups.get(group, group)

    def score_of(self, key: str) -> float:
        return self._scores.get(key, 0.0)

    # ---- propagation -------------------------------------------------------------------------
    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> PropagationSteps:
        sess = self._need_session()
        if not self._groups:
            raise ModelError("nothing to find: add a phrase first.")
        s, e = self._span(start, reverse, stop)
        numbers = self._need_frames().frame_numbers
        # the stock iterator: reverse starts one frame before `start_frame_idx`
        first = s + 1 if reverse else s
        count = abs(e - s) + (1 if reverse else 0)
        gen = self.model.propagate_in_video_iterator(
            inference_session=sess, start_frame_idx=first, max_frame_num_to_track=count, reverse=reverse)
        try:
            for out in gen:
                self._spill_ready()
                self._trim(out.frame_idx)
                yield numbers[out.frame_idx], self._results(out)
        finally:
            gen.close()

    def remove_object(self, obj_id: str) -> None:
        """Forget a phrase group (its instances stop being reported)."""
        self._groups.pop(obj_id, None)

    def reset(self) -> None:
        sess = self._need_session()
        groups = dict(self._groups)
        self._new_session(sess.video_height, sess.video_width)
        for g, p in groups.items():
            self.add_text(g, p)
