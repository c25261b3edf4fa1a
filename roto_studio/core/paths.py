"""The user folders Roto Studio writes to besides the weights (models/weights/store.py owns that one):
new projects and the cache. Env variables override the platform's user folders."""

from __future__ import annotations

import os
from pathlib import Path


def projects_dir() -> Path:
    """Where new projects go: $ROTO_PROJECTS_DIR, else <user data folder>/roto-studio/projects."""
    env = os.environ.get("ROTO_PROJECTS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("roto-studio", appauthor=False)) / "projects"


def cache_dir() -> Path:
    """The user cache folder (the generated sample shot lives there)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("roto-studio"))
