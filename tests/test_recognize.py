"""The second-stage recognizer: crops, standardizing, rescoring, mining labels, the detector
with a hand-made recognizer ONNX."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet.detector import DigitDetector, default_weights
from digitdet.errors import UserError
from digitdet.recognize import (
    BACKGROUND,
    BLUR_GATE,
    CROP,
    PAD,
    crop_square,
    is_blurred,
    rescore,
    sharpness,
    softmax,
    standardize,
    widen_hairline,
)
from digitdet.recognize_train import inside_share, jitter, label_boxes
from digitdet.results import Detections

from conftest import make_crop_model, make_onnx, yolo_output

# the detector test's fake scene: a '4' and a '2' side by side, and a lone '7' (letterboxed px)
ROWS = [(100, 108, 20, 40, 4, 0.9), (126, 108, 20, 40, 2, 0.8), (280, 200, 20, 40, 7, 0.7)]


def make_recognizer(path: Path, logits: list[float]) -> Path:
    """A recognizer ONNX whose logits are always ``logits`` (11 values) for every crop."""
    return make_crop_model(path, CROP, "logits", logits)


def one_hot_logits(k: int, strength: float = 20.0) -> list[float]:
    return [strength if i == k else 0.0 for i in range(11)]


@pytest.mark.parametrize("box, corner, middle", [
    ((8, 8, 24, 24), 255, 0),       # inside the image: the dark square in the middle
    ((-40, -40, -20, -20), PAD, PAD),  # wholly outside: plain gray
    ((0, 0, 16, 16), 0, 255),       # at the corner: the dark corner pixel copied outward
])
def test_crop_square(box: tuple[float, ...], corner: int, middle: int) -> None:
    gray = np.full((64, 64), 255, np.uint8)
    gray[10:22, 10:22] = 0
    gray[0, 0] = 0
    crop = crop_square(gray, np.array(box, np.float32))
    assert crop.shape == (CROP, CROP) and crop.dtype == np.uint8
    assert crop[0, 0] == corner and crop[CROP // 2, CROP // 2] == middle


def test_big_crop_keeps_a_hairline() -> None:
    # a 3-px line in a 700-px box shrinks ~28x: averaged, it stays a visible darker column
    gray = np.full((1000, 1000), 255, np.uint8)
    gray[:, 499:502] = 0
    crop = crop_square(gray, np.array([150, 150, 850, 850], np.float32))
    assert crop.min() < 245 and np.median(crop) == 255  # sampled bilinearly: all 255


def stroke_crop(width: int, ink: int, paper: int) -> np.ndarray:
    """A CROP-px square of ``paper`` with an L of ``ink`` strokes ``width`` px wide."""
    crop = np.full((CROP, CROP), paper, np.uint8)
    crop[6:26, 10:10 + width] = ink
    crop[26 - width:26, 10:24] = ink
    return crop


@pytest.mark.parametrize("crop, ink, widened", [
    (stroke_crop(1, 0, 255), 0, True),      # black 1-px hairline on white: widened
    (stroke_crop(2, 255, 0), 255, True),    # white 2-px line on black: widened
    (stroke_crop(1, 80, 170), 80, True),    # gray on gray, as a shrunk 3-px brush: widened
    (stroke_crop(3, 0, 255), 0, False),     # 3 px: a 3x3 erosion keeps some of it, as drawn
    (stroke_crop(4, 255, 0), 255, False),   # fat white stroke on black: as drawn
    (np.full((CROP, CROP), 200, np.uint8), 200, False),  # flat: nothing to widen
])
def test_widen_hairline(crop: np.ndarray, ink: int, widened: bool) -> None:
    out = widen_hairline(crop)
    assert out.shape == crop.shape and out.dtype == np.uint8
    grown = int((out == ink).sum()) - int((crop == ink).sum())
    assert (grown > 0) == widened and (widened or np.array_equal(out, crop))
    if widened:  # one pixel wider: a 2x2 filter adds a column and a row along each stroke
        assert 20 <= grown <= 40


@pytest.mark.parametrize("side, pen, widened", [
    (40, 1, False),   # shrunk less than twice: a thin stroke is the digit's own, kept
    (300, 3, True),   # a 3-px line shrunk ~12x, a faint 1-px line: widened
    (300, 40, False),  # a fat stroke shrunk as much stays wider than 2 px: kept
])
def test_crop_square_widens_shrunk_hairlines(monkeypatch: pytest.MonkeyPatch, side: int, pen: int,
                                             widened: bool) -> None:
    gray = np.full((400, 400), 255, np.uint8)
    gray[50:50 + side, 200:200 + pen] = 0
    box = np.array([200 - side / 2, 50, 200 + side / 2, 50 + side], np.float32)
    crop = crop_square(gray, box)
    monkeypatch.setattr("digitdet.recognize.widen_hairline", lambda c: c)
    plain = crop_square(gray, box)
    assert (not np.array_equal(crop, plain)) == widened
    if widened:  # darker, never lighter
        assert (crop <= plain).all() and crop.sum() < plain.sum()


@pytest.mark.parametrize("box", [
    (8, 8, 24, 24),          # small: straight to 32 px
    (-30, 40, 150, 230),     # past the left edge, over twice 32 px: blocks averaged first
    (20, 10, 280, 190),      # inside, ~8x: three 2x passes and the rest
])
def test_crop_of_bgr_equals_crop_of_gray(box: tuple[float, ...]) -> None:
    # the detector crops its BGR image, converting only the square: same as a gray image
    bgr = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    b = np.array(box, np.float32)
    assert np.array_equal(crop_square(bgr, b), crop_square(gray, b))


def test_big_crop_is_the_block_mean() -> None:
    # diagonal stripes 4 px wide of 100 / 200, averaged over a 320-px square (ten 32-px
    # blocks a side): 150 everywhere (+-2); sampled, the crop would read 100s and 200s
    gray = np.where((np.indices((400, 400)).sum(0) // 4) % 2 == 0, 100, 200).astype(np.uint8)
    crop = crop_square(gray, np.array([200 - 122.5, 200 - 122.5, 200 + 122.5, 200 + 122.5]))
    assert np.abs(crop.astype(int) - 150).max() <= 2


@pytest.mark.parametrize("crops", [
    np.random.default_rng(0).integers(0, 256, (3, CROP, CROP), dtype=np.uint8),  # varied
    np.full((2, CROP, CROP), 200, np.uint8),                                      # flat: zeros
    np.zeros((0, CROP, CROP), np.uint8),                                          # none
])
def test_standardize(crops: np.ndarray) -> None:
    x = standardize(crops)
    assert x.shape == (len(crops), 1, CROP, CROP) and x.dtype == np.float32
    if len(crops):
        assert np.allclose(x.mean((1, 2, 3)), 0, atol=1e-4)
    if len(crops) and crops.std() > 8:
        assert np.allclose(x.std((1, 2, 3), ddof=1), 1, atol=1e-3)
    elif len(crops):
        assert (x == 0).all()


def dets(rows: list[tuple[float, float, float, float, float, int]]) -> Detections:
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64))


def probs_for(*cls_p: tuple[int, float]) -> np.ndarray:
    """One probability row per (class, p): p on that class, the rest spread evenly."""
    rows = np.full((len(cls_p), 11), 0.0, np.float32)
    for i, (c, p) in enumerate(cls_p):
        rows[i] = (1 - p) / 10
        rows[i, c] = p
    return rows


@pytest.mark.parametrize("rows, probs, cls, conf", [
    # agreeing: class kept, confidence sqrt(0.64 * 0.81) = 0.72
    ([(0, 0, 10, 20, 0.64, 3)], probs_for((3, 0.81)), [3], [0.72]),
    # disagreeing: the recognizer's digit wins
    ([(0, 0, 10, 20, 0.81, 9)], probs_for((7, 0.64)), [7], [0.72]),
    # background: the best digit keeps only a low confidence
    ([(0, 0, 10, 20, 0.81, 1)], probs_for((BACKGROUND, 0.91)), [0], [np.sqrt(0.81 * 0.009)]),
    # a '1' box and a '7' box on one digit, both read 7 now: NMS keeps the stronger
    ([(0, 0, 10, 20, 0.5, 1), (1, 0, 11, 20, 0.4, 7)], probs_for((7, 0.9), (7, 0.9)), [7],
     [np.sqrt(0.45)]),
    # nothing in, nothing out
    ([], np.zeros((0, 11), np.float32), [], []),
])
def test_rescore(rows: list, probs: np.ndarray, cls: list[int], conf: list[float]) -> None:
    out = rescore(dets(rows), probs, 0.45)
    assert out.class_id.tolist() == cls
    assert np.allclose(out.confidence, conf, atol=1e-3)


def test_rescore_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 11\)"):
        rescore(dets([(0, 0, 10, 20, 0.5, 1)]), np.zeros((2, 11), np.float32), 0.45)


def test_softmax_rows_sum_to_one() -> None:
    p = softmax(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]], np.float32))
    assert np.allclose(p.sum(1), 1) and np.allclose(p[1], 1 / 3) and p[0].argmax() == 2


@pytest.mark.parametrize("det, cap, expected", [
    ([[0, 0, 10, 10]], 5, [3]),                    # on the digit: its class
    ([[100, 100, 110, 110]], 5, [BACKGROUND]),     # on nothing: not a digit
    ([[5, 0, 15, 10]], 5, [-1]),                   # half on it (IoU 1/3): unused
    ([[100, 100, 110, 110], [200, 200, 210, 210]], 1, [BACKGROUND, -1]),  # the cap
    (np.zeros((0, 4)), 5, []),                     # no boxes
])
def test_label_boxes(det: list, cap: int, expected: list[int]) -> None:
    gt_box = np.array([[0, 0, 10, 10]], np.float32)
    got = label_boxes(np.array(det, np.float32).reshape(-1, 4), gt_box, np.array([3]), cap)
    assert got.tolist() == expected


@pytest.mark.parametrize("det, cap, with_parts, without", [
    ([[0, 6, 10, 10]], 5, [BACKGROUND], [-1]),     # the lower 40 % of the digit: a part of it
    ([[2, 2, 8, 8]], 5, [BACKGROUND], [-1]),       # its middle (IoU 0.36): a part
    ([[0, 5, 10, 10]], 5, [3], [3]),               # its lower half (IoU 0.5): still the digit
    ([[5, 0, 15, 10]], 5, [-1], [-1]),             # half on it, half off: unused either way
    ([[0, 6, 10, 10], [0, 0, 10, 3]], 1, [BACKGROUND, -1], [-1, -1]),  # parts have a cap
    ([[100, 100, 110, 110], [0, 6, 10, 10]], 1,    # and it is not the free boxes' cap
     [BACKGROUND, BACKGROUND], [BACKGROUND, -1]),
])
def test_label_boxes_with_parts(det: list, cap: int, with_parts: list[int],
                                without: list[int]) -> None:
    boxes, gt_box = np.array(det, np.float32), np.array([[0, 0, 10, 10]], np.float32)
    assert label_boxes(boxes, gt_box, np.array([3]), cap, parts=True).tolist() == with_parts
    assert label_boxes(boxes, gt_box, np.array([3]), cap).tolist() == without


@pytest.mark.parametrize("box, share", [
    ([0, 0, 10, 10], 1.0),                         # the same box
    ([5, 0, 15, 10], 0.5),                         # half over the edge
    ([20, 20, 30, 30], 0.0),                       # apart
    ([4, 4, 4, 8], 0.0),                           # no area
])
def test_inside_share(box: list, share: float) -> None:
    got = inside_share(np.array([box], np.float32), np.array([[0, 0, 10, 10]], np.float32))
    assert got.shape == (1, 1) and got[0, 0] == pytest.approx(share)


def test_label_boxes_without_digits() -> None:
    got = label_boxes(np.array([[0, 0, 5, 5]], np.float32), np.zeros((0, 4), np.float32),
                      np.zeros(0, np.int64), 3)
    assert got.tolist() == [BACKGROUND]


def test_jitter_is_seeded_and_small() -> None:
    box = np.array([100, 100, 120, 140], np.float32)
    a, b = jitter(box, np.random.default_rng(1)), jitter(box, np.random.default_rng(1))
    assert np.array_equal(a, b) and np.abs(a - box).max() < 10


# ---------------------------------------------------------------- with the detector

@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return make_onnx(tmp_path / "fake.onnx", yolo_output(ROWS))


@pytest.mark.parametrize("logits, classes, numbers", [
    (one_hot_logits(8), [8, 8, 8], ["88", "8"]),   # a recognizer reading 8 everywhere
    (one_hot_logits(BACKGROUND), [], []),          # one that sees no digit: all fade out
])
def test_detector_with_recognizer(tmp_path: Path, weights: Path, logits: list[float],
                                  classes: list[int], numbers: list[str]) -> None:
    rec = make_recognizer(tmp_path / "rec.onnx", logits)
    pred = DigitDetector(weights, recognizer=rec).predict(np.zeros((480, 640, 3), np.uint8))
    assert pred.detections.class_id.tolist() == classes
    assert [n.text for n in pred.numbers] == numbers
    if classes:  # sqrt(detector score * ~1): 0.9, 0.8, 0.7 -> 0.95, 0.89, 0.84
        assert np.allclose(pred.detections.confidence, np.sqrt([0.9, 0.8, 0.7]), atol=1e-3)


# a '4' with a box on its stem inside it (letterboxed px), as the detector draws one on a 7's stem
PIECE_ROWS = [(100, 108, 20, 40, 4, 0.9), (104, 110, 6, 30, 1, 0.8)]


@pytest.mark.parametrize("rows, recognizer, boxes, numbers", [
    (PIECE_ROWS, True, 1, ["8"]),    # with the recognizer: the piece is dropped, as the numbers drop it
    (PIECE_ROWS, False, 2, ["4"]),   # the detector alone returns every box (as ultralytics), reads one
    (ROWS, True, 3, ["88", "8"]),    # boxes on separate digits all stay
])
def test_recognizer_returns_the_boxes_numbers_are_read_from(
        tmp_path: Path, rows: list, recognizer: bool, boxes: int, numbers: list[str]) -> None:
    det_onnx = make_onnx(tmp_path / "fake.onnx", yolo_output(rows))
    rec = make_recognizer(tmp_path / "rec.onnx", one_hot_logits(8)) if recognizer else False
    pred = DigitDetector(det_onnx, recognizer=rec).predict(np.zeros((480, 640, 3), np.uint8))
    assert len(pred.detections) == boxes
    assert [n.text for n in pred.numbers] == numbers


# a confident digit, a faint box (0.02) just right of it in its row, and one as faint far away
FAINT_ROWS = [(100, 108, 20, 40, 4, 0.9), (124, 108, 4, 36, 1, 0.02), (300, 108, 4, 36, 1, 0.02)]


@pytest.mark.parametrize("context, numbers", [
    (True, ["88"]),    # the number vouches for the faint box beside it (the far one stays out)
    (False, ["8"]),    # without context only the confident digit clears the threshold
])
def test_context_lifts_a_faint_digit_in_a_number(tmp_path: Path, context: bool,
                                                 numbers: list[str]) -> None:
    det_onnx = make_onnx(tmp_path / "fake.onnx", yolo_output(FAINT_ROWS))
    rec = make_recognizer(tmp_path / "rec.onnx", one_hot_logits(8))
    pred = DigitDetector(det_onnx, recognizer=rec, context=context).predict(
        np.zeros((480, 640, 3), np.uint8))
    assert [n.text for n in pred.numbers] == numbers
    assert len(pred.detections) == len(numbers[0])


def test_recognizer_threshold_and_classes(tmp_path: Path, weights: Path) -> None:
    rec = make_recognizer(tmp_path / "rec.onnx", one_hot_logits(8))
    img = np.zeros((480, 640, 3), np.uint8)
    # conf 0.85 applies to the rescored confidences (0.95, 0.89, 0.84): two left
    assert len(DigitDetector(weights, conf=0.85, recognizer=rec).predict(img).detections) == 2
    # classes filter the recognizer's classes, not the detector's
    assert len(DigitDetector(weights, classes=[4], recognizer=rec).predict(img).detections) == 0
    assert len(DigitDetector(weights, classes=[8], recognizer=rec).predict(img).detections) == 3


@pytest.mark.parametrize("recognizer, on", [
    (None, False),   # other weights than the shipped: no recognizer unless asked
    (False, False),  # off
])
def test_recognizer_default(weights: Path, recognizer: bool | None, on: bool) -> None:
    assert (DigitDetector(weights, recognizer=recognizer).recognizer is not None) == on


@pytest.mark.parametrize("where, recognizer, on", [
    ("shipped", None, True),    # the package's own ONNX named by path: read as with no weights
    ("shipped", False, False),  # ... unless the second stage is turned off
    ("copy", None, False),      # the same file elsewhere is other weights: detector alone
])
def test_shipped_weights_by_path(tmp_path: Path, where: str, recognizer: bool | None,
                                 on: bool) -> None:
    path = default_weights()
    if where == "copy":
        path = Path(shutil.copy(path, tmp_path / path.name))
    det = DigitDetector(path, recognizer=recognizer)
    assert (det.recognizer is not None, det.refiner is not None) == (on, on)


def test_missing_recognizer_is_a_user_error(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(UserError, match="recognizer weights .* not found"):
        DigitDetector(weights, recognizer=tmp_path / "nope.onnx")


# ---------------------------------------------------------------- blurred images

def bar(contrast: int = 255, sigma: float = 0.0, width: int = 4) -> np.ndarray:
    """A ``(CROP, CROP) uint8`` crop: a dark upright bar on light paper, blurred by ``sigma``."""
    crop = np.full((CROP, CROP), 255, np.uint8)
    crop[6:26, 14:14 + width] = 255 - contrast
    return cv2.GaussianBlur(crop, (0, 0), sigma) if sigma else crop


@pytest.mark.parametrize("crop, low, high", [
    (bar(), 0.5, 0.5),                       # step edges: half the contrast a pixel (Sobel / 8)
    (bar(contrast=60), 0.5, 0.5),            # the same at a quarter of the contrast
    (bar(sigma=1.0), BLUR_GATE, 0.4),        # slightly soft: just over the gate
    (bar(sigma=2.0), 0.15, 0.25),            # a Gaussian blur of 2 px: well under it
    (bar(sigma=3.0), 0.1, 0.2),              # of 3 px: lower still
    (np.full((CROP, CROP), 128, np.uint8), 0.0, 0.0),  # flat: no edge at all
    (bar(contrast=4), 0.25, 0.25),           # 4 gray levels: over a contrast floored at 8
])
def test_sharpness(crop: np.ndarray, low: float, high: float) -> None:
    s = sharpness(crop[None])
    assert s.shape == (1,) and s.dtype == np.float32
    assert low - 1e-6 <= s[0] <= high + 1e-6


def test_sharpness_is_opencvs_sobel() -> None:
    # the vectorized gradient equals cv2.Sobel's (3x3, borders reflected) crop by crop
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, CROP, CROP)).astype(np.uint8)
    crops[2] = cv2.GaussianBlur(crops[2], (0, 0), 2.0)
    want = []
    for c in crops.astype(np.float32):
        g = np.hypot(cv2.Sobel(c, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(c, cv2.CV_32F, 0, 1, ksize=3)) / 8
        want.append(np.percentile(g, 95) / max(np.percentile(c, 98) - np.percentile(c, 2), 8.0))
    assert np.allclose(sharpness(crops), want, rtol=1e-5)
    assert sharpness(np.zeros((0, CROP, CROP), np.uint8)).shape == (0,)


@pytest.mark.parametrize("crops, blurred", [
    (np.stack([bar(), bar(), bar(sigma=3.0)]), False),                  # most crops sharp
    (np.stack([bar(), bar(sigma=2.0), bar(sigma=3.0)]), True),          # most crops blurred
    (np.zeros((0, CROP, CROP), np.uint8), False),                      # no box: nothing to judge
])
def test_is_blurred(crops: np.ndarray, blurred: bool) -> None:
    assert is_blurred(crops) is blurred


@pytest.mark.parametrize("sigma, blur_member, classes", [
    (0.0, True, [8, 8, 8]),    # sharp strokes: the recognizer reads them
    (6.0, True, [3, 3, 3]),    # blurred: the blur member reads every crop
    (6.0, False, [8, 8, 8]),   # blurred, no blur member: the recognizer still reads them
])
def test_blurred_image_goes_to_the_blur_member(tmp_path: Path, weights: Path, sigma: float,
                                               blur_member: bool, classes: list[int]) -> None:
    boxes = DigitDetector(weights, recognizer=False).predict(np.zeros((480, 640, 3), np.uint8))
    img: np.ndarray = np.full((480, 640, 3), 255, np.uint8)
    for x1, y1, x2, y2 in boxes.detections.xyxy.astype(int):  # a dark stroke in each box
        cv2.rectangle(img, (x1 + 6, y1 + 6), (x2 - 6, y2 - 6), (0, 0, 0), 4)
    if sigma:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    rec = make_recognizer(tmp_path / "rec.onnx", one_hot_logits(8))
    blur = make_recognizer(tmp_path / "blur.onnx", one_hot_logits(3)) if blur_member else False
    pred = DigitDetector(weights, recognizer=rec, blur_recognizer=blur).predict(img)
    assert sorted(pred.detections.class_id.tolist()) == classes


@pytest.mark.parametrize("recognizer, blur_recognizer, on", [
    (True, None, True),     # the shipped recognizer comes with its blur member
    (True, False, False),   # --no-blur-recognizer
    ("rec", None, False),   # another recognizer: none unless asked
    ("rec", True, True),    # ... or asked for
])
def test_blur_member_default(tmp_path: Path, weights: Path, recognizer: bool | str,
                             blur_recognizer: bool | None, on: bool) -> None:
    rec = make_recognizer(tmp_path / "rec.onnx", one_hot_logits(8)) if recognizer == "rec" else True
    det = DigitDetector(weights, recognizer=rec, blur_recognizer=blur_recognizer)
    assert det.recognizer is not None and (det.recognizer.blurred is not None) == on


def test_missing_blur_recognizer_is_a_user_error(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(UserError, match="blur recognizer weights .* not found"):
        DigitDetector(weights, recognizer=True, blur_recognizer=tmp_path / "nope.onnx")



# ---------------------------------------------------------------- training and export

def bar_crops(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy 32x32 crops: odd ones hold a dark vertical bar (label 1), even ones none
    (label BACKGROUND)."""
    x = rng.integers(200, 256, (n, CROP, CROP)).astype(np.uint8)
    x[1::2, 6:26, 14:18] = 20
    y = np.where(np.arange(n) % 2 == 1, 1, BACKGROUND).astype(np.int64)
    return x, y


def test_train_and_export_agree(tmp_path: Path) -> None:
    import warnings

    import onnxruntime as ort
    import torch

    from digitdet.recognize_train import accuracy, export_onnx, train_net

    x, y = bar_crops(256, np.random.default_rng(0))
    model = train_net(x, y, epochs=3, seed=0, width=4, batch=32, log=lambda *a, **k: None)
    xt, yt = bar_crops(64, np.random.default_rng(1))
    assert accuracy(model, xt, yt) == 1.0  # a bar and no bar: learnt in three short epochs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_onnx(model, tmp_path / "rec.onnx")
    assert not [w for w in caught if "legacy TorchScript" in str(w.message)]  # muted
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    crops = standardize(xt[:5])  # (5, 1, 32, 32): a batch of 5 though exported with 2
    got = sess.run(["logits"], {"crops": crops})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(crops)).numpy()
    assert got.shape == (5, 11) and np.allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("full_res, params", [
    (False, 193_019),  # the shipped members' layout (the model card's 193 k)
    (True, 204_635),   # first convolutions at 32x32 and a third stage
])
def test_build_net(full_res: bool, params: int) -> None:
    import torch

    from digitdet.recognize_train import build_net

    net = build_net(16, full_res).eval()
    assert sum(p.numel() for p in net.parameters()) == params
    with torch.no_grad():
        assert tuple(net(torch.zeros(3, 1, CROP, CROP)).shape) == (3, BACKGROUND + 1)


@pytest.mark.parametrize("strength, seed_b, same_as_input, same_as_a", [
    (0.0, 0, True, True),      # off: the crops come back untouched
    (1e-9, 0, True, True),     # a turn of nothing is the identity (pixel centres sampled exactly)
    (1.0, 0, False, True),     # on: the crops move, and the same seed moves them the same way
    (1.0, 1, False, False),    # another seed, another move
])
def test_random_affine(strength: float, seed_b: int, same_as_input: bool, same_as_a: bool) -> None:
    import torch

    from digitdet.recognize_train import random_affine

    x, _ = bar_crops(8, np.random.default_rng(0))
    xb = torch.from_numpy(standardize(x))
    a = random_affine(xb, np.random.default_rng(0), strength)
    b = random_affine(xb, np.random.default_rng(seed_b), strength)
    assert a.shape == xb.shape == (8, 1, CROP, CROP)
    assert torch.allclose(a, xb, atol=1e-4) == same_as_input
    assert torch.equal(a, b) == same_as_a


def digit_crop(ink: int, paper: int) -> np.ndarray:
    """A 32x32 crop with a '0'-like ring (ink) in its middle, x 11-21 and y 6-26."""
    c = np.full((CROP, CROP), paper, np.uint8)
    cv2.ellipse(c, (16, 16), (5, 10), 0, 0, 360, ink, 2)
    return c


@pytest.mark.parametrize("crop, prob, changed", [
    (digit_crop(20, 230), 0.0, False),   # off: untouched
    (digit_crop(20, 230), 1.0, True),    # dark ink on paper: a dark line beside the ring
    (digit_crop(240, 30), 1.0, True),    # chalk on a board: a light line
    (np.full((CROP, CROP), 200, np.uint8), 1.0, False),  # no ink: nothing to match, untouched
])
def test_add_lines(crop: np.ndarray, prob: float, changed: bool) -> None:
    from digitdet.recognize_train import add_lines

    crops = np.stack([crop] * 64)
    out = add_lines(crops, np.random.default_rng(0), prob)
    assert out.shape == crops.shape and out.dtype == np.uint8
    assert np.array_equal(crops, np.stack([crop] * 64))  # the input is not drawn on
    diff = out.astype(int) - crops
    assert bool(diff.any()) == changed
    if changed:
        assert not diff[:, crop != crop[0, 0]].any()  # never on the digit's ink
        darker = crop[16, 11] < crop[0, 0]  # the ink is darker than the paper
        assert ((diff <= 0) if darker else (diff >= 0)).all()  # lines in the ink's direction
        drawn = (diff != 0).any((1, 2)).mean()
        assert 0.8 < drawn <= 1.0  # nearly every crop (a line may fall outside the crop)
    assert np.array_equal(out, add_lines(crops, np.random.default_rng(0), prob))  # same seed


def test_add_lines_off_keeps_the_random_stream() -> None:
    # --lines 0 draws nothing, so a seed trains the same model as before the option existed
    from digitdet.recognize_train import add_lines

    rng = np.random.default_rng(5)
    add_lines(np.stack([digit_crop(20, 230)] * 8), rng, 0.0)
    assert rng.random() == np.random.default_rng(5).random()


def test_recognize_train_without_torch(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # no torch (no train extra): one line and exit 2 before any crop is mined
    import sys

    from digitdet.recognize_train import main

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert main(["--data", "no-such-folder"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs torch" in err
