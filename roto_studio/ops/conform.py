"""Shots from an edit: a CMX 3600 EDL, an FCP XML or an OpenTimelineIO file read through
OpenTimelineIO and its adapters, one project per video clip, its media found under a root folder.

A clip's source range (source timecode in the edit) is placed on the plate's own frame numbers:
through an OTIO image sequence reference (its start frame), else the plate's start timecode (a
movie's `timecode` tag), else the media reference's available range (its first frame is the
plate's first), else the timecode read as a frame count when that lies inside the plate (plates
numbered by timecode). Handles widen the range each side, clamped to the plate. The project
keeps the range in `settings["shot_range"]` (core.project restricts the media to it, so render,
batch and the window see only the shot) and the edit event in `settings["edit"]`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from roto_studio.core.errors import RotoError

ADAPTERS = {".edl": "cmx_3600", ".xml": "fcp_xml", ".fcpxml": "fcp_xml", ".otio": "otio_json"}
VIDEO_EXTS = {".mov", ".mp4", ".mxf", ".mkv", ".avi", ".m4v", ".webm"}
IMAGE_EXTS = {".exr", ".png", ".tif", ".tiff", ".dpx", ".jpg", ".jpeg"}
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass
class Shot:
    name: str  # the project's name (from the clip name, else the reel, else the event)
    clip: str
    reel: str | None
    event: int
    source_in: int  # source timecode as frames at the edit rate, first frame
    source_out: int  # exclusive
    record_in: int
    media: str | None = None  # the plate (a file or a sequence pattern)
    first: int | None = None  # plate frames, handles included
    last: int | None = None
    cut: tuple[int, int] | None = None  # plate frames of the cut itself
    clamped: bool = False  # handles cut short by the plate's ends
    fps_assumed: bool = False  # the plate gives no frame rate: the project takes the edit's
    problem: str | None = None
    project: Path | None = None

    def placed(self) -> tuple[str, int, int, tuple[int, int]]:
        """(media, first, last, cut) of a shot placed on its plate (cut is set); ValueError otherwise."""
        if self.media is None or self.first is None or self.last is None or self.cut is None:
            raise ValueError(f"the shot {self.name} is not placed on a plate")
        return self.media, self.first, self.last, self.cut


@dataclass
class Conform:
    edit: str
    rate: float
    shots: list[Shot] = field(default_factory=list)
    overlaps: list[tuple[str, str, int, int]] = field(default_factory=list)  # shot, shot, first, last

    @property
    def missing(self) -> list[Shot]:
        return [s for s in self.shots if s.media is None]

    @property
    def failed(self) -> list[Shot]:
        return [s for s in self.shots if s.problem]


def _otio():
    try:
        import opentimelineio as otio
    except ImportError:
        raise RotoError("conform needs OpenTimelineIO (the optional extra `pipeline`): "
                        "pip install 'roto-studio[pipeline]'.") from None
    return otio


def read_edit(path, rate: float = 24.0):
    """The edit as an OTIO timeline (EDL at `rate`; FCP XML and .otio carry their own)."""
    otio = _otio()
    path = Path(path)
    adapter = ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        raise RotoError(f"{path.name} is not an edit conform reads; give a CMX 3600 .edl, an FCP .xml "
                        "or an OpenTimelineIO .otio file.")
    if not path.is_file():
        raise RotoError(f"no edit at {path}; check the path.")
    kwargs = {"rate": rate} if adapter == "cmx_3600" else {}
    try:
        timeline = otio.adapters.read_from_file(str(path), adapter_name=adapter, **kwargs)
    except Exception as exc:  # noqa: BLE001 - adapters raise many kinds for a bad file
        raise RotoError(f"cannot read the edit {path.name} ({str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__}); "
                        "check that it is a valid file of its kind.") from None
    return timeline


def _media_index(root: Path) -> dict[str, list[str]]:
    """{lower-case name: [media]}: movies by stem, sequences by prefix and by their folder's name."""
    index: dict[str, list[str]] = {}

    def add(key: str, media: str) -> None:
        key = key.strip(" ._-").lower()
        if key and media not in index.setdefault(key, []):
            index[key].append(media)

    for folder, dirs, files in os.walk(root):
        dirs.sort()
        groups: dict[tuple[str, str, int], int] = {}
        for name in sorted(files):
            ext = os.path.splitext(name)[1].lower()
            if ext in VIDEO_EXTS:
                add(os.path.splitext(name)[0], os.path.join(folder, name))
                continue
            m = _NUMBERED.match(name)
            if m and ext in IMAGE_EXTS:
                key = (m["prefix"], m["suffix"], len(m["digits"]))
                groups[key] = groups.get(key, 0) + 1
        for (prefix, suffix, pad), count in groups.items():
            pattern = os.path.join(folder, f"{prefix}{'#' * pad}{suffix}")
            add(prefix, pattern)
            add(os.path.basename(folder), pattern)
    return index


def _reference_names(clip) -> list[str]:
    names = []
    ref = clip.media_reference
    url = getattr(ref, "target_url", None) or getattr(ref, "target_url_base", None)
    if url:
        base = os.path.basename(str(url).rstrip("/").replace("file://", ""))
        names.append(os.path.splitext(base)[0])
        names.append(re.sub(r"[._]?(#+|%0?\d*d|\d+)$", "", os.path.splitext(base)[0]))
    prefix = getattr(ref, "name_prefix", None)
    if prefix:
        names.append(prefix)
    return names


def _find_media(index, root: Path, clip, reel) -> str | None:
    ref = clip.media_reference
    url = getattr(ref, "target_url", None)
    if url:  # an absolute or root-relative path that exists is taken as is
        p = Path(str(url).replace("file://", ""))
        for cand in (p, root / p):
            if cand.exists():
                return str(cand)
    for name in [*_reference_names(clip), clip.name, reel]:
        if name:
            found = index.get(str(name).strip(" ._-").lower())
            if found:
                return found[0]
    return None


def _start_timecode(media_path: str, rate: float) -> int | None:
    """A movie's start timecode as frames (its `timecode` tag), else None."""
    if os.path.splitext(media_path)[1].lower() not in VIDEO_EXTS:
        return None
    try:
        import av

        otio = _otio()
        with av.open(media_path) as container:
            tags = dict(container.metadata)
            for stream in container.streams:
                tags.update({k: v for k, v in stream.metadata.items() if k == "timecode"})
        tc = tags.get("timecode")
        return int(otio.opentime.from_timecode(tc, rate).value) if tc else None
    except Exception:  # noqa: BLE001 - no readable timecode
        return None


def _place(shot: Shot, clip, media, rate: float) -> int | None:
    """The plate frame of the clip's first source frame, or None when it cannot be placed."""
    assert shot.media is not None  # plan() places only the shots whose media it found
    otio = _otio()
    ref = clip.media_reference
    avail = getattr(ref, "available_range", None)
    if isinstance(ref, otio.schema.ImageSequenceReference) and avail is not None:
        start = int(round(avail.start_time.rescaled_to(rate).value))
        return int(ref.start_frame) + shot.source_in - start
    tc = _start_timecode(shot.media, rate)
    if tc is not None:
        return media.frame_numbers[0] + shot.source_in - tc
    if avail is not None and avail.duration.value > 0:
        start = int(round(avail.start_time.rescaled_to(rate).value))
        return media.frame_numbers[0] + shot.source_in - start
    if media.frame_numbers[0] <= shot.source_in <= media.frame_numbers[-1]:
        return shot.source_in  # plate numbered by timecode
    return None


def _unique(name: str, taken: set[str]) -> str:
    base, n = name, 2
    while name.lower() in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name.lower())
    return name


def plan(edit_path, media_root, handles: int = 0, rate: float = 24.0) -> Conform:
    """The shots of the edit with their media and plate ranges (nothing written)."""
    from roto_studio.core.export.naming import file_safe
    from roto_studio.core.media import open_media

    if handles < 0:
        raise RotoError("--handles cannot be negative.")
    root = Path(media_root).expanduser().resolve()
    if not root.is_dir():
        raise RotoError(f"the media root {root} is not a folder; give the folder that holds the plates.")
    otio = _otio()
    timeline = read_edit(edit_path, rate)
    result = Conform(Path(edit_path).name, rate)
    index = _media_index(root)
    taken: set[str] = set()
    event = 0
    for track in timeline.video_tracks():
        for clip in track.find_clips():
            event += 1
            src = clip.source_range or clip.trimmed_range()
            edit_rate = src.start_time.rate or rate
            reel = ((clip.metadata or {}).get("cmx_3600") or {}).get("reel")
            start = int(round(src.start_time.rescaled_to(edit_rate).value))
            length = int(round(src.duration.rescaled_to(edit_rate).value))
            record = int(round(clip.range_in_parent().start_time.rescaled_to(edit_rate).value))
            label = clip.name or reel or f"event{event:03d}"
            shot = Shot(_unique(file_safe(label, f"event{event:03d}"), taken), clip.name or "", reel, event,
                        start, start + length, record)
            result.shots.append(shot)
            shot.media = _find_media(index, root, clip, reel)
            if shot.media is None:
                shot.problem = f"no media found under {root} for {label!r}"
                continue
            try:
                with open_media(shot.media, cache_bytes=16 * 2**20) as media:
                    first = _place(shot, clip, media, edit_rate)
                    if first is None:
                        shot.problem = (f"cannot place source {otio.opentime.to_timecode(otio.opentime.RationalTime(start, edit_rate))} "
                                        f"on {Path(shot.media).name} (frames {media.frame_numbers[0]}-"
                                        f"{media.frame_numbers[-1]}, no timecode)")
                        continue
                    cut = (first, first + length - 1)
                    lo, hi = media.frame_numbers[0], media.frame_numbers[-1]
                    if cut[0] > hi or cut[1] < lo:
                        shot.problem = f"its source frames {cut[0]}-{cut[1]} are outside {Path(shot.media).name} ({lo}-{hi})"
                        continue
                    shot.cut = cut
                    shot.fps_assumed = getattr(media, "fps_source", "") == "assumed"
                    shot.first, shot.last = max(lo, cut[0] - handles), min(hi, cut[1] + handles)
                    shot.clamped = shot.first > cut[0] - handles or shot.last < cut[1] + handles
            except RotoError as exc:
                shot.problem = f"{Path(shot.media).name} cannot be opened ({str(exc).rstrip('.')})"
    placed = [s for s in result.shots if s.cut is not None]
    for i, a in enumerate(placed):
        a_media, a_first, a_last, _ = a.placed()
        for b in placed[i + 1:]:
            b_media, b_first, b_last, _ = b.placed()
            if a_media == b_media and a_first <= b_last and b_first <= a_last:
                result.overlaps.append((a.name, b.name, max(a_first, b_first), min(a_last, b_last)))
    return result


def write_projects(result: Conform, out_dir, handles: int, edit_path) -> list[Path]:
    """One project per placed shot in `out_dir` (NAME.roto); a shot whose project exists is an error."""
    from roto_studio.core.project import PROJECT_FILE, create_project

    otio = _otio()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    placed = [s for s in result.shots if s.cut is not None]
    clash = [s.name for s in placed if (out / f"{s.name}.roto" / PROJECT_FILE).exists()]
    if clash:
        raise RotoError(f"{out} already holds projects for {', '.join(clash[:5])}; choose another --out "
                        "or remove them.")

    def tc(frames: int) -> str:
        return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, result.rate), result.rate)

    written = []
    for s in placed:
        media, first, last, cut = s.placed()
        project = create_project(out / f"{s.name}.roto", media)
        project.settings["shot_range"] = [first, last]
        project.settings["range"] = list(cut)  # the window's play range: the cut
        if s.fps_assumed:
            from fractions import Fraction

            project.set_fps(Fraction(result.rate).limit_denominator(1001))
        project.settings["edit"] = {
            "file": str(Path(edit_path).resolve()), "event": s.event, "clip": s.clip, "reel": s.reel,
            "source_in": tc(s.source_in), "source_out": tc(s.source_out), "record_in": tc(s.record_in),
            "handles": handles, "cut": list(cut), "clamped": s.clamped,
        }
        s.project = project.save().parent
        written.append(s.project)
    return written


def summary(result, handles: int) -> str:
    """The conform's result as lines an artist reads: each shot placed or skipped, the overlaps, a count."""
    lines = []
    for s in result.shots:
        if s.problem:
            lines.append(f"{s.name}: skipped, {s.problem}")
            continue
        note = " (handles cut short by the plate)" if s.clamped else ""
        lines.append(f"{s.name}: {s.media} frames {s.first}-{s.last} (cut {s.cut[0]}-{s.cut[1]}, "
                     f"handles {handles}){note}" + (f" -> {s.project}" if s.project else ""))
    for a, b, first, last in result.overlaps:
        lines.append(f"overlap: {a} and {b} share plate frames {first}-{last}")
    made = sum(1 for s in result.shots if s.cut is not None)
    lines.append(f"{len(result.shots)} shots in {result.edit}: {made} placed, {len(result.missing)} without media, "
                 f"{len(result.failed) - len(result.missing)} not placed, {len(result.overlaps)} overlaps")
    return "\n".join(lines)
