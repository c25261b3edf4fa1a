"""`roto-studio info MEDIA [--json] [--colorspace NAME]`: what a video, sequence or image holds,
including its guessed colour space and why; for a file Roto Studio exported (EXR, PNG, a ProRes
movie or its sidecar JSON), also where it came from (core.provenance)."""

from __future__ import annotations

import json

HELP = ("Show size, frames, frame rate, pixel format and bit depth of a video, sequence or image, "
        "and the provenance of a file Roto Studio exported.")


def add_arguments(parser) -> None:
    parser.add_argument("media", metavar="MEDIA",
                        help="a video file, a sequence pattern (plate.####.exr, plate.%%04d.png), "
                             "a folder of numbered images, or one image")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--fps", metavar="RATE",
                        help="the frame rate to use (24, 23.976, 24000/1001) instead of the files' own")
    parser.add_argument("--colorspace", metavar="NAME",
                        help="the plate's input colour space (OCIO name), instead of the guess from the file")
    parser.add_argument("--colorspaces", action="store_true",
                        help="also list the colour spaces, displays and views of the OCIO config")


def _text(info: dict) -> str:
    fps = info["fps"]
    num, _, den = fps.partition("/")
    try:
        fps_value = f"{int(num) / int(den):.3f}".rstrip("0").rstrip(".")
    except (ValueError, ZeroDivisionError):
        fps_value = fps
    lines = [
        f"path:          {info['path']}",
        f"kind:          {info['kind']}",
        f"size:          {info['width']}x{info['height']}",
        f"frames:        {info['frame_count']} ({info['first_frame']}-{info['last_frame']})",
        f"fps:           {fps_value} ({fps}), {info['fps_note']}"
        + ("  variable frame rate" if info["variable_frame_rate"] else ""),
        f"pixel format:  {info['pixel_format']}",
        f"bit depth:     {info['bit_depth']}",
    ]
    if info.get("codec"):
        lines.append(f"codec:         {info['codec']}")
    if info.get("colour_decoding"):
        lines.append(f"decoding:      {info['colour_decoding']}")
    lines.append(f"colour space:  {info['colorspace']} ({info['colorspace_reason']})")
    lines.append(f"viewed as:     {info['display']} / {info['view']} (OCIO config {info['ocio_config']})")
    if info.get("has_alpha"):
        lines.append("alpha:         yes")
    if info.get("missing_frames"):
        from roto_studio.core.media.files import frame_ranges

        lines.append(f"missing:       {frame_ranges(info['missing_frames'])}")
    if info.get("sequence_hint"):
        lines.append(f"note:          one frame of the sequence {info['sequence_hint']}; "
                     f"give that pattern to open the whole shot")
    for warning in info.get("warnings") or []:
        lines.append(f"warning:       {warning}")
    if info.get("note"):
        lines.append(f"note:          {info['note']}")
    return "\n".join(lines)


def _provenance_only(record: dict, as_json: bool) -> int:
    from roto_studio.core.provenance import describe

    print(json.dumps({"provenance": record}, indent=2, ensure_ascii=False) if as_json else "\n".join(describe(record)))
    return 0


def run(args) -> int:
    from roto_studio.core.errors import RotoError
    from roto_studio.core.media import sequence_pattern_for
    from roto_studio.core.provenance import describe, read

    record = read(args.media)
    if record is not None and str(args.media).lower().endswith(".json"):
        return _provenance_only(record, args.json)
    try:
        info = _media_info(args)
    except RotoError:
        if record is None:
            raise
        return _provenance_only(record, args.json)  # e.g. a Cryptomatte: no picture to describe
    if record is not None:
        info["provenance"] = record
    if info["kind"] == "image":
        hint = sequence_pattern_for(args.media)
        if hint:
            info["sequence_hint"] = hint
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
    else:
        print(_text(info))
        if args.colorspaces:
            print("colour spaces: " + ", ".join(info["ocio_colorspaces"]))
            for display, views in info["ocio_views"].items():
                print(f"display:       {display}: {', '.join(views)}")
        if record is not None:
            print("\n".join(describe(record)))
    return 0


def _media_info(args) -> dict:
    from roto_studio.core.media import open_media

    with open_media(args.media, cache_bytes=64 * 1024 * 1024, colorspace=args.colorspace) as media:
        if args.fps:
            media.set_fps(args.fps)
        info = media.info()
        info["fps_note"] = media.fps_note
        if args.colorspaces:
            config = media.colour_config
            info["ocio_colorspaces"] = config.spaces()
            info["ocio_views"] = {d: config.views(d) for d in config.displays()}
    return info
