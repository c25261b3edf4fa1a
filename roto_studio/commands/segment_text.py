"""`roto-studio segment ... --text "person, dog" [--min-score S]`: one object per instance of each
phrase on frame N, then (optionally) propagation as for clicked objects. With `--backend sam3` and
`--propagate forward|backward`, SAM 3 video tracks the phrases instead, and instances that appear
later in the shot become new objects too. With `--server`, the server finds them (and propagates,
or tracks them with SAM 3 video); the project is written here."""

from __future__ import annotations

import signal
import sys
import threading


def run_text(args) -> int:
    from roto_studio.commands import common
    from roto_studio.core.errors import RotoError
    from roto_studio.models.text import backends as text_backends
    from roto_studio.models.device import inference_context
    from roto_studio.models.engine import Engine
    from roto_studio.models.text.find import split_phrases

    if args.point or args.box or args.mask:
        raise RotoError("give --text alone, or --point / --box / --mask (they cannot be combined).")
    if args.object:
        raise RotoError("--text names its objects after the phrases (\"person 1\"); leave out --object.")
    phrases = split_phrases(args.text)
    if not phrases:
        raise RotoError("--text is empty; give phrases separated by commas, e.g. --text \"person, dog\".")
    if not 0.0 <= args.min_score <= 1.0:
        raise RotoError(f"--min-score {args.min_score} must lie between 0 and 1.")
    text_name = args.backend if args.backend in ("sam3", "grounding-dino") else "auto"
    prop_name = "auto" if text_name != "auto" else args.backend
    client = common.server_client(args)
    if client is None:
        plan = text_backends.choose(text_name, args.weights)
        print(f"text backend: {plan.describe()}", file=sys.stderr)
        video_text = plan.name == "sam3" and args.backend == "sam3" and args.propagate != "none"
        engine_weights = None if plan.folder is not None and args.weights and plan.folder == _path(args.weights) \
            else args.weights
    else:
        if args.weights:
            raise RotoError("--weights is for models run in this process; the server uses its own weights.")
        plan, video_text = None, args.backend == "sam3" and args.propagate != "none"
    project, created = common.open_project(args.out, args.media)
    with common.open_shot_media(project, args) as media:
        if client is not None:
            from roto_studio.client.remote import remote_engine

            engine = remote_engine(project, client, backend=prop_name, model=args.model, media=media)
        else:
            engine = Engine.local(project, backend=prop_name, weights=engine_weights, model=args.model, media=media)
        stop = threading.Event()
        old = common.catch_sigint(stop)
        try:
            with inference_context(engine.device):
                print(f"project: {project.folder}{' (new)' if created else ''}")
                if video_text:
                    return _track(engine, plan, phrases, args, stop)
                print(f"backend: {engine.describe()}", file=sys.stderr)
                if plan is None:  # --server: the server finds them
                    from roto_studio.client.remote import RemoteTextFinder

                    finder = RemoteTextFinder(engine.server_session, text_name)
                else:
                    image = engine.image if plan.name == "grounding-dino" else None
                    finder = text_backends.build(plan, image_segmenter=image, device=engine.plan.device)
                made = text_backends.find_objects(engine, finder, args.frame, phrases, args.min_score)
                if client is not None:
                    print(f"text backend: {finder.describe} [server]", file=sys.stderr)
                project.save()
                _report(project, made, phrases, args)
                if made and args.propagate != "none" and not stop.is_set():
                    ids = [oid for oid, _ in made]
                    result = engine.propagate(ids, args.frame, args.propagate, cancel=stop.is_set,
                                              progress=common.Progress(f"propagating {args.propagate}", "frames", rate=True))
                    print(file=sys.stderr)
                    project.save()
                    print(f"propagated {args.propagate}: {result.count} masks written for {len(ids)} objects")
                    if result.cancelled:
                        print("roto-studio: stopped; the finished frames were kept.", file=sys.stderr)
                        return 130
        finally:
            project.save()
            engine.close()
            if old is not None:
                signal.signal(signal.SIGINT, old)
    return 0


def _path(p):
    from pathlib import Path

    return Path(p)


def _report(project, made, phrases, args) -> None:
    if not made:
        print(f"no instances of {', '.join(phrases)} scored at least {args.min_score} on frame {args.frame}.",
              file=sys.stderr)
    for oid, item in made:
        cover = 100 * float((item.alpha >= 0.5).mean())
        print(f"object: {project.object(oid).name} ({oid}) score {item.score:.3f}, "
              f"mask covers {cover:.1f}% of frame {args.frame}")


def _track(engine, plan, phrases, args, stop) -> int:
    from roto_studio.commands import common
    from roto_studio.models.propagation import PropagationResult, run_steps
    from roto_studio.models.text import backends as text_backends

    if plan is None:  # --server: the server's SAM 3 video
        from roto_studio.client.remote_text import RemoteTextTracker

        tracker = RemoteTextTracker(engine.server_session)
    else:
        tracker = text_backends.build_video(plan, device=engine.plan.device, spill_dir=engine.spill_dir)
    where = f" [server {engine.backends.client.url}]" if plan is None else ""
    print(f"backend: SAM 3 video (phrases tracked through the shot){where}", file=sys.stderr)
    result = PropagationResult()
    steps = engine.track_steps(tracker, phrases, args.frame, args.propagate, min_score=args.min_score, result=result)
    run_steps(steps, result, common.Progress(f"tracking {args.propagate}", "frames", rate=True), stop.is_set)
    print(file=sys.stderr)
    project = engine.project
    for oid, (phrase, first) in result.created.items():
        print(f"object: {project.object(oid).name} ({oid}) from frame {first}, "
              f"{len(result.written[oid])} frames")
    if not result.created:
        print(f"no instances of {', '.join(phrases)} found.", file=sys.stderr)
    print(f"tracked {args.propagate}: {result.count} masks written for {len(result.created)} objects")
    if result.cancelled:
        print("roto-studio: stopped; the finished frames were kept.", file=sys.stderr)
        return 130
    return 0
