"""Cutie backend: same masks as rf-cutie's own InferenceCore, offline build, checkpoints.

Cutie is built from rf-cutie's packaged config with seeded random weights (no download), on small
frames; the reference runs call InferenceCore.step as Cutie documents it (an index mask with the
object ids on frames with masks, the image alone elsewhere), objects added mid-shot and
corrections included.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cutie.inference.inference_core")

from cutie.inference.inference_core import InferenceCore  # noqa: E402

from roto_studio.core.errors import ModelError  # noqa: E402
from roto_studio.models.cutie import video as cutie_video  # noqa: E402
from roto_studio.core.prompt import Prompt  # noqa: E402
from roto_studio.models.cutie.video import CutieVideoPropagator  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

H, W = 96, 128
FIRST = 1001
TOL = 1e-4


class Frames:
    """A FrameSource over a list of images, counting reads."""

    def __init__(self, images):
        self.images = images
        self.height, self.width = images[0].shape[:2]
        self.reads = []

    @property
    def frame_numbers(self):
        return list(range(FIRST, FIRST + len(self.images)))

    def read(self, frame):
        self.reads.append(frame)
        return self.images[frame - FIRST]


def make_clip(n=5, h=H, w=W, seed=0):
    """A textured background with two moving blocks; masks follow the blocks."""
    rng = np.random.default_rng(seed)
    bg = (rng.random((h, w, 3)) * 120).astype(np.uint8)
    frames, masks_a, masks_b = [], [], []
    for t in range(n):
        img = bg.copy()
        a = np.zeros((h, w), np.float32)
        b = np.zeros((h, w), np.float32)
        ya, xa = h // 5 + t, w // 6 + 2 * t
        a[ya:ya + h // 3, xa:xa + w // 4] = 1
        yb, xb = h // 2, w // 2 + 10 - 2 * t
        b[yb:yb + h // 4, xb:xb + w // 5] = 1
        img[a > 0] = (230, 60, 40)
        img[b > 0] = (40, 200, 90)
        frames.append(img)
        masks_a.append(a)
        masks_b.append(b)
    return frames, masks_a, masks_b


@pytest.fixture(scope="module")
def base():
    return CutieVideoPropagator.from_config("base", seed=0, device="cpu", size=480)


@pytest.fixture(scope="module")
def model():
    """The small variant (ResNet-18) keeps the other tests quick."""
    return CutieVideoPropagator.from_config("small", seed=1, device="cpu", size=480)


@pytest.fixture(scope="module")
def clip():
    return make_clip()


def to_tensor(img):
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255.0


def index_mask(masks: dict[int, np.ndarray], shape=None) -> np.ndarray:
    """Cutie's input mask as its README gives it: an H x W map of object ids, 0 = background."""
    out = np.zeros(shape or next(iter(masks.values())).shape, np.int64)
    for cid, m in masks.items():
        out[m > 0.5] = cid
    return out


def reference(model, images, plan, seeds=()):
    """rf-cutie's InferenceCore called as its README shows, nothing else: `step(image, mask,
    objects=ids)` on a frame with masks (an index mask of those objects; an object new to Cutie
    is added and the others predicted by Cutie itself, as its add/delete-objects demo does),
    `step(image)` elsewhere; masks the user gave go to permanent memory (step's documented
    `force_permanent`). `plan`/`seeds` map position -> {cutie id: mask}; seeds are stepped first.
    Returns one {cid: prob} per image."""
    core = InferenceCore(model.network, cfg=model.cfg)

    def given(image, masks):
        return core.step(image, torch.from_numpy(index_mask(masks)), objects=sorted(masks), force_permanent=True)

    out = []
    with torch.inference_mode():
        for img, masks in seeds:
            given(to_tensor(img), masks)
        for i, img in enumerate(images):
            prob = given(to_tensor(img), plan[i]) if i in plan else core.step(to_tensor(img))
            out.append({obj.id: prob[tmp].numpy() for tmp, obj in core.object_manager.tmp_id_to_obj.items()})
    return out


def shown(ref_frame: dict) -> dict:
    """What a Cutie run shows on a frame (output_prob_to_mask, as its README does): {cid: mask}."""
    ids = sorted(ref_frame)
    probs = np.stack([1.0 - sum(ref_frame.values())] + [ref_frame[c] for c in ids])
    winner = probs.argmax(0)
    return {c: (winner == k + 1).astype(np.float32) for k, c in enumerate(ids)}


def compare(ours, ref, names, given=()):
    """Every object on every frame matches; (frame, name) pairs in `given` are the user's masks."""
    assert len(ours) == len(ref)
    for k, ((frame, alphas), expected) in enumerate(zip(ours, ref)):
        assert set(alphas) == {names[c] for c in expected}, frame
        for cid, prob in expected.items():
            got = alphas[names[cid]]
            assert got.shape == (H, W) and got.dtype == np.float32
            if (frame, names[cid]) in given:
                assert np.abs(got - (prob > 0.5)).max() < TOL  # binary user mask, Cutie ~ one-hot
            else:
                np.testing.assert_allclose(got, prob, atol=TOL, err_msg=f"frame {frame} {names[cid]}")


@pytest.mark.slow
def test_matches_inference_core_two_objects_and_correction(base, clip):
    model = base
    frames, ma, mb = clip
    src = Frames(frames)
    model.start(src)
    fix = np.roll(ma[3], 3, axis=1)  # a correction on a later frame, of every object there
    model.add_prompt(FIRST, "a", Prompt(mask=ma[0]))
    model.add_prompt(FIRST + 2, "b", Prompt(mask=mb[2] > 0.5))  # second object, added later (bool)
    model.add_prompt(FIRST + 3, "a", Prompt(mask=fix))
    model.add_prompt(FIRST + 3, "b", Prompt(mask=mb[3]))
    ours = list(model.propagate(FIRST))

    ref = reference(model, frames, {0: {1: ma[0]}, 2: {2: mb[2]}, 3: {1: fix, 2: mb[3]}})
    names = {1: "a", 2: "b"}
    compare(ours, ref, names, given={(FIRST, "a"), (FIRST + 2, "b"), (FIRST + 3, "a"), (FIRST + 3, "b")})
    assert [f for f, _ in ours] == src.frame_numbers
    assert ours[1][1].keys() == {"a"} and ours[3][1].keys() == {"a", "b"}

    # the outputs are real soft probabilities that differ between frames and objects
    a3, b3 = ours[4][1]["a"], ours[4][1]["b"]
    assert 0.0 < a3.std() and not np.allclose(a3, ours[1][1]["a"], atol=1e-3)
    assert not np.allclose(a3, b3, atol=1e-3)
    assert np.all((a3 + b3) <= 1.0 + 1e-5)  # Cutie's softmax over objects + background

    # the correction matters: without it the last frame comes out different
    no_fix = reference(model, frames, {0: {1: ma[0]}, 2: {2: mb[2]}})
    assert np.abs(no_fix[4][1] - ours[4][1]["a"]).max() > 1e-3

    # frames were read lazily, one step each
    assert src.reads == src.frame_numbers


def test_correcting_one_of_two_objects_keeps_what_cutie_shows_for_the_other(model, clip):
    """A correction of "a" alone where Cutie tracks "b" too: "b" on that frame is what Cutie's own
    run shows there (less what the user drew as "a"), and from there on the shot equals Cutie's documented run given that whole
    frame (the corrected "a" and the shown "b") as its mask."""
    frames, ma, mb = clip
    model.start(Frames(frames))
    fix = np.roll(ma[3], 3, axis=1)
    model.add_prompt(FIRST, "a", Prompt(mask=ma[0]))
    model.add_prompt(FIRST + 2, "b", Prompt(mask=mb[2]))
    model.add_prompt(FIRST + 3, "a", Prompt(mask=fix))
    ours = list(model.propagate(FIRST))

    plan = {0: {1: ma[0]}, 2: {2: mb[2]}}
    no_fix = reference(model, frames, plan)
    b_shown = shown(no_fix[3])[2] * (fix <= 0.5)  # where the user drew "a", "a" it is
    assert 0 < b_shown.sum() and not np.array_equal(b_shown, mb[3])  # Cutie's own view, not the truth
    ref = reference(model, frames, {**plan, 3: {1: fix, 2: b_shown}})
    names = {1: "a", 2: "b"}
    compare(ours[:3], no_fix[:3], names, given={(FIRST, "a"), (FIRST + 2, "b")})
    assert np.array_equal(ours[3][1]["a"], fix)
    assert np.abs(ours[3][1]["b"] - b_shown).max() < TOL
    compare(ours[4:], ref[4:], names)


def test_repropagate_from_correction_and_backward(model, clip):
    frames, ma, mb = clip
    model.start(Frames(frames))
    model.add_prompt(FIRST, "a", Prompt(mask=ma[0]))
    model.add_prompt(FIRST, "b", Prompt(mask=mb[0]))  # second object on the first frame
    fix = np.roll(ma[3], -2, axis=0)
    model.add_prompt(FIRST + 3, "a", Prompt(mask=fix))
    model.add_prompt(FIRST + 3, "b", Prompt(mask=mb[3]))
    assert model.affected_span(FIRST + 3) == (FIRST + 3, FIRST + 4)
    assert model.affected_span(FIRST + 3, reverse=True) == (FIRST + 3, FIRST + 1)

    # re-propagate only from the correction: earlier masks come back as permanent memory
    ours = list(model.propagate(FIRST + 3, stop=FIRST + 4))
    ref = reference(model, frames[3:5], {0: {1: fix, 2: mb[3]}}, seeds=[(frames[0], {1: ma[0], 2: mb[0]})])
    compare(ours, ref, {1: "a", 2: "b"}, given={(FIRST + 3, "a"), (FIRST + 3, "b")})
    assert [f for f, _ in ours] == [FIRST + 3, FIRST + 4]

    # backward from the last frame: frames fed in reverse order
    model.reset()
    model.add_prompt(FIRST + 4, "b", Prompt(mask=mb[4]))
    back = list(model.propagate(FIRST + 4, reverse=True, stop=FIRST + 2))
    ref = reference(model, frames[4:1:-1], {0: {1: mb[4]}})
    compare(back, ref, {1: "b"}, given={(FIRST + 4, "b")})
    assert [f for f, _ in back] == [FIRST + 4, FIRST + 3, FIRST + 2]


def test_cancel_then_rerun_and_remove_object(model, clip):
    frames, ma, mb = clip
    model.start(Frames(frames))
    model.add_prompt(FIRST, "a", Prompt(mask=ma[0]))
    model.add_prompt(FIRST, "b", Prompt(mask=mb[0]))
    full = list(model.propagate(FIRST, stop=FIRST + 3))
    gen = model.propagate(FIRST, stop=FIRST + 3)
    first = [next(gen), next(gen)]
    gen.close()  # cancel between frames: what was yielded stays valid
    for (f1, a1), (f2, a2) in zip(first, full):
        assert f1 == f2 and np.array_equal(a1["b"], a2["b"])
    again = list(model.propagate(FIRST, stop=FIRST + 3))  # no state leaks from the cancelled run
    for (_, a1), (_, a2) in zip(again, full):
        assert np.array_equal(a1["a"], a2["a"])

    model.remove_object("b")
    assert model.objects() == ["a"]
    assert all(set(a) == {"a"} for _, a in model.propagate(FIRST, stop=FIRST + 1))


def test_needs_a_mask(model, clip):
    frames, ma, _ = clip
    model.start(Frames(frames))
    with pytest.raises(ModelError, match="needs a mask"):
        model.add_prompt(FIRST, "a", Prompt(points=[(10.0, 10.0)], labels=[1]))
    with pytest.raises(ModelError, match="no mask to start from"):
        model.propagate(FIRST)
    with pytest.raises(ModelError, match="lies behind"):
        model.propagate(FIRST + 2, stop=FIRST + 1)
    with pytest.raises(ModelError, match="not in this shot"):
        model.add_prompt(999, "a", Prompt(mask=ma[0]))
    # a mask only later in the walk: frames before it have nothing yet
    model.add_prompt(FIRST + 1, "a", Prompt(mask=ma[1]))
    out = list(model.propagate(FIRST, stop=FIRST + 2))
    assert out[0] == (FIRST, {}) and set(out[1][1]) == {"a"} and set(out[2][1]) == {"a"}


def test_internal_size_upsamples_to_plate(model):
    """At size 96 on a 192x256 plate Cutie runs on area-downsized frames and its probabilities
    come back upsampled to plate size (bilinear, edge band refined against the plate)."""
    import cv2

    frames, ma, _ = make_clip(n=3, h=2 * H, w=2 * W, seed=1)
    small = CutieVideoPropagator(model.network, model.cfg, device="cpu", size=96)
    small.start(Frames(frames))
    small.add_prompt(FIRST, "a", Prompt(mask=ma[0]))
    ours = list(small.propagate(FIRST))
    assert cutie_video.internal_shape(2 * H, 2 * W, 96) == (H, W)

    lo = [cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in frames]
    m0 = cv2.resize(ma[0], (W, H), interpolation=cv2.INTER_AREA)
    ref = reference(model, lo, {0: {1: m0}})
    assert np.array_equal(ours[0][1]["a"], ma[0])  # the given mask comes back at plate size
    for (frame, alphas), expected in list(zip(ours, ref))[1:]:
        got = alphas["a"]
        assert got.shape == (2 * H, 2 * W)
        want = cutie_video.upsample_alpha(expected[1], (2 * H, 2 * W), frames[frame - FIRST])
        np.testing.assert_allclose(got, want, atol=TOL)
        plain = cv2.resize(expected[1], (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR)
        assert np.abs(got - plain).max() > 1e-3  # the band was refined, not just resized
        assert got.min() >= 0.0 and got.max() <= 1.0
    with pytest.raises(ModelError, match="at least 96"):
        CutieVideoPropagator(model.network, model.cfg, device="cpu", size=48)


def test_edge_band_refinement_follows_the_plate():
    """A sharp disk seen at 1/4 size: guided refinement in the band lands closer to the truth."""
    import cv2

    h, w = 256, 320
    yy, xx = np.mgrid[:h, :w]
    truth = (((yy - 120) ** 2 + (xx - 170) ** 2) < 70 ** 2).astype(np.float32)
    rng = np.random.default_rng(3)
    plate = np.where(truth[..., None] > 0, 200, 40).astype(np.float32) + rng.normal(0, 4, (h, w, 3))
    plate = np.clip(plate, 0, 255).astype(np.uint8)
    low = cv2.resize(truth, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    plain = cutie_video.upsample_alpha(low, (h, w), plate, refine=False)
    fine = cutie_video.upsample_alpha(low, (h, w), plate, refine=True)
    band = (plain > 0.01) & (plain < 0.99)
    assert band.sum() > 500
    np.testing.assert_array_equal(fine[~band], plain[~band])
    err_plain = np.abs(plain - truth)[band].mean()
    err_fine = np.abs(fine - truth)[band].mean()
    assert err_fine < 0.7 * err_plain, (err_fine, err_plain)


def test_builds_offline_and_loads_checkpoints(tmp_path, monkeypatch):
    import torch.utils.model_zoo as model_zoo

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download ImageNet weights")

    monkeypatch.setattr(model_zoo, "load_url", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    net = cutie_video.build_network(cutie_video.cutie_config("small"), seed=5)
    again = cutie_video.build_network(cutie_video.cutie_config("small"), seed=5)
    for (k, v), v2 in zip(net.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, v2), k  # seeded: the same random weights every time

    path = tmp_path / "cutie-small-mega.pth"
    torch.save(net.state_dict(), path)
    loaded = CutieVideoPropagator.load(checkpoint=path, device="cpu", size=320)
    assert loaded.size == 320 and loaded.device.device == "cpu"
    assert cutie_video.variant_of(loaded.network.state_dict()) == "small"
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[k], v), k

    monkeypatch.setenv("ROTO_CUTIE_WEIGHTS", str(path))
    assert cutie_video.find_weights() == path
    ok, why = cutie_video.available()
    assert ok and "cutie-small-mega.pth" in why

    with pytest.raises(ModelError, match="not found"):
        CutieVideoPropagator.load(checkpoint=tmp_path / "missing.pth", device="cpu")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot be read"):
        CutieVideoPropagator.load(checkpoint=bad, device="cpu")
    other = tmp_path / "other.pth"
    torch.save({"x": torch.zeros(1)}, other)
    with pytest.raises(ModelError, match="not a Cutie checkpoint"):
        CutieVideoPropagator.load(checkpoint=other, device="cpu")
    # found through the weights registry too: a file in an offline weights folder, checked against
    # its pin (random weights fail the published md5; a test pins file names their own hash)
    monkeypatch.delenv("ROTO_CUTIE_WEIGHTS")
    monkeypatch.setenv("ROTO_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(tmp_path))
    monkeypatch.delenv("ROTO_WEIGHTS_PINS", raising=False)
    assert cutie_video.find_weights() is None
    assert "does not match its checksum" in cutie_video.missing_message()
    from tests.hub_server import write_pins

    pins = write_pins(tmp_path / "pins.json", {"cutie-small": ("v1.0", {path.name: path.read_bytes()})})
    monkeypatch.setenv("ROTO_WEIGHTS_PINS", str(pins))
    found = cutie_video.find_weights()
    assert found is not None and found.resolve() == path.resolve()

    monkeypatch.setenv("ROTO_CUTIE_WEIGHTS", str(tmp_path / "nowhere.pth"))
    monkeypatch.setenv("ROTO_WEIGHTS_OFFLINE", str(tmp_path / "empty"))
    ok, why = cutie_video.available()
    assert not ok and "weights are missing" in why and "roto-studio models download cutie-base" in why
