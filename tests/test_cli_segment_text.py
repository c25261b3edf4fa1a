"""`roto-studio segment ... --text "person, dog" [--min-score S]` end to end on generated media:
one object per instance named after its phrase, its mask (exactly what the finder returns) a
keyframe on the frame, then propagation as for clicked objects (EdgeTAM here)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from roto_studio.cli import main  # noqa: E402
from roto_studio.core.project import load_project  # noqa: E402
from tests.test_cli_segment import clip  # noqa: E402,F401  (fixture)


def _finder_on(media, frame):
    from roto_studio.core.media import open_media
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.text.find import Sam3TextFinder

    model, processor = hf_build.random_sam3()
    finder = Sam3TextFinder(model, processor)
    with open_media(media) as m:
        finder.set_image(m.read(frame))
    return finder


def test_text_prompt_makes_named_objects_then_propagates(tmp_path, clip, monkeypatch, capsys):  # noqa: F811
    pytest.importorskip("timm")
    media, _ = clip
    monkeypatch.setenv("ROTO_TEXT_RANDOM_WEIGHTS", "sam3")
    monkeypatch.setenv("ROTO_EDGETAM_RANDOM_WEIGHTS", "tiny")
    out = tmp_path / "shot.roto"
    rc = main(["segment", media, "--out", str(out), "--frame", "1010", "--text", "person, dog",
               "--min-score", "0.53", "--backend", "edgetam", "--propagate", "forward"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "text backend: sam3" in captured.err and "backend: edgetam" in captured.err
    want = _finder_on(media, 1010).find(["person", "dog"], 0.53)
    assert want, "random weights found nothing: the test would prove nothing"
    project = load_project(out)
    names = [o.name for o in project.objects]
    expected = []
    for phrase in ("person", "dog"):
        expected += [f"{phrase} {i + 1}" for i in range(sum(f.phrase == phrase for f in want))]
    assert names == expected
    for obj, f in zip(project.objects, want):
        np.testing.assert_array_equal(project.masks.get(obj.id, 1010) > 0.5, f.alpha > 0.5)
        assert 1010 in project.prompts[obj.id]  # a keyframe, as for a clicked object
        assert all(project.masks.has(obj.id, fr) for fr in (1011, 1012))  # propagated
        assert not project.masks.has(obj.id, 1009)
    assert f"object: {expected[0]} (" in captured.out

    # a second run on the same project continues the numbering
    rc = main(["segment", media, "--out", str(out), "--frame", "1010", "--text", "person", "--min-score", "0.53"])
    assert rc == 0
    project = load_project(out)
    persons = [o.name for o in project.objects if o.name.startswith("person ")]
    n = sum(f.phrase == "person" for f in want)
    assert persons == [f"person {i + 1}" for i in range(2 * n)]


@pytest.mark.parametrize("extra, message", [
    (["--text", "person", "--point", "5,5"], "give --text alone"),
    (["--text", "person", "--min-score", "1.5"], "--min-score 1.5 must lie between 0 and 1"),
    (["--text", " , "], "--text is empty"),
    (["--point", "5,5", "--backend", "sam3"], "finds objects by name"),
])
def test_text_prompt_bad_input(tmp_path, clip, monkeypatch, capsys, extra, message):  # noqa: F811
    media, _ = clip
    monkeypatch.setenv("ROTO_TEXT_RANDOM_WEIGHTS", "sam3")
    rc = main(["segment", media, "--out", str(tmp_path / "p.roto"), "--frame", "1001", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_text_backend_auto_says_what_is_missing(tmp_path, clip, monkeypatch, capsys):  # noqa: F811
    media, _ = clip
    monkeypatch.delenv("ROTO_TEXT_RANDOM_WEIGHTS", raising=False)
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path / "weights"))
    rc = main(["segment", media, "--out", str(tmp_path / "p.roto"), "--frame", "1001", "--text", "person"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "roto-studio models download sam3" in err and "grounding-dino-tiny" in err


def test_sam3_video_tracks_phrases_and_new_instances_become_objects(tmp_path, clip, monkeypatch, capsys):  # noqa: F811
    """`--backend sam3 --propagate forward`: SAM 3 video follows the phrases; each instance becomes an
    object from the frame it first appears on (keyframe there), with the masks transformers' own
    session gives when driven directly over the same frames."""
    import torch

    from roto_studio.core.media import open_media
    from roto_studio.models.hf import build as hf_build
    from roto_studio.models.text.backends import next_name

    media, _ = clip
    monkeypatch.setenv("ROTO_TEXT_RANDOM_WEIGHTS", "sam3")
    out = tmp_path / "shot.roto"
    rc = main(["segment", media, "--out", str(out), "--frame", "1009", "--text", "person, dog",
               "--min-score", "0", "--backend", "sam3", "--propagate", "forward"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "SAM 3 video" in captured.err

    model, processor = hf_build.random_sam3_video()
    with open_media(media) as m:
        frames = [m.read(f) for f in m.frame_numbers]
    sess = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    processor.add_text_prompt(inference_session=sess, text=["person", "dog"])
    expected, taken = {}, set()  # upstream object id -> (name, first frame)
    masks = {}
    for step in model.propagate_in_video_iterator(inference_session=sess, start_frame_idx=8, max_frame_num_to_track=3):
        post = processor.postprocess_outputs(sess, step)
        for j, oid in enumerate(post["object_ids"].tolist()):
            if oid not in expected:
                phrase = next(p for p, ids in post["prompt_to_obj_ids"].items() if oid in ids)
                expected[oid] = (next_name(taken, phrase), 1001 + step.frame_idx)
                taken.add(expected[oid][0])
            masks[(oid, 1001 + step.frame_idx)] = post["masks"][j].numpy()
    assert expected, "random weights found nothing: the test would prove nothing"
    project = load_project(out)
    got = {o.name: o for o in project.objects}
    assert sorted(got) == sorted(name for name, _ in expected.values())
    for oid, (name, first) in expected.items():
        obj = got[name]
        assert min(project.masks.frames(obj.id)) == first
        assert first in project.prompts[obj.id]  # keyframe where it appeared
        for (o, f), mask in masks.items():
            if o == oid:
                np.testing.assert_array_equal(project.masks.get(obj.id, f) > 0.5, mask)


def test_text_prompt_from_a_weights_folder(tmp_path, clip, monkeypatch, capsys):  # noqa: F811
    """A SAM 3 folder in the published layout (config.json, model.safetensors, processor and
    tokenizer files; tiny random weights, tokenizer made here) is loaded by `--weights FOLDER`."""
    from roto_studio.models.hf import build as hf_build

    media, _ = clip
    monkeypatch.delenv("ROTO_TEXT_RANDOM_WEIGHTS", raising=False)
    model, processor = hf_build.random_sam3()
    folder = hf_build.save(model, processor, tmp_path / "sam3")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    out = tmp_path / "shot.roto"
    rc = main(["segment", media, "--out", str(out), "--frame", "1004", "--text", "person",
               "--min-score", "0.5", "--backend", "sam3", "--weights", str(folder)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"weights folder {folder}" in captured.err
    want = _finder_on(media, 1004).find(["person"], 0.5)
    project = load_project(out)
    assert [o.name for o in project.objects] == [f"person {i + 1}" for i in range(len(want))]
    for obj, f in zip(project.objects, want):
        np.testing.assert_array_equal(project.masks.get(obj.id, 1004) > 0.5, f.alpha > 0.5)
