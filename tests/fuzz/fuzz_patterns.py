"""Property-based fuzzing of the sequence-pattern parser and sequence opening: any name gives a
pattern, None, or a MediaError; a parsed pattern round-trips frame numbers; a folder of arbitrary
file names opens or fails with a RotoError, never another exception.

Shared by the test (few cases) and benchmarks/safety.py (10,000+ cases)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roto_studio.core.errors import RotoError
from roto_studio.core.media import open_media, parse_pattern, sequence_pattern_for

pieces = st.sampled_from(["plate", ".", "_", "#", "##", "####", "@@@", "%04d", "%d", "%0d", "%99d",
                          "$F4", "$F", "%", "1001", "0", ".exr", ".png", ".jpg", "v2", " ", "é", "東"])
names = st.lists(pieces | st.text(max_size=4), min_size=1, max_size=6).map("".join)


def check_name(name: str):
    if "\x00" in name or "/" in name:
        return
    try:
        pat = parse_pattern(name)
    except RotoError as exc:
        assert str(exc)
        return
    if pat is None:
        return
    for frame in (0, 7, 1001, 99999):
        file = pat.filename(frame)
        got = pat.match(file)
        if len(str(frame)) >= pat.padding:
            assert got == frame, (name, file, got)


def check_folder(files: list[str]):
    with tempfile.TemporaryDirectory() as d:
        for f in files:
            if not f or "/" in f or "\x00" in f or f in (".", ".."):
                continue
            try:
                Path(d, f).write_bytes(b"not really an image")
            except OSError:
                continue
        try:
            open_media(d)
        except RotoError:
            pass
        for f in os.listdir(d):
            try:
                sequence_pattern_for(Path(d, f))
                open_media(Path(d, f))
            except RotoError:
                pass


def make_tests(max_examples: int):
    common = settings(max_examples=max_examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))

    @common
    @given(names)
    def parse(name):
        check_name(name)

    @common
    @given(st.lists(names.map(lambda n: n + ".png") | names, max_size=6))
    def folder(files):
        check_folder(files)

    return [parse, folder]
