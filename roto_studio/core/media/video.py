"""The video decoder: PyAV with a pts table built at open, frame-exact seeking to the keyframe a
frame needs, forward decoding for playback, a few recent frames kept for stepping back, and clear
messages for damaged, truncated or undecodable files."""

from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

from typing import Any, Iterator, Literal

import numpy as np

from roto_studio.core.colour import MATRICES, SWSCALE_MATRIX
from roto_studio.core.errors import MediaError
from roto_studio.core.media.files import MiB, check_size, stat_file


# luma weights (Kr, Kb) by matrix tag; untagged follows FFmpeg: BT.601
_KR_KB = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
          9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}


def _tag(value: Any) -> int:
    """A colour tag as FFmpeg's integer (0 when absent)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _is_yuv(pix: str | None) -> bool:
    import av

    try:
        fmt = av.video.format.VideoFormat(pix or "")
    except Exception:
        return False
    return not fmt.is_rgb and len(fmt.components) >= 3


def _accurate() -> Any:
    from av.video.reformatter import Interpolation

    return Interpolation.BILINEAR | Interpolation.ACCURATE_RND

class VideoFrames:
    """Frames of a video file through PyAV, with a pts table for exact seeking."""

    kind = "video"

    def __init__(self, path: Path):
        import av

        self.path = path
        self._av = av
        self.container = self._open()
        try:
            self._setup()
        except BaseException:
            self.container.close()
            raise

    def _open(self) -> Any:
        av = self._av
        try:
            return av.open(str(self.path), mode="r", metadata_errors="ignore")
        except av.error.FileNotFoundError:
            stat_file(self.path)
            raise MediaError(f"{self.path} does not exist; check the path.") from None
        except av.error.PermissionError:
            raise MediaError(f"{self.path} cannot be read (permission denied); check its permissions.") from None
        except (av.error.InvalidDataError, av.error.EOFError, av.error.PatchWelcomeError,
                av.error.DecoderNotFoundError, av.error.DemuxerNotFoundError):
            raise MediaError(f"{self.path} is not a video or image FFmpeg can read, or it is damaged "
                             f"or incomplete (e.g. a truncated copy); check the file or re-export it.") from None
        except av.error.FFmpegError:
            raise MediaError(f"{self.path} cannot be opened: FFmpeg rejected its header (the file may be "
                             f"damaged, truncated or claim an impossible frame size); re-export it.") from None
        except (OSError, UnicodeError, ValueError) as exc:
            raise MediaError(f"{self.path} cannot be opened as video ({exc}); check the file.") from None

    def _setup(self) -> None:
        av = self._av
        container = self.container
        if not container.streams.video:
            others = sorted({s.type for s in container.streams})
            raise MediaError(f"{self.path} has no video stream"
                             f"{' (only ' + ', '.join(others) + ')' if others else ''}; "
                             f"choose a file with picture in it.")
        stream = container.streams.video[0]
        self.stream = stream
        ctx = stream.codec_context
        codec_name = None
        try:
            codec_name = ctx.codec.name if ctx is not None else None
        except Exception:
            codec_name = None
        if ctx is None or not codec_name or codec_name == "none":
            tag = ""
            try:
                tag = stream.codec_tag or ""
            except Exception:
                pass
            raise MediaError(f"{self.path} uses a video codec FFmpeg cannot decode"
                             f"{' (' + tag + ')' if tag.strip() else ''}; "
                             f"transcode it (e.g. to ProRes or H.264) or export an image sequence.")
        self.codec = codec_name
        self.width, self.height = int(ctx.width or 0), int(ctx.height or 0)
        if self.width <= 0 or self.height <= 0:
            raise MediaError(f"{self.path} has a video stream without a frame size; "
                             f"the file is damaged, re-export it.")
        check_size(self.width, self.height, self.path)
        pix = ctx.pix_fmt
        self.pixel_format = pix or "unknown"
        self.bit_depth, self.has_alpha, self.is_float = 8, False, False
        try:
            fmt = av.video.format.VideoFormat(pix or "")
            self.bit_depth = max(c.bits for c in fmt.components)
            self.has_alpha = any(c.is_alpha for c in fmt.components)
            self.is_float = "f32" in pix or "f16" in pix
        except Exception:
            pass
        self.is_yuv = _is_yuv(pix)
        self.tags = {"matrix": _tag(ctx.colorspace), "range": _tag(ctx.color_range),
                     "primaries": _tag(ctx.color_primaries), "transfer": _tag(ctx.color_trc)}
        ctx.thread_type = "AUTO"
        self._build_index()

    def _build_index(self) -> None:
        av = self._av
        stream = self.stream
        rows = []  # (pts, dts, key) in decode order
        try:
            for packet in self.container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                rows.append((packet.pts, packet.dts, bool(packet.is_keyframe)))
        except av.error.FFmpegError:
            pass  # damaged tail: keep what was read; frames past it report clearly when read
        if not rows:
            raise MediaError(f"{self.path} has a video stream with no frames; the file is empty "
                             f"or damaged, re-export it.")
        pts = [r[0] for r in rows]
        self.positional = any(p is None for p in pts) or len(set(pts)) != len(pts)
        if self.positional and all(r[1] is not None for r in rows) and not stream.codec_context.has_b_frames \
                and len({r[1] for r in rows}) == len(rows):
            pts = [r[1] for r in rows]  # no pts but dts in display order
            self.positional = False
        self.frame_count = len(rows)
        self.time_base = stream.time_base or Fraction(1, 1)
        if self.positional:
            # no usable timestamps: frames are counted in decode order; seeking means decoding
            # from the start (correct, slower). Rare (raw elementary streams, some AVIs).
            self.pts = list(range(len(rows)))
            self.frame_of_pts = {}
            self.seek_ts: list[Any] = [None] * len(rows)
            self.fps = Fraction(stream.average_rate or stream.guessed_rate or 24)
            if not (stream.average_rate or stream.guessed_rate):
                self.fps_source = "assumed"
            self.variable_frame_rate = False
            self.start_frame_of = [0] * len(rows)
            self.key_frames = [0]
        else:
            order = sorted(range(len(rows)), key=lambda i: pts[i])
            self.pts = [pts[i] for i in order]
            self.frame_of_pts = {p: n for n, p in enumerate(self.pts)}
            # For every frame: the decode-order keyframe to start from. A frame shown before its
            # GOP's keyframe (open GOP leading frame) starts from the keyframe before.
            key_positions = [i for i, r in enumerate(rows) if r[2]] or [0]
            start_for_decode_pos = []
            k = -1
            keys_seen: list[int] = []
            for i, r in enumerate(rows):
                if r[2] or not keys_seen:
                    keys_seen.append(i)
                k = keys_seen[-1]
                if pts[i] < pts[k] and len(keys_seen) > 1:
                    k = keys_seen[-2]
                start_for_decode_pos.append(k)
            self.start_frame_of = [0] * len(rows)
            self.seek_ts = [None] * len(rows)
            for n, i in enumerate(order):
                kpos = start_for_decode_pos[i]
                self.start_frame_of[n] = self.frame_of_pts[pts[kpos]]
                kd = rows[kpos][1]
                self.seek_ts[n] = (pts[kpos], kd if kd is not None else pts[kpos])
            self.key_frames = sorted(self.frame_of_pts[pts[i]] for i in key_positions)
            self.fps, self.variable_frame_rate = self._rates()
        self.warnings = self._truncation_warnings(len(rows))
        self._decoder: Any = None
        self._last: float | None = None  # frame number the decoder produced last
        self._last_frame = None  # and that frame, when it was the one asked for
        self.seeks = 0  # statistics: seeks done and frames decoded
        self.decoded = 0
        self.skip_nonref = True  # decode-only-what-is-needed when seeking (see _frames)
        self._skip_until: int | None = None
        self._skip_used = False
        frame_bytes = self.width * self.height * (6 if self.bit_depth > 8 else 3)
        self._recent: OrderedDict[int, Any] = OrderedDict()
        self._recent_max = int(max(2, min(12, (96 * MiB) // max(1, frame_bytes))))

    def _truncation_warnings(self, found: int) -> list[str]:
        """A file cut short still opens (its frames are usable) but says so."""
        stream = self.stream
        declared = int(stream.frames or 0)
        if declared > found:
            return [f"the file seems cut short: its header lists {declared} frames but only "
                    f"{found} are there"]
        if self.positional or found < 2 or not self.container.duration:
            return []
        seconds = float(self.container.duration) / 1_000_000
        frame_time = float((Fraction(self.pts[-1] - self.pts[0]) * self.time_base) / (found - 1))
        present = frame_time * found
        if seconds - present > max(2 * frame_time, 0.25):
            return [f"the file seems cut short: its header says {seconds:.2f} s but frames stop "
                    f"at {present:.2f} s"]
        return []

    def _rates(self) -> tuple[Fraction, bool]:
        stream = self.stream
        tb = self.time_base
        deltas = np.diff(np.asarray(self.pts, dtype=np.float64))
        vfr = False
        if len(deltas) >= 2:
            median = float(np.median(deltas))
            # timestamps are rounded to the time base: a constant rate stays within one tick
            vfr = bool(np.any(np.abs(deltas - median) > 1.0 + 1e-9)) and median > 0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate:
            rate = Fraction(rate)
        if not rate or rate <= 0:
            if len(deltas) and float(np.median(deltas)) > 0:
                rate = Fraction(1) / (Fraction(int(np.median(deltas))) * Fraction(tb))
            else:
                rate = Fraction(24)
                self.fps_source = "assumed"  # no rate and no timestamps to measure one
        if not vfr and len(deltas):
            # the stream's guess can be off for coarse time bases; check it against the pts
            nominal = Fraction(1) / (Fraction(float(np.median(deltas))).limit_denominator(1000) * Fraction(tb))
            guessed = stream.guessed_rate and Fraction(stream.guessed_rate)
            for candidate in (rate, guessed):
                if candidate and abs(float(candidate) - float(nominal)) / float(nominal) < 0.02:
                    return candidate, False
            return nominal.limit_denominator(1001 * 1000), False
        return rate, vfr

    # decoding ------------------------------------------------------------------------------

    def _frames(self) -> Iterator[Any]:
        """Decoded frames from the current position. After a seek with skip_to, frames nobody
        references (non-reference B-frames) are not decoded until the target's packet: that
        halves the work of reaching a frame deep inside a long GOP, with identical results."""
        ctx = self.stream.codec_context
        for packet in self.container.demux(self.stream):
            if self._skip_until is not None and (packet.pts == self._skip_until or packet.size == 0):
                self._skip_until = None
                ctx.skip_frame = "DEFAULT"
            for frame in packet.decode():
                yield frame

    def _fresh_decoder(self) -> None:
        if self._decoder is not None:
            try:
                self._decoder.close()
            except Exception:
                pass
        self._decoder = self._frames()
        self._last = None
        self._last_frame = None

    def _seek(self, ts: int | None, skip_to: int | None = None) -> None:
        av = self._av
        self.seeks += 1
        try:
            if ts is None:
                self.container.seek(0, backward=True, any_frame=False)
            else:
                self.container.seek(int(ts), backward=True, any_frame=False, stream=self.stream)
        except av.error.FFmpegError:
            # some files cannot seek: reopen and decode from the start
            self.container.close()
            self.container = self._open()
            self.stream = self.container.streams.video[0]
            self.stream.codec_context.thread_type = "AUTO"
        self._skip_until = skip_to
        self._skip_used = skip_to is not None
        try:
            self.stream.codec_context.skip_frame = "NONREF" if skip_to is not None else "DEFAULT"
        except Exception:
            self._skip_until, self._skip_used = None, False
        self._fresh_decoder()

    def _next_frame(self, target: int) -> tuple[Any, float | None]:
        """Next decoded frame with its frame number (None at the end of the file)."""
        av = self._av
        try:
            frame = next(self._decoder)
        except StopIteration:
            return None, None
        except (av.error.FFmpegError, MemoryError):
            raise MediaError(f"frame {target} of {self.path} cannot be decoded: the file is damaged "
                             f"around this frame; re-export it.") from None
        self.decoded += 1
        if self.positional:
            number: float | None = 0 if self._last is None else self._last + 1
        else:
            number = self.frame_of_pts.get(frame.pts)
            if number is None and frame.pts is not None:
                # a pts the index did not list: place it between its neighbours (never equal to one)
                number = int(np.searchsorted(self.pts, frame.pts)) - 0.5
        if isinstance(number, int):
            self._remember(number, frame)
        return frame, number

    def _remember(self, number: int, frame: Any) -> None:
        """Keep the last few decoded frames: stepping back a frame or two needs no new decode."""
        recent = self._recent
        recent[number] = frame
        recent.move_to_end(number)
        while len(recent) > self._recent_max:
            recent.popitem(last=False)

    def _plans(self, target: int, skip: bool) -> list[tuple[int | None, int | None]]:
        """Where to start decoding from, most likely first: the frame's keyframe (skipping
        unreferenced frames), the keyframe's dts, the keyframe before, the start of the file."""
        if self.positional:
            return [(None, None)]
        pts_ts, dts_ts = self.seek_ts[target]
        plans = [(pts_ts, self.pts[target] if skip else None), (pts_ts, None), (dts_ts - 1, None)]
        earlier = [k for k in self.key_frames if k < self.start_frame_of[target]]
        if earlier:
            plans.append((self.seek_ts[earlier[-1]][0], None))
        plans.append((None, None))
        return plans

    def decode(self, target: int) -> Any:
        """The av.VideoFrame for frame number `target`."""
        frame = self._recent.get(target)
        if frame is not None:
            return frame
        # keep decoding forward when that is cheaper than seeking (playback, scrubbing forward)
        forward = (self._decoder is not None and self._last is not None and self._last < target
                   and (self.positional or self.start_frame_of[target] <= self._last + 1))
        plans: list[tuple[int | None, int | None] | Literal["forward"]] = []
        plans += self._plans(target, skip=self.skip_nonref)
        if forward:
            plans.insert(0, "forward")
        for plan in plans:
            if not isinstance(plan, str):
                self._seek(plan[0], plan[1])
            first = True
            while True:
                frame, number = self._next_frame(target)
                if frame is None:
                    self._last = None
                    raise MediaError(f"frame {target} of {self.path} cannot be decoded: the file ends "
                                     f"early or is damaged there; re-export it.")
                if number is None:
                    continue
                if first and plan != "forward" and number > target:
                    break  # the seek landed after the target: start further back
                first = False
                self._last = number
                self._last_frame = None
                if number == target:
                    self._last_frame = frame
                    return frame
                if number > target:
                    if self._skip_used:
                        break  # skipped frames were needed after all: again without skipping
                    self._last = None
                    raise MediaError(f"frame {target} of {self.path} cannot be decoded: the file is "
                                     f"damaged around this frame; re-export it.")
        self._last = None
        raise MediaError(f"frame {target} of {self.path} cannot be reached by seeking; "
                         f"the file's index is damaged, re-export it.")

    def to_array(self, frame: Any, full: bool) -> np.ndarray:
        fmt = "rgb24"
        if full:
            if self.is_float:
                fmt = "gbrapf32le" if self.has_alpha else "gbrpf32le"
            elif self.bit_depth > 8:
                fmt = "rgba64le" if self.has_alpha else "rgb48le"
            elif self.has_alpha:
                fmt = "rgba"
        kwargs = {}
        if full and self.is_yuv and (self.bit_depth > 8 or self.is_float):
            return self._deep_yuv(frame)
        if self.is_yuv:
            # the stream's own matrix and range (the frame's tags when it has them); untagged
            # streams follow FFmpeg's convention: BT.601 matrix, limited range
            matrix_tag, full_range = self._matrix_range(frame)
            matrix = SWSCALE_MATRIX.get(matrix_tag, "ITU601")
            kwargs = {"src_colorspace": matrix, "dst_colorspace": matrix,
                      "src_color_range": "JPEG" if full_range else "MPEG", "dst_color_range": "JPEG",
                      "interpolation": _accurate()}
        try:
            result: np.ndarray = frame.to_ndarray(format=fmt, **kwargs)
            return result
        except Exception as exc:  # conversion problems are reported as media problems
            raise MediaError(f"a frame of {self.path} cannot be converted to RGB ({exc}); "
                             f"re-export the video in a common pixel format.") from None

    def _matrix_range(self, frame: Any) -> tuple[int, bool]:
        matrix = _tag(frame.colorspace) or self.tags["matrix"]
        full = (_tag(frame.color_range) or self.tags["range"]) == 2 or self.pixel_format.startswith("yuvj")
        return matrix, full

    def _deep_yuv(self, frame: Any) -> np.ndarray:
        """10/12/16-bit YUV -> RGB by the stream's matrix and range, computed here: swscale's deep
        RGB outputs come out about 0.4% dark (white at 65283 of 65535)."""
        try:
            planes = frame.reformat(format="yuva444p16le" if self.has_alpha else "yuv444p16le",
                                    interpolation=_accurate()).to_ndarray()
        except Exception as exc:
            raise MediaError(f"a frame of {self.path} cannot be converted to RGB ({exc}); "
                             f"re-export the video in a common pixel format.") from None
        matrix, full = self._matrix_range(frame)
        kr, kb = _KR_KB.get(matrix, _KR_KB[6])
        bits = max(8, min(16, self.bit_depth))
        codes = planes.astype(np.float32) * np.float32(1 / (1 << (16 - bits)))
        scale = float(1 << (bits - 8))
        top = float((1 << bits) - 1)
        y, cb, cr = codes[..., 0], codes[..., 1], codes[..., 2]
        if full:
            y, pb, pr = y / top, (cb - 128 * scale) / top, (cr - 128 * scale) / top
        else:
            y, pb, pr = (y / scale - 16) / 219, (cb / scale - 128) / 224, (cr / scale - 128) / 224
        r = y + 2 * (1 - kr) * pr
        b = y + 2 * (1 - kb) * pb
        g = (y - kr * r - kb * b) / (1 - kr - kb)
        out = [r, g, b] + ([codes[..., 3] / top] if self.has_alpha else [])
        rgb = np.stack(out, axis=-1)
        if self.is_float:
            return rgb.astype(np.float32)
        result: np.ndarray = np.rint(np.clip(rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)
        return result

    def colour_facts(self) -> dict[str, Any]:
        return {"kind": "video", "float": self.is_float, "bit_depth": self.bit_depth,
                "video_primaries": self.tags["primaries"], "video_transfer": self.tags["transfer"],
                "video_matrix": self.tags["matrix"], "video_range": self.tags["range"]}

    def colour_decoding(self) -> str:
        """How YUV becomes RGB, for `info`."""
        if not self.is_yuv:
            return "RGB stream: no YUV matrix"
        matrix, rng = self.tags["matrix"], self.tags["range"]
        full = rng == 2 or self.pixel_format.startswith("yuvj")
        range_text = "full range" if full else "limited range"
        if matrix not in SWSCALE_MATRIX and not rng:
            return f"untagged: decoded as BT.601, {range_text} (FFmpeg's convention)"
        matrix_text = (f"{MATRICES[matrix]} matrix" if matrix in SWSCALE_MATRIX
                       else "BT.601 matrix (untagged: FFmpeg's convention)")
        return f"{matrix_text}, {range_text}" + ("" if rng else " (range untagged: FFmpeg's convention)")

    def close(self) -> None:
        self._recent.clear()
        self._last_frame = None
        try:
            if self._decoder is not None:
                self._decoder.close()
        except Exception:
            pass
        self._decoder = None
        try:
            self.container.close()
        except Exception:
            pass

