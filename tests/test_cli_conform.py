"""`roto-studio conform EDIT --media ROOT --handles N --out DIR`: a generated CMX 3600 EDL and an
OpenTimelineIO file (written with OpenTimelineIO itself) over generated plates become one project
per shot with the cut plus handles on the plate's own frame numbers, missing media and overlaps
in the summary; masks imported into the projects and `batch` renders exactly those frames."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from roto_studio.cli import main
from roto_studio.core.project import load_project
from tests.core.media_gen import write_sequence

otio = pytest.importorskip("opentimelineio")

RATE = 24
W, H = 64, 48


def tc(frames: int) -> str:
    return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, RATE), RATE)


def _edl(events) -> str:
    lines = ["TITLE: conform_test", "FCM: NON-DROP FRAME", ""]
    rec = 86400
    for i, (reel, clip, src_in, src_out) in enumerate(events, 1):
        dur = src_out - src_in
        lines.append(f"{i:03d}  {reel:<8} V     C        {tc(src_in)} {tc(src_out)} {tc(rec)} {tc(rec + dur)}")
        lines.append(f"* FROM CLIP NAME: {clip}")
        lines.append("")
        rec += dur
    return "\n".join(lines)


def _plates(root):
    # plates numbered by source timecode (frame = timecode as a frame count)
    write_sequence(root / "sh010", "plate", frames=range(1001, 1031), width=W, height=H)
    write_sequence(root / "B002", "sh020", frames=range(2001, 2021), width=W, height=H)


def test_conform_edl_then_batch_renders_the_shots(tmp_path, capsys):
    root = tmp_path / "media"
    _plates(root)
    edit = tmp_path / "cut.edl"
    edit.write_text(_edl([
        ("A001", "sh010", 1005, 1015),  # 10 frames, handles 3 -> 1002-1017
        ("B002", "sh020", 2003, 2010),  # handles clamped at the plate's first frame 2001
        ("C003", "sh030", 3000, 3010),  # no media
        ("A001", "sh010", 1013, 1020),  # the same plate again: sh010_2, overlapping the first
    ]))
    out = tmp_path / "shots"
    assert main(["conform", str(edit), "--media", str(root), "--handles", "3", "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "sh010: " in text and "frames 1002-1017 (cut 1005-1014, handles 3)" in text
    assert "sh020: " in text and "frames 2001-2012 (cut 2003-2009, handles 3) (handles cut short" in text
    assert "sh030: skipped, no media found" in text
    assert "overlap: sh010 and sh010_2 share plate frames 1010-1017" in text
    assert "4 shots in cut.edl: 3 placed, 1 without media, 0 not placed, 1 overlaps" in text
    assert sorted(p.name for p in out.iterdir()) == ["sh010.roto", "sh010_2.roto", "sh020.roto"]
    want = {"sh010": (1002, 1017, [1005, 1014]), "sh010_2": (1010, 1022, [1013, 1019]),
            "sh020": (2001, 2012, [2003, 2009])}
    for name, (first, last, cut) in want.items():
        project = load_project(out / f"{name}.roto")
        assert project.settings["shot_range"] == [first, last]
        assert project.settings["edit"]["cut"] == cut and project.settings["edit"]["handles"] == 3
        with project.open_media() as media:
            assert list(media.frame_numbers) == list(range(first, last + 1))

    # masks from another tool on the two sh010 shots, then batch renders each shot's own frames
    masks = tmp_path / "masks"
    masks.mkdir()
    for f in range(1001, 1031):
        a = np.zeros((H, W), np.uint16)
        a[10:30, 5 + f % 20:25 + f % 20] = 65535
        cv2.imwrite(str(masks / f"m.{f}.png"), a)
    for name in ("sh010", "sh010_2"):
        project = load_project(out / f"{name}.roto")
        assert main(["segment", project.media_path, "--out", str(out / f"{name}.roto"), "--masks", str(masks),
                     "--object", "hero"]) == 0
    capsys.readouterr()
    assert main(["batch", str(out / "sh010.roto"), str(out / "sh010_2.roto"), "--stages", "export",
                 "--format", "png16", "--out", str(tmp_path / "renders")]) == 0
    table = capsys.readouterr().out
    assert "2 of 2 shots finished, 29 frames" in table  # 16 + 13: the ranges with handles
    assert sorted(p.name for p in (tmp_path / "renders" / "sh010").glob("*.png")) == \
        [f"hero.{f}.png" for f in range(1002, 1018)]
    assert sorted(p.name for p in (tmp_path / "renders" / "sh010_2").glob("*.png")) == \
        [f"hero.{f}.png" for f in range(1010, 1023)]


def test_conform_otio_with_available_ranges(tmp_path, capsys):
    root = tmp_path / "media"
    _plates(root)
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    # the plate's first frame (1001) is at 01:00:00:00 in the clip's own timecode
    ref = otio.schema.ExternalReference(
        target_url=str(root / "sh010" / "plate.####.png"),
        available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(86400, RATE),
                                                otio.opentime.RationalTime(30, RATE)))
    track.append(otio.schema.Clip(name="hero_shot", media_reference=ref, source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(86400 + 6, RATE), otio.opentime.RationalTime(8, RATE))))
    edit = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(edit))
    out = tmp_path / "shots"
    assert main(["conform", str(edit), "--media", str(root), "--handles", "2", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    (shot,) = summary["shots"]
    assert shot["name"] == "hero_shot" and shot["cut"] == [1007, 1014] and shot["frames"] == [1005, 1016]
    project = load_project(out / "hero_shot.roto")
    assert project.settings["edit"]["source_in"] == "01:00:00:06"
    with project.open_media() as media:
        assert (media.first_frame, media.last_frame) == (1005, 1016)


def test_conform_bad_edit_is_one_line(tmp_path, capsys):
    (tmp_path / "media").mkdir()
    bad = tmp_path / "cut.edl"
    bad.write_text("001  A V C 01:00:00:00\n")
    assert main(["conform", str(bad), "--media", str(tmp_path / "media"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "cannot read the edit cut.edl" in err and len(err.strip().splitlines()) == 1


def test_conform_fcp_xml_dry_run(tmp_path, capsys):
    root = tmp_path / "media"
    _plates(root)
    edl = tmp_path / "cut.edl"
    edl.write_text(_edl([("A001", "sh010", 1005, 1015), ("B002", "sh020", 2003, 2010)]))
    xml = tmp_path / "cut.xml"  # the same cut as Final Cut Pro XML, written by OTIO's adapter
    otio.adapters.write_to_file(otio.adapters.read_from_file(str(edl), rate=RATE), str(xml), adapter_name="fcp_xml")
    assert main(["conform", str(xml), "--media", str(root), "--handles", "1", "--out", str(tmp_path / "o"),
                 "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "frames 1004-1015 (cut 1005-1014, handles 1)" in text and "frames 2002-2010 (cut 2003-2009" in text
    assert "2 shots in cut.xml: 2 placed" in text
    assert not (tmp_path / "o").exists()
