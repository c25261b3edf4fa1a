"""Export file names from templates, and names that files and Nuke layers accept.

A pattern holds `{object}` (or `{project}`) and one frame token:
  `####` (4 digits, zero padded; the number of # sets the padding), `%05d` / `%d`,
  or `{frame}` / `{frame:06d}`. Without an extension the format's extension is added.
"""

from __future__ import annotations

from typing import Callable, Iterable

import re
import unicodedata

from roto_studio.core.errors import ExportError

EXTENSIONS = {"exr": ".exr", "png8": ".png", "png16": ".png", "prores": ".mov", "cryptomatte": ".exr"}
KNOWN_EXTS = {".exr", ".png", ".mov", ".tif", ".tiff", ".jpg", ".jpeg", ".dpx", ".mp4", ".mkv"}

# One frame token: a run of '#', a printf %d with optional zero padding, or {frame[:spec]}.
_FRAME_TOKEN = re.compile(r"(#+)|%(0?\d*)d|\{frame(?::([^{}]*))?\}")
_FIELD = re.compile(r"\{([^{}]*)\}")

# Layer names that Nuke already uses for its own channels.
_NUKE_RESERVED = {"rgba", "rgb", "alpha", "depth", "forward", "backward", "motion", "mask",
                  "mask_extra", "rotopaint_mask", "none", "all", "other"}
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def default_pattern(fmt: str, combined: bool = False) -> str:
    """`{object}.####.exr` style; `{object}.mov` for movies; `{project}` when combined."""
    name = "{project}" if combined or fmt == "cryptomatte" else "{object}"
    if fmt == "prores":
        return name + ".mov"
    return name + ".####" + _ext(fmt)


def _ext(fmt: str) -> str:
    try:
        return EXTENSIONS[fmt]
    except KeyError:
        raise ExportError(f"unknown export format '{fmt}'; use one of: {', '.join(EXTENSIONS)}.") from None


def file_safe(name: str, fallback: str = "object") -> str:
    """A name usable as (part of) a file name on Windows, macOS and Linux."""
    name = unicodedata.normalize("NFC", str(name))
    name = re.sub(r'[\x00-\x1f/\\:*?"<>|]+', "_", name).strip().strip(".").strip()
    name = re.sub(r"\s+", "_", name)
    if not name:
        name = fallback
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        name = "_" + name
    return name


def layer_name(name: str) -> str:
    """A Nuke-friendly EXR layer name: letters, digits, underscore; never starts with a digit."""
    name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    if not name:
        return "obj"
    if name[0].isdigit() or name.lower() in _NUKE_RESERVED:
        name = "obj_" + name
    return name


def unique_names(names: Iterable[str], make: Callable[[str], str] = layer_name) -> list[str]:
    """Apply `make` to each name and make the results unique (case-insensitively): a, a_2, a_3."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        base = make(raw)
        name, n = base, 2
        while name.lower() in seen:
            name = f"{base}_{n}"
            n += 1
        seen.add(name.lower())
        out.append(name)
    return out


def _check_fields(pattern: str) -> None:
    for match in _FIELD.finditer(pattern):
        field = match.group(1)
        key = field.split(":", 1)[0]
        if key not in ("object", "project", "frame"):
            raise ExportError(
                f"the name pattern '{pattern}' has an unknown field {{{field}}}; "
                "use {object}, {project} and a frame token such as ####, %04d or {frame:04d}."
            )
    if pattern.count("{") != pattern.count("}"):
        raise ExportError(f"the name pattern '{pattern}' has unbalanced braces; check the {{ and }}.")


def has_frame_token(pattern: str) -> bool:
    return bool(_FRAME_TOKEN.search(pattern))


def check_pattern(pattern: str, fmt: str, several_objects: bool = False, combined: bool = False) -> str:
    """Return the pattern with its extension, or raise ExportError saying what to change."""
    ext = _ext(fmt)
    if not pattern or not pattern.strip():
        raise ExportError("the name pattern is empty; use e.g. {object}.####" + ext + ".")
    if pattern.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", pattern) or ".." in re.split(r"[/\\]", pattern):
        raise ExportError(f"the name pattern '{pattern}' must be a name inside the output folder; "
                          "choose the folder with --out.")
    _check_fields(pattern)
    tokens = _FRAME_TOKEN.findall(pattern)
    if len(tokens) > 1:
        raise ExportError(f"the name pattern '{pattern}' has more than one frame number token; keep one.")
    if fmt != "prores" and not tokens:
        raise ExportError(f"the name pattern '{pattern}' has no frame number; add #### or %04d "
                          "(e.g. {object}.####" + ext + ").")
    if several_objects and not combined and "{object}" not in pattern:
        raise ExportError(f"the name pattern '{pattern}' has no {{object}}, so objects would overwrite "
                          "each other; add {object} or use --combine.")
    format_name(pattern, "object", 1)  # raises for a bad {frame:spec}
    base = re.split(r"[/\\]", pattern)[-1]
    dot = base.rfind(".")
    current = base[dot:].lower() if dot > 0 else ""
    if current == ext:
        return pattern
    if current in KNOWN_EXTS:
        raise ExportError(f"the name pattern '{pattern}' ends in {current} but the format '{fmt}' "
                          f"writes {ext} files; change the pattern or the format.")
    return pattern + ext


def format_name(pattern: str, object_name: str = "object", frame: int = 1001, project_name: str = "project") -> str:
    """Fill a checked pattern (see check_pattern). Negative frames keep the sign before the digits."""

    def frame_sub(match: re.Match[str]) -> str:
        hashes, printf, spec = match.group(1), match.group(2), match.group(3)
        if hashes is not None:
            return f"{frame:0{len(hashes)}d}"
        if printf is not None:
            return f"%{printf}d" % frame
        try:
            return format(frame, spec or "d")
        except ValueError:
            raise ExportError(f"the frame field {{frame:{spec}}} is not a valid number format; "
                              "use e.g. {frame:04d}.") from None

    out = _FRAME_TOKEN.sub(frame_sub, pattern)
    return out.replace("{object}", object_name).replace("{project}", project_name)


def example_name(pattern: str | None, object_name: str, frame: int, fmt: str,
                 combined: bool = False, project_name: str = "project") -> str:
    """The file name an export would write, for a live preview in the export dialog.

    Raises ExportError (with the message to show) for a pattern that cannot be used.
    """
    combined = combined or fmt == "cryptomatte"  # one file holds every object
    pattern = check_pattern(pattern or default_pattern(fmt, combined), fmt, combined=combined)
    obj = "all" if combined else file_safe(object_name)
    return format_name(pattern, obj, frame, file_safe(project_name, "project"))
