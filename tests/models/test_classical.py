"""CPU fallback (no weights): GrabCut segmentation and flow propagation on generated images."""

import cv2
import numpy as np
import pytest

from roto_studio.core.metrics import iou
from roto_studio.core.prompt import Prompt
from roto_studio.models.classical import FlowPropagator, GrabCutSegmenter
from roto_studio.models.classical.flow import RECENT
from roto_studio.models.classical.image import alpha_to_logits


def texture(h, w, seed, palette, scale=6.0):
    """A smooth random texture mixing the colours of `palette`."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    weights = []
    for _ in palette:
        n = rng.random((h, w)).astype(np.float32)
        weights.append(cv2.GaussianBlur(n, (0, 0), scale))
    wsum = np.stack(weights, -1)
    wsum = np.exp((wsum - wsum.mean()) * 40)
    wsum /= wsum.sum(-1, keepdims=True)
    for i, c in enumerate(palette):
        out += wsum[..., i:i + 1] * np.array(c, np.float32)
    out += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


BG_PALETTE = [(40, 110, 40), (90, 140, 60), (120, 100, 70), (60, 70, 120)]
FG_PALETTE = [(200, 120, 50), (120, 100, 70), (230, 190, 80)]  # shares a colour with the background


def blob(h, w, cx, cy, rx, ry, angle=0.0):
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (int(cx), int(cy)), (int(rx), int(ry)), angle, 0, 360, 1, -1)
    # a limb, so the shape isn't convex
    cv2.rectangle(m, (int(cx + rx * 0.4), int(cy)), (int(cx + rx * 0.6), int(cy + ry * 1.6)), 1, -1)
    return m.astype(bool)


class SyntheticClip:
    """A textured object moving over a slowly panning textured background; known masks."""

    def __init__(self, n=14, h=120, w=160, first=1001):
        self.width, self.height = w, h
        self._nums = list(range(first, first + n))
        self._bg = texture(h + 40, w + 60, 1, BG_PALETTE)
        self._fg = texture(h, w, 2, FG_PALETTE, scale=3.0)
        self.reads = []

    @property
    def frame_numbers(self):
        return self._nums

    def _pose(self, i):
        return 45 + 4.0 * i, 50 + 1.5 * np.sin(i / 2.0), 24, 16, 5.0 * i

    def mask(self, frame):
        i = self._nums.index(frame)
        return blob(self.height, self.width, *self._pose(i))

    def read(self, frame):
        self.reads.append(frame)
        i = self._nums.index(frame)
        ox = 2 * i  # background pans
        img = self._bg[10:10 + self.height, ox:ox + self.width].copy()
        cx, cy = self._pose(i)[:2]
        # the object's texture moves with it
        m = np.float32([[1, 0, cx - 45], [0, 1, cy - 50]])
        fg = cv2.warpAffine(self._fg, m, (self.width, self.height), borderMode=cv2.BORDER_REFLECT)
        sel = self.mask(frame)
        img[sel] = fg[sel]
        return img


@pytest.fixture(scope="module")
def clip():
    return SyntheticClip()


def run_forward(prop, clip, start_prompt=None):
    nums = clip.frame_numbers
    prop.start(clip)
    prop.add_prompt(nums[0], "a", start_prompt or Prompt(mask=clip.mask(nums[0])))
    return {f: a["a"] for f, a in prop.propagate(nums[0])}


def test_propagation_tracks_moving_textured_object(clip):
    nums = clip.frame_numbers
    out = run_forward(FlowPropagator(), clip)
    assert sorted(out) == nums[1:]
    ours = [iou(out[f], clip.mask(f)) for f in nums[1:]]
    copy = [iou(clip.mask(nums[0]), clip.mask(f)) for f in nums[1:]]
    assert min(ours) > 0.8, ours
    assert np.mean(ours) > 0.88
    assert np.mean(ours) > np.mean(copy) + 0.3
    assert ours[-1] > 0.8  # no drift at the end
    a = out[nums[-1]]
    assert a.dtype == np.float32 and a.shape == (clip.height, clip.width)
    assert a.min() >= 0 and a.max() <= 1


def test_propagation_reads_each_frame_once_and_keeps_little(clip):
    clip.reads.clear()
    prop = FlowPropagator()
    run_forward(prop, clip)
    nums = clip.frame_numbers
    assert sorted(clip.reads) == sorted([nums[0]] + nums)  # prompt frame + one read per frame
    assert len(prop._tracks["a"].recent) <= RECENT


def test_backward_propagation_and_stop(clip):
    nums = clip.frame_numbers
    prop = FlowPropagator()
    prop.start(clip)
    last = nums[-1]
    prop.add_prompt(last, "a", Prompt(mask=clip.mask(last)))
    out = dict((f, a["a"]) for f, a in prop.propagate(last, reverse=True, stop=nums[3]))
    assert sorted(out) == nums[3:-1]
    assert np.mean([iou(out[f], clip.mask(f)) for f in out]) > 0.85


def test_later_prompt_resets_chain_and_two_objects(clip):
    nums = clip.frame_numbers
    h, w = clip.height, clip.width
    prop = FlowPropagator()
    prop.start(clip)
    prop.add_prompt(nums[0], "a", Prompt(mask=clip.mask(nums[0])))
    # a second object: a static patch of background, prompted as a box (GrabCut on that frame)
    other = np.zeros((h, w), bool)
    other[90:110, 5:25] = True
    prop.add_prompt(nums[0], "b", Prompt(mask=other))
    # a deliberately different mask for "a" on a later frame: the chain restarts from it
    reset = np.zeros((h, w), bool)
    reset[10:30, 100:130] = True
    prop.add_prompt(nums[6], "a", Prompt(mask=reset))
    out = {f: a for f, a in prop.propagate(nums[0])}
    assert set(out[nums[1]]) == {"a", "b"}
    assert iou(out[nums[3]]["a"], clip.mask(nums[3])) > 0.8
    assert iou(out[nums[6]]["a"], reset) == 1.0
    assert iou(out[nums[7]]["a"], clip.mask(nums[7])) < 0.2  # follows the new prompt
    prop.remove_object("b")
    out = {f: a for f, a in prop.propagate(nums[0], stop=nums[2])}
    assert set(out[nums[2]]) == {"a"}
    prop.reset()
    assert all(a == {} for _, a in prop.propagate(nums[0], stop=nums[2]))


def test_video_box_prompt_uses_grabcut(clip):
    nums = clip.frame_numbers
    gt = clip.mask(nums[0])
    ys, xs = np.nonzero(gt)
    box = (xs.min() - 6, ys.min() - 6, xs.max() + 6, ys.max() + 6)
    prop = FlowPropagator()
    prop.start(clip)
    alpha = prop.add_prompt(nums[0], "a", Prompt(box=box))
    assert iou(alpha, gt) > 0.85


def object_image(h=180, w=240, distractor=False):
    img = texture(h, w, 5, BG_PALETTE)
    fg = texture(h, w, 6, FG_PALETTE, scale=3.0)
    gt = np.zeros((h, w), bool)
    cv2.ellipse(gt.view(np.uint8), (110, 95), (55, 40), 20, 0, 360, 1, -1)
    cv2.circle(gt.view(np.uint8), (150, 60), 18, 1, -1)
    img[gt] = fg[gt]
    if distractor:  # object-coloured patch inside the box that is not the object
        d = np.zeros_like(gt)
        cv2.circle(d.view(np.uint8), (62, 140), 14, 1, -1)
        img[d] = fg[d]
    return img, gt


def test_grabcut_box_segments_distinct_object():
    img, gt = object_image()
    seg = GrabCutSegmenter()
    seg.set_image(img, key="still")
    pred = seg.predict(Prompt(box=(45, 30, 180, 150)))
    assert iou(pred.alpha, gt) > 0.93
    a = pred.alpha
    assert a.dtype == np.float32 and a.shape == gt.shape
    assert ((a > 0.02) & (a < 0.98)).any()  # a feathered edge
    assert pred.logits is not None and pred.logits.shape == gt.shape


def test_grabcut_clicks_fix_errors():
    img, gt = object_image(distractor=True)
    seg = GrabCutSegmenter()
    seg.set_image(img)
    prompt = Prompt(box=(40, 30, 180, 160))
    first = seg.predict(prompt)
    before = iou(first.alpha, gt)
    assert (first.alpha[130:150, 52:72] > 0.5).mean() > 0.5  # the box alone takes the distractor
    prompt.points.append((62, 140))
    prompt.labels.append(0)
    fixed = seg.predict(prompt, mask_logits=first.logits)
    after = iou(fixed.alpha, gt)
    assert (fixed.alpha[130:150, 52:72] > 0.5).mean() < 0.1
    assert after > before + 0.05 and after > 0.9


def test_grabcut_include_click_alone():
    img, gt = object_image()
    seg = GrabCutSegmenter()
    seg.set_image(img)
    pred = seg.predict(Prompt(points=[(110, 95)], labels=[1]))
    assert iou(pred.alpha, gt) > 0.8


def test_grabcut_needs_image_and_prompt():
    seg = GrabCutSegmenter()
    with pytest.raises(RuntimeError):
        seg.predict(Prompt(box=(0, 0, 5, 5)))
    seg.set_image(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ValueError):
        seg.predict(Prompt())


# -- clicks without a box on the bundled sample shot -------------------------------------------------
def _make_sample_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "resources" / "make_sample.py"
    spec = importlib.util.spec_from_file_location("roto_make_sample_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sample():
    """Frame 0 of the sample shot (640x360) with its disc and square masks and their centres."""
    mod = _make_sample_module()
    img = mod.frame_image(0)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    # the same geometry as make_sample.frame_image at i = 0
    cx, cy, r = w * 0.2, h * 0.5, min(w, h) * 0.16
    sx, sy, s = w * 0.75, h * 0.25, min(w, h) * 0.09
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    square = (np.abs(xx - sx) <= s) & (np.abs(yy - sy) <= s)
    assert (img[disc] == (210, 50, 40)).all() and (img[square] == (40, 70, 200)).all()
    return {"mod": mod, "img": img, "disc": disc, "square": square,
            "disc_at": (cx, cy), "square_at": (sx, sy), "r": r, "s": s}


def test_one_click_takes_the_clicked_object(sample):
    seg = GrabCutSegmenter()
    seg.set_image(sample["img"], key="sample")
    for name, off in (("disc", (0, 0)), ("square", (0, 0)), ("disc", (0.6, -0.5)), ("square", (-0.7, 0.6))):
        x, y = sample[name + "_at"]
        size = sample["r"] if name == "disc" else sample["s"]
        pred = seg.predict(Prompt(points=[(x + off[0] * size, y + off[1] * size)], labels=[1]))
        gt = sample[name]
        assert iou(pred.alpha, gt) > 0.9, (name, off, iou(pred.alpha, gt))
        assert (pred.alpha > 0.5).mean() < 2 * gt.mean()


def test_one_click_on_the_encoded_sample_shot(sample, tmp_path):
    """The app reads the sample as H.264 (4:2:0 chroma): the same clicks still work."""
    import av

    clip = sample["mod"].make_sample(tmp_path / "s.mp4", frames=2)
    with av.open(str(clip)) as f:
        img = next(f.decode(video=0)).to_ndarray(format="rgb24")
    assert img.shape == sample["img"].shape
    seg = GrabCutSegmenter()
    seg.set_image(img)
    for name in ("disc", "square"):
        pred = seg.predict(Prompt(points=[sample[name + "_at"]], labels=[1]))
        assert iou(pred.alpha, sample[name]) > 0.9, name


def test_one_click_on_background_stays_local(sample):
    seg = GrabCutSegmenter()
    seg.set_image(sample["img"])
    for pt in ((320, 300), (300, 100), (2, 2)):
        a = seg.predict(Prompt(points=[pt], labels=[1])).alpha > 0.5
        assert a[int(pt[1]), int(pt[0])]  # the clicked pixel is in
        assert a.mean() < 0.25, (pt, a.mean())  # never most of a varied frame
    # a truly uniform image may be taken whole
    seg.set_image(np.full((90, 120, 3), 128, np.uint8))
    assert (seg.predict(Prompt(points=[(60, 45)], labels=[1])).alpha > 0.5).mean() > 0.9


def test_later_clicks_fix_a_bad_mask(sample):
    seg = GrabCutSegmenter()
    seg.set_image(sample["img"])
    disc, square = sample["disc"], sample["square"]
    dp, sp = sample["disc_at"], sample["square_at"]
    h, w = disc.shape
    # a first answer that took nearly the whole frame: an exclude click on the background fixes it
    bad = np.zeros((h, w), np.float32)
    bad[5:-5, 5:-5] = 1.0
    fixed = seg.predict(Prompt(points=[dp, (320, 300)], labels=[1, 0]), mask_logits=alpha_to_logits(bad))
    assert iou(fixed.alpha, disc) > 0.9
    # the wrong object (say the first click landed on the disc but the answer was the square):
    # an include click outside the previous mask adds the region around it...
    wrong = alpha_to_logits(square.astype(np.float32))
    added = seg.predict(Prompt(points=[dp], labels=[1]), mask_logits=wrong)
    a = added.alpha > 0.5
    assert a[disc].mean() > 0.95 and a[square].mean() > 0.95
    assert iou(a, disc | square) > 0.9
    # ...and an exclude click inside the square removes the region around it
    inside = (sp[0] + 0.5 * sample["s"], sp[1] - 0.4 * sample["s"])
    only = seg.predict(Prompt(points=[dp, inside], labels=[1, 0]), mask_logits=added.logits)
    assert iou(only.alpha, disc) > 0.9
    assert (only.alpha[square] > 0.5).mean() < 0.02
    # a background chunk stuck to the object goes when an exclude click lands in it
    blob = disc.copy()
    blob[150:300, 150:330] = True
    out = seg.predict(Prompt(points=[dp, (260, 250)], labels=[1, 0]),
                      mask_logits=alpha_to_logits(blob.astype(np.float32)))
    assert iou(blob, disc) < 0.4 and iou(out.alpha, disc) > 0.9


def test_flow_propagator_click_prompt_uses_the_click_segmentation(sample):
    class Still:
        width, height = 640, 360
        frame_numbers = [1001, 1002]

        def read(self, frame):
            return sample["img"]

    prop = FlowPropagator()
    prop.start(Still())
    alpha = prop.add_prompt(1001, "a", Prompt(points=[sample["square_at"]], labels=[1]))
    assert iou(alpha, sample["square"]) > 0.9
