"""`roto-studio segment MEDIA --out PROJECT --frame N (--point X,Y[,L] ... | --box ... | --mask PNG |
--text "person, dog")`: a mask from clicks, a box or a mask image on one frame (or one object per
instance of each phrase), optionally propagated through the shot, written into a new or existing
project (then `roto-studio export` writes it out)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from roto_studio.commands import common
from roto_studio.commands.common import (add_server_arguments, catch_sigint, open_project, open_shot_media,
                                         server_client)

HELP = "Segment an object from clicks, a box or a mask on one frame, and propagate it through the shot."


def add_arguments(parser) -> None:
    parser.add_argument("media", metavar="MEDIA", help="video, image sequence (plate.####.exr), folder or image")
    parser.add_argument("--out", metavar="PROJECT", required=True,
                        help="project folder (NAME.roto) to create, or an existing project to extend")
    parser.add_argument("--backend", choices=("auto", "sam2", "classical", "cutie", "edgetam", "sam3", "grounding-dino"),
                        default="auto",
                        help="auto: SAM 2 when installed with weights, else the classical CPU fallback; "
                             "edgetam: fast propagation; sam3 / grounding-dino: what finds --text")
    parser.add_argument("--object", metavar="NAME",
                        help="object to segment (created if new; default: a new object)")
    parser.add_argument("--frame", metavar="N", type=int,
                        help="plate frame number of the prompt (with --masks: the frame to propagate from)")
    parser.add_argument("--point", metavar="X,Y[,LABEL]", action="append", default=[],
                        help="a click in frame pixels; LABEL 1 = include (default), 0 = exclude; repeat it")
    parser.add_argument("--box", metavar="X1,Y1,X2,Y2", help="a box around the object (may be combined with --point)")
    parser.add_argument("--mask", metavar="PNG", help="the object's mask as a black/white or grey PNG of the frame's size")
    parser.add_argument("--colorspace", metavar="NAME",
                        help="the plate's input colour space (OCIO name), saved with the project; default: "
                             "guessed from the file (see `roto-studio info`)")
    parser.add_argument("--fps", metavar="RATE",
                        help="the shot's frame rate (24, 23.976, 24000/1001), saved with the project; "
                             "default: from the files (EXR framesPerSecond, the video stream), else 24")
    parser.add_argument("--masks", metavar="DIR_OR_PATTERN",
                        help="import a mask or matte sequence made elsewhere (PNG/EXR/TIFF, any bit depth: a "
                             "folder, mask.####.png or one file) as the object's keyframes, by frame number")
    parser.add_argument("--mask-offset", type=int, default=0, metavar="N",
                        help="with --masks: add N to the masks' frame numbers to get the plate's")
    parser.add_argument("--text", metavar="PHRASES",
                        help="find every instance of each phrase (\"person, dog\"): one object per instance")
    parser.add_argument("--min-score", metavar="S", type=float, default=0.5,
                        help="with --text: keep instances scoring at least S (0..1, default 0.5)")
    parser.add_argument("--propagate", choices=("none", "forward", "backward", "both"), default="none",
                        help="then track the object through the shot from frame N (default: none)")
    parser.add_argument("--weights", metavar="PATH",
                        help="a checkpoint file, or a folder holding weights (offline folder)")
    parser.add_argument("--model", metavar="NAME", help="SAM 2 weights to use, e.g. sam2.1-small (default: best present)")
    add_server_arguments(parser)


def _numbers(text: str, what: str, counts: tuple[int, ...]) -> list[float]:
    from roto_studio.core.errors import RotoError

    import math

    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) not in counts or not all(math.isfinite(v) for v in values):  # nan, inf: no numbers
        raise RotoError(f"{what} {text!r} is not {' or '.join({2: 'X,Y', 3: 'X,Y,LABEL', 4: 'X1,Y1,X2,Y2'}[c] for c in counts)}.")
    return values


def _prompt(args, width: int, height: int):
    from roto_studio.core.errors import RotoError
    from roto_studio.core.prompt import Prompt

    if args.mask and (args.point or args.box):
        raise RotoError("give --mask alone, or --point / --box (they cannot be combined with a mask).")
    if not (args.mask or args.point or args.box):
        raise RotoError("give a prompt: --point X,Y (repeatable), --box X1,Y1,X2,Y2 or --mask PNG.")
    prompt = Prompt()
    for text in args.point:
        v = _numbers(text, "--point", (2, 3))
        label = int(v[2]) if len(v) == 3 else 1
        if label not in (0, 1):
            raise RotoError(f"--point {text!r}: LABEL is 1 (include) or 0 (exclude).")
        if not (0 <= v[0] < width and 0 <= v[1] < height):
            raise RotoError(f"--point {text!r} lies outside the {width}x{height} frame.")
        prompt.points.append((v[0], v[1]))
        prompt.labels.append(label)
    if args.box:
        x1, y1, x2, y2 = _numbers(args.box, "--box", (4,))
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        if x2 - x1 < 1 or y2 - y1 < 1 or x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise RotoError(f"--box {args.box!r} is empty or outside the {width}x{height} frame.")
        prompt.box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
    if args.mask:
        prompt.mask = read_mask(args.mask, width, height)
    return prompt


def read_mask(path, width: int, height: int):
    """A black/white or grey PNG (8 or 16 bit; colour is turned grey) as float32 alpha 0..1."""
    import cv2
    import numpy as np

    from roto_studio.core.errors import RotoError

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise RotoError(f"cannot read the mask {path} ({exc.strerror}); check the path.") from None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise RotoError(f"{path} is not an image; give a black/white or grey PNG.")
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    if img.shape != (height, width):
        raise RotoError(f"the mask {Path(path).name} is {img.shape[1]}x{img.shape[0]} but the frame is "
                        f"{width}x{height}; give a mask of the frame's size.")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0 if img.dtype == np.uint8 else 1.0
    return np.clip(img.astype(np.float32) / scale, 0.0, 1.0)


def fps_line(media) -> str:
    from roto_studio.core.framerate import fps_decimal, fps_text

    return f"{fps_decimal(media.fps)} ({fps_text(media.fps)}), {media.fps_note}"


def run(args) -> int:
    if args.masks is not None:
        from roto_studio.commands.segment_masks import run_masks

        return run_masks(args)
    if args.frame is None:
        from roto_studio.core.errors import RotoError

        raise RotoError("give --frame N, the plate frame of the prompt.")
    if args.text is not None:
        from roto_studio.commands.segment_text import run_text

        return run_text(args)
    if args.backend in ("sam3", "grounding-dino"):
        from roto_studio.core.errors import RotoError

        raise RotoError(f"--backend {args.backend} finds objects by name: give --text \"PHRASES\".")
    from roto_studio.core.errors import RotoError
    from roto_studio.models.device import inference_context
    from roto_studio.models.engine import Engine

    project, created = open_project(args.out, args.media)
    with open_shot_media(project, args) as media:
        prompt = _prompt(args, int(media.width), int(media.height))  # bad input: one line, before any note
        numbers = list(media.frame_numbers)
        if args.frame not in set(numbers):
            raise RotoError(f"frame {args.frame} is not in the media (frames {numbers[0]}-{numbers[-1]}); "
                            "give --frame one of them.")
        print(f"frame rate: {fps_line(media)}", file=sys.stderr)
        obj = project.object_by_name(args.object) if args.object else None
        if obj is None:
            obj = project.add_object(args.object)
        client = server_client(args)
        if client is not None:
            from roto_studio.client.remote import remote_engine

            if args.weights:
                raise RotoError("--weights is for models run in this process; the server uses its own weights.")
            engine = remote_engine(project, client, backend=args.backend, model=args.model, media=media)
        else:
            engine = Engine.local(project, backend=args.backend, weights=args.weights, model=args.model, media=media)
        print(f"backend: {engine.describe()}", file=sys.stderr)
        stop = threading.Event()
        old = catch_sigint(stop)
        prompted = False
        try:
            with inference_context(engine.device):
                alpha = engine.prompt(obj.id, args.frame, prompt)
                prompted = True
                project.save()
                print(f"project: {project.folder}{' (new)' if created else ''}")
                print(f"object: {obj.name} ({obj.id})")
                print(f"frame {args.frame}: mask covers {100 * float((alpha >= 0.5).mean()):.1f}% of the frame")
                if args.propagate != "none" and not stop.is_set():
                    result = engine.propagate([obj.id], args.frame, args.propagate,
                                              progress=common.Progress(f"propagating {args.propagate}", "frames", rate=True), cancel=stop.is_set)
                    print(file=sys.stderr)
                    frames = result.written.get(obj.id, [])
                    locked = result.locked.get(obj.id, [])
                    span = f" ({min(frames)}-{max(frames)})" if frames else ""
                    print(f"propagated {args.propagate}: {len(frames)} frames written{span}"
                          + (f", {len(locked)} locked frames left alone" if locked else ""))
                    if result.cancelled:
                        print("roto-studio: stopped; the finished frames were kept.", file=sys.stderr)
                        return 130
        finally:
            if prompted:
                project.save()  # prompts and the frames finished so far
            engine.close()
            if client is not None:
                client.close()
            if old is not None:
                signal.signal(signal.SIGINT, old)
    return 0
