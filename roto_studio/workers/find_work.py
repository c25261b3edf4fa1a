"""Finding objects by name for the window, run in the model thread (ModelService.call): the text
finder is built once per engine (SAM 3, or Grounding DINO with the engine's SAM 2) and kept with
it; the answer is what was found, never a change to the project (the window makes the objects as
one undo step). No Qt here."""

from __future__ import annotations


def finder_for(engine):
    """The engine's text finder, built on first use (auto: what is downloaded)."""
    finder = engine.helpers.get("text_finder")
    if finder is None and engine.server_session is not None:
        from roto_studio.client.remote import RemoteTextFinder  # the server finds them

        finder = RemoteTextFinder(engine.server_session)
        engine.helpers["text_finder"] = finder
    if finder is None:
        from roto_studio.models.text import backends as text_backends

        plan = text_backends.choose("auto")
        image = engine.image if plan.name == "grounding-dino" else None
        finder = text_backends.build(plan, image_segmenter=image, device=engine.plan.device)
        finder.plan = plan
        engine.helpers["text_finder"] = finder
    return finder


def find_on_frame(engine, frame: int, phrases, min_score: float = 0.5):
    """[(phrase, alpha, score)] of every instance of each phrase on `frame`, and what found them."""
    finder = finder_for(engine)
    frame = engine.check_frame(frame)
    image = engine.media.read(frame)
    engine.guarded(lambda: finder.set_image(image, key=engine.image_key(frame)))
    found = engine.guarded(lambda: finder.find(list(phrases), min_score))
    return {"frame": frame, "found": [(f.phrase, f.alpha, f.score) for f in found],
            "backend": finder.plan.describe() if hasattr(finder, "plan") else f"{finder.describe} [server]"}


def tracker_for(engine):
    """SAM 3 video for tracking phrases through the shot (built once per engine), or None when
    SAM 3 is not installed (the window then finds on this frame and propagates instead)."""
    tracker = engine.helpers.get("text_tracker")
    if tracker is not None:
        return tracker
    if engine.server_session is not None:
        from roto_studio.client.remote_text import RemoteTextTracker

        tracker = RemoteTextTracker(engine.server_session)
    else:
        from roto_studio.models.text import backends as text_backends

        plan = text_backends.choose("auto")
        if plan.name != "sam3":
            return None
        tracker = text_backends.build_video(plan, device=engine.plan.device, spill_dir=engine.spill_dir)
    engine.helpers["text_tracker"] = tracker
    return tracker


def track_text(engine, progress, cancelled, phrases, start: int, direction: str, stop, min_score: float,
               taken_ids):
    """Model thread (ModelService.job): SAM 3 video follows `phrases` from `start`; every instance
    (also one that appears later) gets a fresh object id not in `taken_ids`, and its masks are
    written to the mask store under it. The objects themselves are made by the window (the GUI
    thread owns the project). Returns {"created": [(obj_id, phrase, first frame)], "written":
    {obj_id: [frames]}} or {"fallback": True} without SAM 3."""
    import numpy as np

    from roto_studio.models.propagation import PropagationResult, run_steps

    tracker = tracker_for(engine)
    if tracker is None:
        return {"fallback": True}
    taken = set(taken_ids)
    masks = engine.project.masks

    def fresh_id(phrase: str, frame: int, alpha: np.ndarray) -> str:
        """A new id, its first mask stored; the project's objects are left to the window."""
        n = 1
        while f"trk{n}" in taken:
            n += 1
        taken.add(f"trk{n}")
        masks.set(f"trk{n}", frame, alpha)
        return f"trk{n}"

    result = PropagationResult()
    steps = engine.track_steps(tracker, phrases, start, direction, stop, min_score, new_object=fresh_id,
                               result=result)
    run_steps(steps, result, progress, cancelled)
    created = [(oid, phrase, first) for oid, (phrase, first) in result.created.items()]
    return {"created": created, "written": {oid: list(result.written[oid]) for oid, _, _ in created}}
