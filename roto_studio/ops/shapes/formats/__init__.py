"""The shape files compositors read, and our reader of each (pure code, no Qt).

write(doc, out, fmt) writes one format; read(path) reads any of them back into a ShapeDoc
(the .nk, .fxs, .setting and .jsx readers read what our writers write, for checks and round
trips; JSON is the documented exchange format).
"""

from __future__ import annotations

from pathlib import Path

from roto_studio.core.errors import RotoError

FORMATS = ("nuke", "silhouette", "fusion", "ae", "svg", "json")
EXTENSIONS = {"nuke": ".nk", "silhouette": ".fxs", "fusion": ".setting", "ae": ".jsx", "svg": ".svg",
              "json": ".json"}


def output_path(out, fmt: str, project_name: str = "shapes") -> Path:
    """The file (or, for SVG, the first frame's name pattern) `out` stands for."""
    out = Path(out)
    ext = EXTENSIONS[fmt]
    if fmt == "svg":
        if out.suffix.lower() == ".svg":
            return out
        return out / f"{project_name}.####.svg"
    if out.is_dir() or not out.suffix:
        if out.is_dir() or str(out).endswith(("/", "\\")):
            return out / f"{project_name}{ext}"
        return out.with_suffix(ext)
    return out


def write(doc, out, fmt: str, project_name: str = "shapes") -> list[Path]:
    """Write `doc` as `fmt` at `out`; returns the files written."""
    if fmt not in FORMATS:
        raise RotoError(f"unknown shapes format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    path = output_path(out, fmt, project_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        from .json_svg import write_json
        return [write_json(doc, path)]
    if fmt == "svg":
        from .json_svg import write_svgs
        return write_svgs(doc, path)
    if fmt == "nuke":
        from .nuke import write_nk
        return write_nk(doc, path)
    if fmt == "silhouette":
        from .silhouette import write_fxs
        return [write_fxs(doc, path)]
    if fmt == "fusion":
        from .fusion import write_setting
        return [write_setting(doc, path)]
    from .ae import write_jsx
    return [write_jsx(doc, path)]


def read(path):
    """A ShapeDoc from any file `write` makes (SVG: one frame's file, or its pattern)."""
    path = Path(path)
    ext = path.suffix.lower()
    try:
        if ext == ".json":
            from .json_svg import read_json
            return read_json(path)
        if ext == ".svg":
            from .json_svg import read_svg
            return read_svg(path)
        if ext == ".nk":
            from .nuke import read_nk
            return read_nk(path)
        if ext == ".fxs":
            from .silhouette import read_fxs
            return read_fxs(path)
        if ext == ".setting":
            from .fusion import read_setting
            return read_setting(path)
        if ext == ".jsx":
            from .ae import read_jsx
            return read_jsx(path)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise RotoError(f"cannot read the shapes in {path}: {exc}; export them again.") from None
    raise RotoError(f"{path} is not a shapes file roto-studio writes (.json, .svg, .nk, .fxs, .setting, .jsx).")
