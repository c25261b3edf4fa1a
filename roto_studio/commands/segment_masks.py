"""`roto-studio segment MEDIA --out PROJECT --masks DIR_OR_PATTERN [--object NAME] [--mask-offset N]
[--propagate DIR --frame N]`: another tool's mask sequence as an object's keyframes
(ops.mask_import), optionally propagated from one of them."""

from __future__ import annotations

import sys


def run_masks(args) -> int:
    from roto_studio.commands import common
    from roto_studio.core.errors import RotoError
    from roto_studio.ops.mask_import import find_masks, match_frames, read_masks, store_keyframes

    if args.point or args.box or args.mask or args.text is not None:
        raise RotoError("give --masks alone, without --point, --box, --mask or --text.")
    project, created = common.open_project(args.out, args.media)
    with common.open_shot_media(project, args) as media:
        plan = match_frames(find_masks(args.masks), media.frame_numbers, args.mask_offset)
        alphas = read_masks(plan, int(media.width), int(media.height))
        obj = project.object_by_name(args.object) if args.object else None
        if obj is None:
            obj = project.add_object(args.object)
        written = store_keyframes(project, obj.id, alphas)
        project.save()
        print(f"project: {project.folder}{' (new)' if created else ''}")
        print(f"object: {obj.name} ({obj.id})")
        span = f" ({min(written)}-{max(written)})" if written else ""
        print(f"imported {len(written)} masks as keyframes{span}"
              + (f"; {len(plan.outside)} mask frames have no plate frame and were left out" if plan.outside else "")
              + (f"; {len(alphas) - len(written)} locked frames left alone" if len(alphas) > len(written) else ""))
        if args.propagate == "none":
            return 0
        if args.frame is None or args.frame not in alphas:
            raise RotoError("with --masks, --propagate needs --frame N, one of the imported frames to track from.")
        import threading

        from roto_studio.models.device import inference_context
        from roto_studio.models.engine import Engine

        engine = Engine.local(project, backend=args.backend, weights=args.weights, model=args.model, media=media)
        stop = threading.Event()
        old = common.catch_sigint(stop)
        try:
            with inference_context(engine.device):
                result = engine.propagate([obj.id], args.frame, args.propagate,
                                          progress=common.Progress(f"propagating {args.propagate}", "frames", rate=True), cancel=stop.is_set)
            print(file=sys.stderr)
            frames = result.written.get(obj.id, [])
            print(f"propagated {args.propagate}: {len(frames)} frames written")
        finally:
            project.save()
            engine.close()
            if old is not None:
                import signal

                signal.signal(signal.SIGINT, old)
    return 0
