"""Masks made elsewhere, in: a mask or matte sequence (PNG, EXR, TIFF; 8/16/32-bit integer or
half/float) found from a folder, a pattern (`mask.####.png`, `%04d`) or one file, read as alpha
0..1 and matched to the plate by frame number (`offset` added first), for the window and
`roto-studio segment --masks` to store as an object's keyframes.

The alpha of a file is its alpha channel when it has one (RGBA, grey + alpha, an EXR `A` or a
single `<layer>.A`), else its only channel, else the grey of its colour. Float values are
clipped to 0..1, NaN read as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from roto_studio.core.errors import RotoError

EXTS = {".png", ".exr", ".tif", ".tiff"}


@dataclass
class MaskPlan:
    files: dict[int, Path]  # plate frame -> mask file
    outside: list[int] = field(default_factory=list)  # mask frames with no plate frame


def find_masks(spec) -> dict[int, Path]:
    """{frame number: file} of the mask sequence a folder, a pattern or a single file names."""
    from roto_studio.core.media.patterns import groups_in_folder, still_frame_number, parse_pattern

    path = Path(str(spec)).expanduser()
    if path.is_dir():
        groups = {k: v for k, v in groups_in_folder(path).items() if k[1].lower() in EXTS}
        if not groups:
            raise RotoError(f"{path} holds no numbered PNG, EXR or TIFF masks; give the folder of a mask "
                            "sequence or its pattern (mask.####.png).")
        if len(groups) > 1:
            names = ", ".join(f"{p}####{s}" for p, s in sorted(groups))
            raise RotoError(f"{path} holds several mask sequences ({names}); give the pattern of one.")
        (_, files), = groups.items()
        return {f: path / name for f, name in sorted(files.items())}
    try:
        pattern = parse_pattern(path)
    except RotoError as exc:
        raise RotoError(str(exc)) from None
    if pattern is not None:
        if not pattern.folder.is_dir():
            raise RotoError(f"the folder {pattern.folder} does not exist; check the mask pattern.")
        found = {}
        for name in sorted(p.name for p in pattern.folder.iterdir()):
            frame = pattern.match(name)
            if frame is not None:
                found[frame] = pattern.folder / name
        if not found:
            raise RotoError(f"no files match {path.name} in {pattern.folder}; check the mask pattern.")
        return dict(sorted(found.items()))
    if path.is_file():
        if path.suffix.lower() not in EXTS:
            raise RotoError(f"{path.name} is not a PNG, EXR or TIFF mask.")
        return {still_frame_number(path): path}
    raise RotoError(f"no masks at {path}; give a folder, a pattern (mask.####.png) or a file.")


def match_frames(masks: dict[int, Path], plate_frames, offset: int = 0) -> MaskPlan:
    plate = set(plate_frames)
    plan = MaskPlan({})
    for f, path in masks.items():
        if f + offset in plate:
            plan.files[f + offset] = path
        else:
            plan.outside.append(f)
    if not plan.files:
        numbers = sorted(plate)
        have = f"{min(masks)}-{max(masks)}" if masks else "none"
        raise RotoError(f"no mask frame ({have}) matches a plate frame ({numbers[0]}-{numbers[-1]}); "
                        f"number them like the plate or give the offset (e.g. --mask-offset "
                        f"{numbers[0] - min(masks)}).")
    return plan


def _exr_alpha(path: Path) -> np.ndarray:
    from roto_studio.core.exr import read_exr

    try:
        _, channels = read_exr(path)
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises plain exceptions
        raise RotoError(f"cannot read the EXR mask {path.name} ({exc}); check the file.") from None
    names = list(channels)
    alpha_layers = [n for n in names if n.split(".")[-1] in ("A", "a", "alpha")]
    if "A" in channels:
        name = "A"
    elif len(alpha_layers) == 1:
        name = alpha_layers[0]
    elif len(names) == 1:
        name = names[0]
    elif all(c in channels for c in "RGB"):
        r, g, b = (channels[c].astype(np.float32) for c in "RGB")
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    elif "Y" in channels:
        name = "Y"
    else:
        raise RotoError(f"the EXR mask {path.name} has channels {', '.join(names[:8])} but no alpha; "
                        "give a file with an A channel or a single channel.")
    return channels[name].astype(np.float32)


def read_alpha(path) -> np.ndarray:
    """The file's alpha (float32 HxW, 0..1), see the module doc."""
    import cv2

    path = Path(path)
    if path.suffix.lower() == ".exr":
        alpha = _exr_alpha(path)
    else:
        try:
            data = np.fromfile(str(path), dtype=np.uint8)
        except OSError as exc:
            raise RotoError(f"cannot read the mask {path} ({exc.strerror}); check the path.") from None
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if img is None:
            raise RotoError(f"{path.name} is not an image cv2 can read; give a PNG, EXR or TIFF mask.")
        if img.ndim == 3 and img.shape[2] in (2, 4):
            img = img[..., -1]  # its alpha
        elif img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY) if img.dtype != np.uint32 else img[..., 0]
        if img.dtype == np.uint8:
            alpha = img.astype(np.float32) / 255.0
        elif img.dtype == np.uint16:
            alpha = img.astype(np.float32) / 65535.0
        elif img.dtype == np.uint32:
            alpha = (img.astype(np.float64) / 4294967295.0).astype(np.float32)
        elif img.dtype in (np.int8, np.int16, np.int32):
            alpha = img.astype(np.float32) / float(2 ** (8 * img.dtype.itemsize - 1) - 1)  # its largest value
        else:
            alpha = img.astype(np.float32)
    alpha = np.nan_to_num(alpha, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def read_masks(plan: MaskPlan, width: int, height: int, progress=None, cancel=None) -> dict[int, np.ndarray]:
    """{plate frame: alpha} for every matched file, each checked to be the plate's size."""
    out = {}
    total = len(plan.files)
    for i, (frame, path) in enumerate(sorted(plan.files.items())):
        if cancel is not None and cancel():
            break
        alpha = read_alpha(path)
        if alpha.shape != (height, width):
            raise RotoError(f"the mask {path.name} is {alpha.shape[1]}x{alpha.shape[0]} but the plate is "
                            f"{width}x{height}; give masks of the plate's size.")
        out[frame] = alpha
        if progress is not None:
            progress(i + 1, total)
    return out


def store_keyframes(project, obj_id: str, alphas: dict[int, np.ndarray]) -> list[int]:
    """Write the alphas as the object's keyframes (stored mask + a mask prompt, as the window does);
    locked frames are left alone. Returns the frames written."""
    from roto_studio.core.prompt import Prompt

    written = []
    for frame, alpha in sorted(alphas.items()):
        if project.is_locked(obj_id, frame):
            continue
        project.masks.set(obj_id, frame, alpha)
        prompt = project.prompts.get(obj_id, {}).get(frame)
        project.set_prompt(obj_id, frame, Prompt(has_mask=True) if prompt is None else prompt.keyed())
        written.append(frame)
    return written
