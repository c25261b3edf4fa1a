"""Finding objects by name for the window, run in the model thread (ModelService.call): the text
finder is built once per engine (SAM 3, or Grounding DINO with the engine's SAM 2) and kept with
it; the answer is what was found, never a change to the project (the window makes the objects as
one undo step). No Qt here."""

from __future__ import annotations


def finder_for(engine):
    """The engine's text finder, built on first use (auto: what is downloaded)."""
    finder = getattr(engine, "_roto_text_finder", None)
    if finder is None and getattr(engine.backends, "remote", False):
        from roto_studio.client.remote import RemoteTextFinder  # the server finds them

        finder = RemoteTextFinder(engine.backends.session)
        engine._roto_text_finder = finder
    if finder is None:
        from roto_studio.models import text_backends

        plan = text_backends.choose("auto")
        image = engine.image if plan.name == "grounding-dino" else None
        finder = text_backends.build(plan, image_segmenter=image, device=engine.plan.device)
        finder.plan = plan
        engine._roto_text_finder = finder
    return finder


def find_on_frame(engine, frame: int, phrases, min_score: float = 0.5):
    """[(phrase, alpha, score)] of every instance of each phrase on `frame`, and what found them."""
    finder = finder_for(engine)
    frame = engine._check_frame(frame)
    image = engine.media.read(frame)
    engine._run(lambda: finder.set_image(image, key=engine.image_key(frame)))
    found = engine._run(lambda: finder.find(list(phrases), min_score))
    return {"frame": frame, "found": [(f.phrase, f.alpha, f.score) for f in found],
            "backend": finder.plan.describe() if hasattr(finder, "plan") else f"{finder.describe} [server]"}
