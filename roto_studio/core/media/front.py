"""The `Media` front end (one shot, frames by frame number, thread-safe, cached) and `open_media`,
which picks the backend for a video, a sequence pattern, a folder or a still."""

from __future__ import annotations

from typing import Any

import operator
import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from roto_studio.core import colour
from roto_studio.core.errors import MediaError
from roto_studio.core.media.cache import FrameCache
from roto_studio.core.media.files import IMAGE_EXTENSIONS, MiB, fraction_text, frame_ranges, read_bytes, stat_file
from roto_studio.core.media.images import ImageFrames, sniff_kind
from roto_studio.core.media.patterns import (
    SequencePattern, groups_in_folder, list_folder, pattern_from_group, still_frame_number, parse_pattern,
)
from roto_studio.core.media.video import VideoFrames

class Media:
    """One shot: frames addressed by frame number (plate numbers for sequences, 0.. for video).

    Thread-safe: reads from several threads are serialised around the decoder; the frame
    cache is shared.
    """

    def __init__(self, path: str | os.PathLike[str], backend: Any, frame_numbers: list[int], missing: list[int],
                 cache_bytes: int, pattern: str | None = None, colour_options: dict[str, Any] | None = None):
        self.path = str(path)
        self._backend = backend
        self.kind = backend.kind
        self.width = int(backend.width)
        self.height = int(backend.height)
        self.frame_numbers = list(frame_numbers)
        self._frame_set = set(self.frame_numbers)
        self.frame_count = len(self.frame_numbers)
        self.first_frame = self.frame_numbers[0]
        self.last_frame = self.frame_numbers[-1]
        self.missing_frames = list(missing)
        self.fps = Fraction(backend.fps)
        # where the rate comes from: 'stream' (video), 'exr' (framesPerSecond), 'assumed' (24,
        # nothing in the files) or 'set' (the user's, set_fps)
        self.fps_source = getattr(backend, "fps_source", "stream")
        self.variable_frame_rate = bool(getattr(backend, "variable_frame_rate", False))
        self.pixel_format = backend.pixel_format
        self.bit_depth = int(backend.bit_depth)
        self.sample = getattr(backend, "sample", None)  # image files: u8 | u16 | f16 | f32 | u32
        self.pattern = pattern
        self.warnings = list(getattr(backend, "warnings", []))
        self.cache = FrameCache(cache_bytes)
        self._lock = threading.RLock()
        self._closed = False
        self.colour_facts = backend.colour_facts()
        self.configure_colour(**(colour_options or {}))

    # colour ------------------------------------------------------------------------------

    def configure_colour(self, config: Any = None, colorspace: str | None = None, display: str | None = None,
                         view: str | None = None) -> None:
        """Set the OCIO config (a Config, a saved name or None), the input colour space (None = the
        guess from the file) and the display/view that read() returns. Alpha is never changed."""
        cfg = config if isinstance(config, colour.Config) else colour.load_config(config)
        guess = colour.guess_colorspace(cfg, self.colour_facts)
        if colorspace:
            name = cfg.check_space(colorspace)
            reason = "chosen" + ("" if name == guess.name else f" (the file suggests {guess.name}: {guess.reason})")
        elif guess.name is None:
            raise colour.ColourError(f"the OCIO config {cfg.name} has no colour space for this file "
                                     f"({guess.reason}); choose the input colour space.")
        else:
            name, reason = guess.name, guess.reason
        current = getattr(self, "view", None)
        display_view = colour.DisplayView(cfg, name, display or (current.display if current else None),
                                          view or (current.view if current else None))
        with self._lock:
            self.colour_config, self.colorspace, self.colorspace_reason = cfg, name, reason
            self.view = display_view
            self.cache.clear()

    def set_view(self, view: "colour.DisplayView") -> None:
        """Show frames through another display/view (its colour space becomes the shot's)."""
        with self._lock:
            if view.space != self.colorspace:
                self.colorspace, self.colorspace_reason = view.space, "chosen"
            self.colour_config, self.view = view.config, view
            self.cache.clear()

    def set_fps(self, fps: Fraction | float | str | None) -> None:
        """Use the user's frame rate (a Fraction, or text such as '23.976'); None goes back to the
        files' rate."""
        if fps is None or fps == "":
            self.fps = Fraction(self._backend.fps)
            self.fps_source = getattr(self._backend, "fps_source", "stream")
            return
        from roto_studio.core.framerate import fps_text, parse_fps

        self.fps = parse_fps(fps if isinstance(fps, str) else fps_text(Fraction(fps)))
        self.fps_source = "set"

    @property
    def colour_tags(self) -> dict[str, Any] | None:
        """A video's own colour tags (primaries, transfer, matrix, range as ffmpeg numbers), else None."""
        return getattr(self._backend, "tags", None)

    @property
    def files_fps(self) -> Fraction:
        """The rate the files give (or 24 assumed), whatever the user set."""
        return Fraction(self._backend.fps)

    @property
    def fps_note(self) -> str:
        """Where the frame rate comes from, in words."""
        return {"stream": "from the video stream", "exr": "from the EXR framesPerSecond attribute",
                "set": "set for this shot",
                "assumed": "assumed: the files give no frame rate; set one with --fps or the shot settings",
                }.get(self.fps_source, self.fps_source)

    # frame access ------------------------------------------------------------------------

    def restrict(self, first: int, last: int) -> None:
        """Keep only the frames first..last (a shot's range within a longer plate, numbers kept)."""
        numbers = [f for f in self.frame_numbers if first <= f <= last]
        if not numbers:
            raise MediaError(f"{self.path} has no frames in the shot's range {first}-{last} (it has "
                             f"{self.first_frame}-{self.last_frame}); relink the right media.")
        self.frame_numbers, self._frame_set, self.frame_count = numbers, set(numbers), len(numbers)
        self.first_frame, self.last_frame = numbers[0], numbers[-1]
        self.missing_frames = [f for f in self.missing_frames if first <= f <= last]

    def _check_frame(self, number: Any) -> int:
        frame: int
        try:
            frame = operator.index(number)
        except TypeError:
            if isinstance(number, float) and number.is_integer():
                frame = int(number)
            else:
                raise MediaError(f"{number!r} is not a frame number; use a whole number.") from None
        if self._closed:
            raise MediaError(f"{self.path} was closed; open it again to read frames.")
        if frame in self._frame_set:
            return frame
        if self.first_frame <= frame <= self.last_frame:
            raise MediaError(
                f"frame {frame} is missing from {self.path} (missing frames: "
                f"{frame_ranges(self.missing_frames)}); render the missing frames or work on the others.")
        raise MediaError(f"frame {frame} is outside {self.path}, which has frames "
                         f"{self.first_frame}-{self.last_frame}; choose a frame in that range.")

    def _decode(self, frame: int, full: bool) -> np.ndarray:
        with self._lock:
            if self._closed:
                raise MediaError(f"{self.path} was closed; open it again to read frames.")
            backend = self._backend
            if isinstance(backend, VideoFrames):
                av_frame = backend.decode(frame)
                if full:
                    return backend.to_array(av_frame, True)
                # deep sources: the 8-bit view is made from the deep one, so both agree
                return self.view.to_uint8(backend.to_array(av_frame, backend.bit_depth > 8))
            image = backend.read_native(frame, full)
            return image if full else self.view.to_uint8(image)

    def read(self, frame: int, keep: bool = True) -> np.ndarray:
        """HxWx3 uint8 RGB (cached; the array is read-only, copy it to edit). keep=False: a frame
        not in the cache is decoded without being added (a pass over the whole shot, such as a
        propagation, then leaves the cache to what the artist looked at)."""
        frame = self._check_frame(frame)
        key = ("rgb", frame)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        image = self._decode(frame, full=False)
        if not keep:
            image.flags.writeable = False
            return image
        return self.cache.put(key, image)

    def read_full(self, frame: int) -> np.ndarray:
        """Native precision: uint8, uint16 (10/12/16-bit, full range) or float32; HxWx3 or HxWx4.

        Not cached (exports read each frame once); 8-bit RGB sources share read()'s cache.
        """
        frame = self._check_frame(frame)
        if self.bit_depth <= 8 and not self._has_alpha() and self.view.identity:
            return self.read(frame)
        image = self._decode(frame, full=True)
        image.flags.writeable = False
        return image

    def _has_alpha(self) -> bool:
        backend = self._backend
        if isinstance(backend, VideoFrames):
            return backend.has_alpha
        channels: int = backend.out_channels
        return channels == 4

    @property
    def has_alpha(self) -> bool:
        return self._has_alpha()

    def __getitem__(self, frame: int) -> np.ndarray:
        return self.read(frame)

    def __len__(self) -> int:
        return self.frame_count

    # description -------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        data = {
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "fps": fraction_text(self.fps),
            "fps_source": self.fps_source,
            "variable_frame_rate": self.variable_frame_rate,
            "pixel_format": self.pixel_format,
            "bit_depth": self.bit_depth,
            "kind": self.kind,
            "path": self.path,
            "missing_frames": list(self.missing_frames),
            "has_alpha": self._has_alpha(),
            "warnings": list(self.warnings),
            "colorspace": self.colorspace,
            "colorspace_reason": self.colorspace_reason,
            "ocio_config": self.colour_config.name,
            "display": self.view.display,
            "view": self.view.view,
        }
        if self.pattern:
            data["pattern"] = self.pattern
        backend = self._backend
        if isinstance(backend, VideoFrames):
            data["codec"] = backend.codec
            data["keyframes"] = len(getattr(backend, "key_frames", []))
            data["colour_decoding"] = backend.colour_decoding()
            if backend.positional:
                data["note"] = "no usable timestamps; frames are counted in decode order"
        return data

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._backend.close()
                self.cache.clear()

    def __enter__(self) -> "Media":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"Media({self.path!r}, {self.kind}, {self.width}x{self.height}, "
                f"frames {self.first_frame}-{self.last_frame}, {fraction_text(self.fps)} fps)")


def _missing(numbers: list[int]) -> list[int]:
    present = set(numbers)
    return [n for n in range(numbers[0], numbers[-1] + 1) if n not in present]


def _open_sequence(pattern: SequencePattern, cache_bytes: int, shown: str) -> Media:
    folder = pattern.folder
    if not folder.exists() and not os.path.islink(folder):
        raise MediaError(f"the folder of {shown} ({folder}) does not exist; check the path.")
    stat_file(folder)
    if not folder.is_dir():
        raise MediaError(f"{folder} is not a folder; check the sequence path {shown}.")
    files: dict[int, Path] = {}
    for name in list_folder(folder):
        number = pattern.match(name)
        if number is not None:
            files[number] = folder / name
    if not files:
        near = [n for n in list_folder(folder) if n.startswith(pattern.prefix) and n.endswith(pattern.suffix)]
        hint = f" (found e.g. {sorted(near)[0]}: check the number of digits)" if near else ""
        raise MediaError(f"no files match {shown}{hint}; check the name, the padding and the extension.")
    numbers = sorted(files)
    backend = ImageFrames({n: files[n] for n in numbers}, pattern.text)
    return Media(pattern.text, backend, numbers, _missing(numbers), cache_bytes, pattern=pattern.text)


def _open_folder(folder: Path, cache_bytes: int) -> Media:
    groups = groups_in_folder(folder)
    if not groups:
        videos = [n for n in list_folder(folder) if not n.startswith(".")
                  and Path(n).suffix.lower() in {".mp4", ".mov", ".mkv", ".avi", ".mxf", ".webm", ".m4v"}]
        hint = f" (it has the video {videos[0]}: open that file)" if len(videos) == 1 else ""
        raise MediaError(f"the folder {folder} has no numbered images{hint}; choose a folder "
                         f"holding a sequence like plate.1001.exr, or the video file itself.")
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if len(ranked) > 1 and len(ranked[1][1]) > 1:
        names = ", ".join(pattern_from_group(folder, p, s, f).text.split(os.sep)[-1]
                          for (p, s), f in ranked[:4])
        raise MediaError(f"the folder {folder} holds several sequences ({names}); "
                         f"open one by its pattern, e.g. {os.path.join(str(folder), names.split(', ')[0])}.")
    (prefix, suffix), files = ranked[0]
    pattern = pattern_from_group(folder, prefix, suffix, files)
    numbers = sorted(files)
    backend = ImageFrames({n: folder / files[n] for n in numbers}, pattern.text)
    return Media(pattern.text, backend, numbers, _missing(numbers), cache_bytes, pattern=pattern.text)


def open_media(path: str | os.PathLike[str] | None, cache_bytes: int = 512 * MiB, colorspace: str | None = None,
               colour_config: Any = None,
               display: str | None = None, view: str | None = None) -> Media:
    """Open a video, an image sequence (pattern or folder) or a single still. See module doc.

    colorspace overrides the guessed input colour space; colour_config is an OCIO Config or the
    name a project saved; display/view choose what read() shows (default: sRGB, un-tone-mapped)."""
    media = _open(path, cache_bytes)
    if colorspace or colour_config or display or view:
        try:
            media.configure_colour(colour_config, colorspace, display, view)
        except BaseException:
            media.close()
            raise
    return media


def _open(path: str | os.PathLike[str] | None, cache_bytes: int) -> Media:
    if path is None or (isinstance(path, str) and not path.strip()):
        raise MediaError("no media path was given; choose a video, an image sequence or an image.")
    try:
        text = os.fspath(path)
    except TypeError:
        raise MediaError(f"{path!r} is not a file path; choose a video, an image sequence or an image.") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\x00" in text:
        raise MediaError("the media path contains a NUL character; check the path.")
    text = os.path.expanduser(text)
    p = Path(text)
    if not os.path.lexists(p):
        pattern = parse_pattern(text)
        if pattern is not None:
            return _open_sequence(pattern, cache_bytes, text)
    st = stat_file(p)
    import stat as stat_mod

    if stat_mod.S_ISDIR(st.st_mode):
        return _open_folder(p, cache_bytes)
    if not stat_mod.S_ISREG(st.st_mode):
        raise MediaError(f"{p} is not a regular file (a device, pipe or socket); choose a media file.")
    if st.st_size == 0:
        raise MediaError(f"{p} is empty (0 bytes); the copy or render did not finish, get the file again.")
    head = read_bytes(p, 64)
    ext = p.suffix.lower()
    if sniff_kind(head) is not None or ext in IMAGE_EXTENSIONS:
        # a still (or a non-image wearing an image extension: read_image says so)
        backend = ImageFrames({still_frame_number(p): p}, str(p), kind="image")
        number = next(iter(backend.files))
        return Media(p, backend, [number], [], cache_bytes)
    video = VideoFrames(p)
    media = Media(p, video, list(range(video.frame_count)), [], cache_bytes)
    try:
        media.read(0)  # a file that cannot give its first frame is reported now, not later
    except MediaError:
        media.close()
        raise
    return media
