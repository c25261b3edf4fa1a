"""The models part of an export's provenance (core.provenance writes the rest): the tracking
backend the shot is set to and, when a matte stage ran, the matting backend, each with its
registry revision and the sha256 of its weights files (the published pin, else the hash recorded
at download). Nothing here loads a model; a backend that cannot be resolved is recorded by name.
"""

from __future__ import annotations

from typing import Any


def _weights(spec) -> list[dict]:
    from roto_studio.models.weights import store as wmod

    out = []
    folder = None
    try:
        main = wmod.find(spec.name)
        folder = main.parent if main is not None else None
    except Exception:  # noqa: BLE001 - a broken install is still recorded by name
        folder = None
    for f in spec.files:
        sha = f.sha256
        if sha is None and folder is not None:
            sha = wmod.recorded_sha256(folder / f.path)
        out.append({"file": f.path, "sha256": sha})
    return out


def _entry(role: str, name: str, model: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role, "name": name, "model": model, "revision": None, "repo": None, "weights": []}
    if model:
        try:
            from roto_studio.models.weights import registry

            spec = registry.get(model)
        except Exception:  # noqa: BLE001
            return entry
        entry.update(revision=spec.revision, repo=spec.repo_id, weights=_weights(spec))
    return entry


def model_entries(project, matte_backend: str | None = None) -> list[dict]:
    """[{role, name, model, revision, repo, weights: [{file, sha256}]}] for the shot's models."""
    out = []
    backend = (getattr(project, "settings", {}) or {}).get("backend") or "auto"
    try:
        from roto_studio.models.backends import choose

        plan = choose(backend)
        name, model = plan.name, plan.model
        if plan.random:
            model = None
            name += " (random weights)"
    except Exception:  # noqa: BLE001 - not resolvable here (missing package or weights)
        name, model = backend, None
    out.append(_entry("tracking", name, model))
    if matte_backend:
        model = None
        name = matte_backend
        try:
            from roto_studio.models.matting.vitmatte import find_weights

            if matte_backend in ("auto", "vitmatte"):
                found = find_weights()
                name, model = ("vitmatte", found[0]) if found else ("classical", None)
        except Exception:  # noqa: BLE001
            pass
        out.append(_entry("matting", name, model))
    return out
