"""SAM 2 propagation through a shot with memory that stays flat however long the shot is.

Built over sam2's SAM2VideoPredictor, but never its `init_state` (which decodes and holds the whole
clip). We build the inference state ourselves:

- `LazyFrames` stands in for the state's `images` tensor: indexable by position, it decodes a frame
  from the FrameSource on demand, resizes and normalises it exactly as sam2's JPEG loader does
  (PIL resize to the model size, /255, minus mean, over std) and keeps a few in a small LRU.
- Each object's non-conditioning frame outputs (the per-frame memory) live in a `SpillDict`: the
  frames within the model's attention window of the current frame stay in memory; older ones are
  written to a spill folder on disk (core.spill: the project's cache folder, else the user cache
  folder; free space checked before each propagation, removed on close or after a crash) and read
  back only if the model ever asks for them again (a correction on a frame long behind, or a later
  pass in the other direction). What the model attends to is unchanged, so results are those of
  the stock predictor; RAM holds a fixed window.
- The stock predictor already keeps one frame's backbone features; nothing else grows.

Frames are plate numbers outside, positions (0..n-1 in `frames.frame_numbers`) inside.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from roto_studio.core.errors import ModelError
from roto_studio.core.spill import SpillFolder, check_free_space, spill_root
from roto_studio.core.prompt import Prompt
from roto_studio.models.base import FrameSource, PropagationSteps, VideoPropagator

IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


class LazyFrames:
    """The frames of a FrameSource as sam2 wants them: frames[i] -> 3xSxS float32, normalised."""

    def __init__(self, source: FrameSource, image_size: int, device="cpu", cache_frames: int = 3):
        self.source = source
        self.frame_numbers = list(source.frame_numbers)
        self.image_size = int(image_size)
        self.device = torch.device(device)
        self.cache_frames = max(1, int(cache_frames))
        self._cache: OrderedDict = OrderedDict()
        self._mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
        self.decoded = 0  # frames decoded so far (tests)

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def prepare(self, rgb: np.ndarray) -> torch.Tensor:
        """Same steps, in the same float precision, as sam2.utils.misc's JPEG frame loader."""
        from PIL import Image

        s = self.image_size
        img = np.array(Image.fromarray(np.ascontiguousarray(rgb[..., :3])).convert("RGB").resize((s, s)))
        x = torch.from_numpy(img / 255.0).permute(2, 0, 1).float()
        x -= self._mean
        x /= self._std
        return x

    def __getitem__(self, index: int) -> torch.Tensor:
        index = int(index)
        if index < 0:
            index += len(self)
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        frame = self.source.read(self.frame_numbers[index])
        x = self.prepare(frame).to(self.device)
        self.decoded += 1
        self._cache[index] = x
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)
        return x

    def clear(self) -> None:
        self._cache.clear()


class SpillDict(dict):
    """A frame -> output dict whose entries away from the current frame live on disk.

    Reads (`get`, `[]`, `in`, `pop`) see every entry, in memory or spilled, so sam2's code that
    looks memory up keeps working unchanged; `spill_outside(lo, hi)` moves entries outside
    [lo, hi] to disk.
    """

    _ids = itertools.count()

    def __init__(self, folder: Path, constants: dict, storage_device, device):
        super().__init__()
        self.folder = Path(folder) / f"obj{next(self._ids)}"
        self.constants = constants  # the inference state's constants (shared maskmem_pos_enc)
        self.storage_device = storage_device
        self.device = device
        self._cold: dict[int, Path] = {}
        self.spilled = 0  # entries written out so far (tests, stats)
        self.loaded = 0  # entries read back

    # -- disk ------------------------------------------------------------------------------
    def _save(self, key: int, out: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{key}.pt"
        blob = {k: (v.detach().to("cpu").clone() if isinstance(v, torch.Tensor) else None)
                for k, v in out.items() if k != "maskmem_pos_enc"}
        blob["has_pos_enc"] = torch.tensor(out.get("maskmem_pos_enc") is not None)
        torch.save(blob, path)
        self._cold[key] = path
        self.spilled += 1

    def _load(self, key: int) -> dict:
        path = self._cold.pop(key)
        blob = torch.load(path, map_location="cpu", weights_only=True)
        path.unlink(missing_ok=True)
        self.loaded += 1
        out = {}
        for k, v in blob.items():
            if k == "has_pos_enc":
                continue
            if v is not None:
                dev = self.storage_device if k in ("maskmem_features", "pred_masks") else self.device
                v = v.to(dev)
            out[k] = v
        pos = self.constants.get("maskmem_pos_enc")
        if bool(blob["has_pos_enc"]) and pos is not None:
            out["maskmem_pos_enc"] = [x.expand(1, -1, -1, -1) for x in pos]
        else:
            out["maskmem_pos_enc"] = None
        return out

    def _drop_cold(self, key) -> None:
        path = self._cold.pop(key, None)
        if path is not None:
            path.unlink(missing_ok=True)

    # -- dict behaviour --------------------------------------------------------------------
    def get(self, key, default=None):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in self._cold:
            out = self._load(key)
            dict.__setitem__(self, key, out)
            return out
        return default

    def __getitem__(self, key):
        out = self.get(key, None)
        if out is None and not dict.__contains__(self, key):
            raise KeyError(key)
        return out

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self._cold

    def __setitem__(self, key, value) -> None:
        self._drop_cold(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key) -> None:
        if not dict.__contains__(self, key) and key not in self._cold:
            raise KeyError(key)
        self._drop_cold(key)
        if dict.__contains__(self, key):
            dict.__delitem__(self, key)

    _MISSING = object()

    def pop(self, key, default=_MISSING):
        if dict.__contains__(self, key):
            self._drop_cold(key)
            return dict.pop(self, key)
        if key in self._cold:
            return self._load(key)
        if default is self._MISSING:
            raise KeyError(key)
        return default

    def keys(self):
        return sorted(set(dict.keys(self)) | set(self._cold))

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(set(dict.keys(self)) | set(self._cold))

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]

    def clear(self) -> None:
        for path in self._cold.values():
            path.unlink(missing_ok=True)
        self._cold.clear()
        dict.clear(self)

    def in_memory(self) -> list[int]:
        return sorted(dict.keys(self))

    def spill_outside(self, lo: int, hi: int) -> None:
        for key in [k for k in dict.keys(self) if k < lo or k > hi]:
            self._save(key, dict.pop(self, key))


def _match_memory_dtype(module, args, kwargs):
    """Stored memory is bfloat16. sam2 concatenates it with float32 object pointers, which promotes
    it to float32; when no pointer is in reach (e.g. going backwards from just after the only
    prompt) it stays bfloat16 and, without autocast (CPU), the attention fails on mixed dtypes.
    Promote it exactly as the concatenation would have."""
    mem = kwargs.get("memory")
    curr = kwargs.get("curr")
    if mem is None or curr is None:
        return None
    ref = curr[0] if isinstance(curr, (list, tuple)) else curr
    if mem.dtype != ref.dtype and not torch.is_autocast_enabled(mem.device.type):
        kwargs["memory"] = mem.to(ref.dtype)
        pos = kwargs.get("memory_pos")
        if pos is not None:
            kwargs["memory_pos"] = pos.to(ref.dtype)
        return args, kwargs
    return None


def _install_dtype_fix(model) -> None:
    if not getattr(model, "_roto_dtype_fix", False):
        model.memory_attention.register_forward_pre_hook(_match_memory_dtype, with_kwargs=True)
        model._roto_dtype_fix = True


class Sam2VideoPropagator(VideoPropagator):
    """Prompts on any frame for several objects; propagation forward or backward from any frame."""

    name = "sam2"

    def __init__(self, model, offload_state_to_cpu: bool = False, spill_dir: str | Path | None = None,
                 frame_cache: int = 3):
        """model: a SAM2VideoPredictor (sam2_common.load / from_config build one). spill_dir: the
        folder that holds run spill folders (core.spill.spill_root(project)); default: user cache."""
        from sam2.sam2_video_predictor import SAM2VideoPredictor

        if not isinstance(model, SAM2VideoPredictor):
            raise ModelError("the SAM 2 video backend needs a SAM2VideoPredictor model; "
                             "build it with roto_studio.models.sam2.common.load.")
        self.model = model
        _install_dtype_fix(model)
        self.offload_state_to_cpu = offload_state_to_cpu
        self.spill_root = Path(spill_dir) if spill_dir else spill_root(None)
        self.frame_cache = frame_cache
        self.state: dict | None = None
        self.frames: LazyFrames | None = None
        self._spill: SpillFolder | None = None
        self._pos: dict[int, int] = {}

    # ---- window --------------------------------------------------------------------------
    @property
    def window(self) -> int:
        """How many frames either side of the current one the model can attend to."""
        m = self.model
        stride = max(1, int(m.memory_temporal_stride_for_eval))
        win = stride * m.num_maskmem + 1
        if m.use_obj_ptrs_in_encoder:
            win = max(win, int(m.max_obj_ptrs_in_encoder))
        return win

    # ---- session -------------------------------------------------------------------------
    def start(self, frames: FrameSource) -> None:
        self.close()
        m = self.model
        device = m.device
        self.frames = LazyFrames(frames, m.image_size, device="cpu", cache_frames=self.frame_cache)
        if len(self.frames) == 0:
            raise ModelError("the shot has no frames to track.")
        self._pos = {f: i for i, f in enumerate(self.frames.frame_numbers)}
        self._spill = SpillFolder(self.spill_root)
        storage = torch.device("cpu") if self.offload_state_to_cpu else device
        # the same keys as SAM2VideoPredictor.init_state builds, with lazy frames
        self.state = {
            "images": self.frames,
            "num_frames": len(self.frames),
            "offload_video_to_cpu": True,
            "offload_state_to_cpu": self.offload_state_to_cpu,
            "video_height": int(frames.height),
            "video_width": int(frames.width),
            "device": device,
            "storage_device": storage,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }

    def close(self) -> None:
        if self.state is not None:
            for d in self.state["output_dict_per_obj"].values():
                d["non_cond_frame_outputs"].clear()
        if self._spill is not None:
            self._spill.remove()
        self.state = None
        self._spill = None

    @property
    def _spill_dir(self) -> Path | None:
        return self._spill.path if self._spill is not None else None

    def spill_bytes_per_frame(self) -> int:
        """About how many bytes one object's frame takes when spilled: memory features (bfloat16,
        mem_dim x (S/16)^2), the low-res mask logits (float32, (S/4)^2), the object pointer, and
        the file's overhead."""
        m = self.model
        s = int(m.image_size)
        feat = int(getattr(m, "mem_dim", 64)) * (s // 16) ** 2 * 2
        masks = (s // 4) ** 2 * 4
        ptr = int(getattr(m, "hidden_dim", 256)) * 4
        return feat + masks + ptr + 4096

    def check_space(self, frames: int) -> None:
        """ModelError naming the spill folder when propagating `frames` frames would not fit."""
        st = self._need_state()
        spilled = max(0, int(frames) - self.window) * max(1, len(st["obj_ids"]))
        check_free_space(self.spill_root, spilled * self.spill_bytes_per_frame())

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _need_state(self) -> dict:
        if self.state is None:
            raise RuntimeError("start(frames) must be called first")
        return self.state

    def position(self, frame: int) -> int:
        try:
            return self._pos[int(frame)]
        except KeyError:
            if self.frames is None:
                raise RuntimeError("start(frames) must be called first") from None
            raise ModelError(f"frame {frame} is not in the shot "
                             f"({self.frames.frame_numbers[0]}-{self.frames.frame_numbers[-1]}).") from None

    @property
    def object_ids(self) -> list:
        return list(self.state["obj_ids"]) if self.state else []

    def _object_index(self, obj_id) -> int:
        st = self._need_state()
        idx = self.model._obj_id_to_idx(st, obj_id)
        outs = st["output_dict_per_obj"][idx]
        if not isinstance(outs["non_cond_frame_outputs"], SpillDict):
            assert self._spill_dir is not None  # start() makes the spill folder with the state
            spill = SpillDict(self._spill_dir, st["constants"], st["storage_device"], st["device"])
            for k, v in outs["non_cond_frame_outputs"].items():
                spill[k] = v
            outs["non_cond_frame_outputs"] = spill
        return idx

    def _trim(self, pos: int) -> None:
        """Keep in memory only the frame outputs the model can attend to from `pos`."""
        w = self.window
        for outs in self._need_state()["output_dict_per_obj"].values():
            nc = outs["non_cond_frame_outputs"]
            if isinstance(nc, SpillDict):
                nc.spill_outside(pos - w, pos + w)

    def memory_frames(self) -> dict:
        """{obj_id: positions whose non-conditioning outputs are in memory} (tests, stats)."""
        st = self._need_state()
        return {st["obj_idx_to_id"][i]: d["non_cond_frame_outputs"].in_memory()
                for i, d in st["output_dict_per_obj"].items()}

    @staticmethod
    def _alpha(logits: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(logits.float()).cpu().numpy().astype(np.float32, copy=False)

    # ---- prompts -------------------------------------------------------------------------
    def add_prompt(self, frame: int, obj_id: str, prompt: Prompt) -> np.ndarray:
        st = self._need_state()
        pos = self.position(frame)
        m = self.model
        with torch.inference_mode():
            self._object_index(obj_id)
            masks = None
            if prompt.mask is not None:
                mask = np.asarray(prompt.mask)
                mask = mask.astype(bool) if mask.dtype == bool else mask >= 0.5
                _, ids, masks = m.add_new_mask(st, pos, obj_id, torch.from_numpy(np.ascontiguousarray(mask)))
            if prompt.points or prompt.box is not None:
                pts = lab = None
                if prompt.points:
                    pts = np.asarray(prompt.points, dtype=np.float32).reshape(-1, 2)
                    lab = np.asarray(prompt.labels or [1] * len(pts), dtype=np.int32)
                box = None if prompt.box is None else np.asarray(prompt.box, dtype=np.float32)
                _, ids, masks = m.add_new_points_or_box(st, pos, obj_id, points=pts, labels=lab,
                                                        clear_old_points=True, box=box)
            if masks is None:  # an empty prompt clears this object's prompts on the frame
                _, ids, masks = m.clear_all_prompts_in_frame(st, pos, obj_id)
            alpha = self._alpha(masks[list(ids).index(obj_id), 0])
        self._trim(pos)
        return alpha

    # ---- propagation ---------------------------------------------------------------------
    def propagate(self, start: int, reverse: bool = False,
                  stop: int | None = None) -> PropagationSteps:
        st = self._need_state()
        s = self.position(start)
        if stop is None:
            e = 0 if reverse else st["num_frames"] - 1
        else:
            e = self.position(stop)
        if (e > s) if reverse else (e < s):
            raise ValueError(f"stop frame {stop} lies behind start frame {start} for this direction")
        order = range(s, e - 1, -1) if reverse else range(s, e + 1)
        self.check_space(len(order))
        with torch.inference_mode():
            self.model.propagate_in_video_preflight(st)
        assert self.frames is not None  # start() sets them with the state
        numbers = self.frames.frame_numbers
        for pos in order:
            with torch.inference_mode():
                masks = self._track_frame(pos, reverse)
                obj_ids = list(st["obj_ids"])
                result = {oid: self._alpha(masks[i, 0]) for i, oid in enumerate(obj_ids)}
            self._trim(pos)
            yield numbers[pos], result

    def _track_frame(self, pos: int, reverse: bool) -> torch.Tensor:
        """One step of SAM2VideoPredictor.propagate_in_video: every object on frame `pos`."""
        st = self._need_state()
        m = self.model
        per_obj = []
        for obj_idx in range(m._get_obj_num(st)):
            outs = st["output_dict_per_obj"][obj_idx]
            if pos in outs["cond_frame_outputs"]:
                pred = outs["cond_frame_outputs"][pos]["pred_masks"].to(st["device"], non_blocking=True)
            else:
                out, pred = m._run_single_frame_inference(
                    inference_state=st, output_dict=outs, frame_idx=pos, batch_size=1,
                    is_init_cond_frame=False, point_inputs=None, mask_inputs=None,
                    reverse=reverse, run_mem_encoder=True)
                outs["non_cond_frame_outputs"][pos] = out
            st["frames_tracked_per_obj"][obj_idx][pos] = {"reverse": reverse}
            per_obj.append(pred)
        all_masks = torch.cat(per_obj, dim=0) if len(per_obj) > 1 else per_obj[0]
        _, video_res = m._get_orig_video_res_output(st, all_masks)
        return video_res

    # ---- objects ---------------------------------------------------------------------------
    def remove_object(self, obj_id: str) -> None:
        st = self._need_state()
        idx = st["obj_id_to_idx"].get(obj_id)
        if idx is None:
            return
        old = st["output_dict_per_obj"][idx]["non_cond_frame_outputs"]
        with torch.inference_mode():
            self.model.remove_object(st, obj_id, need_output=False)
        old.clear()

    def reset(self) -> None:
        st = self._need_state()
        with torch.inference_mode():
            for d in st["output_dict_per_obj"].values():
                d["non_cond_frame_outputs"].clear()
            self.model.reset_state(st)
        st["cached_features"] = {}
