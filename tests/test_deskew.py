"""Photos with the camera rolled: the rows' slope, the turn, boxes turned back, the detector's second read."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from digitdet.deskew import boxes_back, roll, row_angle, turn
from digitdet.detector import DigitDetector
from digitdet.results import Detections

from conftest import make_onnx, yolo_output


def row(degrees: float, n: int, conf: float = 0.9, x0: float = 100, y0: float = 200,
        pitch: float = 30, h: float = 40) -> Detections:
    """``n`` digit boxes (20 x ``h``) whose centres step ``pitch`` px along a row sloping by
    ``degrees`` (image y down), classes 1, 2, ..."""
    a = math.radians(degrees)
    cx = x0 + pitch * math.cos(a) * np.arange(n)
    cy = y0 + pitch * math.sin(a) * np.arange(n)
    xyxy = np.stack([cx - 10, cy - h / 2, cx + 10, cy + h / 2], 1).astype(np.float32)
    return Detections(xyxy, np.full(n, conf, np.float32), (np.arange(n) % 9 + 1).astype(np.int64))


def joined(*parts: Detections) -> Detections:
    return Detections(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.confidence for p in parts]),
                      np.concatenate([p.class_id for p in parts]))


@pytest.mark.parametrize("det, expected", [
    (row(0, 4), 0.0),                                        # a level row
    (row(10, 4), 10.0),                                      # falling to the right
    (row(-12, 5), -12.0),                                    # rising to the right
    (joined(row(8, 3), row(8, 3, y0=400)), 8.0),             # two numbers of two pairs each
    (joined(row(10, 3), row(-4, 2, y0=400), row(10, 2, y0=600)), 10.0),  # the median of 4 pairs
    (row(10, 3), None),                                      # two pairs: too few to judge
    (row(10, 4, conf=0.2), None),                            # faint boxes do not count
    (Detections.empty(), None),                              # nothing read
])
def test_row_angle(det: Detections, expected: float | None) -> None:
    got = row_angle(det)
    assert got == pytest.approx(expected, abs=0.01) if expected is not None else got is None


def steps(slopes: list[float], pitch: float = 30, h: float = 40) -> Detections:
    """One number of digit boxes (20 x ``h``) whose centres step ``pitch`` px to the right and
    up or down by ``slopes`` (degrees, one per step)."""
    dy = pitch * np.tan(np.radians(slopes))
    cx = 100 + pitch * np.arange(len(slopes) + 1)
    cy = 200 + np.concatenate([[0.0], np.cumsum(dy)])
    xyxy = np.stack([cx - 10, cy - h / 2, cx + 10, cy + h / 2], 1).astype(np.float32)
    n = len(cx)
    return Detections(xyxy, np.full(n, 0.9, np.float32), (np.arange(n) % 9 + 1).astype(np.int64))


@pytest.mark.parametrize("det, expected", [
    (steps([10, 10, 10, 10]), 10.0),          # a rolled photo: every step slopes alike
    (steps([5, 6, 4, 5, 5.5]), 5.0),          # a small roll, clearly
    (steps([0, 0, 0, 0]), None),              # level
    (steps([3, 3, 3, 3]), None),              # under MIN_DEGREES: not worth a second read
    (steps([20, -10, 5, 8, -12, 6]), None),   # a median of 5.5 by chance: digits up and down
    (steps([10, 10]), None),                  # two steps: too few to judge
])
def test_roll(det: Detections, expected: float | None) -> None:
    got = roll(det)
    assert got == pytest.approx(expected, abs=0.01) if expected is not None else got is None


@pytest.mark.parametrize("h, w", [(99, 101), (480, 640), (640, 480)])
@pytest.mark.parametrize("degrees", [-12.0, 7.0, 15.0])
def test_turn_levels_a_sloping_row_and_keeps_the_whole_image(h: int, w: int, degrees: float) -> None:
    img = np.zeros((h, w, 3), np.uint8)
    out, m = turn(img, degrees)
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ m[:, :2].T + m[:, 2]
    th, tw = out.shape[:2]
    span = corners.max(0) - corners.min(0)  # (x, y): the turned image's extent
    assert corners.min() >= -0.5 and (corners.max(0) <= [tw + 0.5, th + 0.5]).all()  # all of it ...
    assert (np.array([tw, th]) - span < 1.5).all()  # ... on a canvas no bigger than it needs
    a = math.radians(degrees)  # points along a row sloping by `degrees` come out at one height
    pts = np.stack([w / 2 + np.arange(5) * 10 * math.cos(a), h / 2 + np.arange(5) * 10 * math.sin(a)], 1)
    level = pts @ m[:, :2].T + m[:, 2]
    assert np.ptp(level[:, 1]) < 1e-6 and (np.diff(level[:, 0]) > 0).all()


@pytest.mark.parametrize("h, w", [(99, 101), (480, 640), (640, 480)])
def test_boxes_back_envelope_the_box_at_its_place(h: int, w: int) -> None:
    box = np.array([[w * 0.4, h * 0.3, w * 0.4 + 12, h * 0.3 + 20]], np.float32)
    _, m = turn(np.zeros((h, w, 3), np.uint8), 10.0)
    x1, y1, x2, y2 = box[0]
    c = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]], np.float64)
    t = c @ m[:, :2].T + m[:, 2]  # the box's corners in the turned image, enveloped
    turned = np.array([[*t.min(0), *t.max(0)]], np.float32)
    back, kept = boxes_back(turned, m, w, h)
    assert kept.tolist() == [True]
    assert np.allclose(back[0, :2] + back[0, 2:], box[0, :2] + box[0, 2:], atol=0.02)  # same centre
    assert (back[0, :2] <= box[0, :2] + 1e-3).all() and (back[0, 2:] >= box[0, 2:] - 1e-3).all()  # holds it
    co, si = math.cos(math.radians(10)), math.sin(math.radians(10))  # an envelope's envelope:
    w1, h1 = 12 * co + 20 * si, 20 * co + 12 * si  # turned, 12 x 20 becomes w1 x h1, and back
    assert back[0, 2:] - back[0, :2] == pytest.approx([w1 * co + h1 * si, h1 * co + w1 * si], abs=1e-3)


def test_boxes_back_drop_what_lies_outside_the_original() -> None:
    _, m = turn(np.zeros((100, 200, 3), np.uint8), 15.0)
    turned = np.array([[0, 0, 6, 6],  # a corner of the grown canvas: outside the original
                       [100, 70, 120, 90]], np.float32)  # near its middle: inside
    back, kept = boxes_back(turned, m, 200, 100)
    assert kept.tolist() == [False, True] and back.shape == (1, 4)
    assert (back >= 0).all() and (back[:, [0, 2]] <= 200).all() and (back[:, [1, 3]] <= 100).all()


# In letterboxed pixels of a 640x480 frame at imgsz 320 (top padding 40): four digits in a row,
# level or sloping 10 degrees, and a lone 7 (the hand-made model returns them for any input)
LEVEL = [(100 + 26 * k, 150, 16, 30, k + 1, 0.9) for k in range(4)] + [(200, 230, 16, 30, 7, 0.7)]
SLOPED = [(100 + 26 * k, 150 + 26 * math.tan(math.radians(10)) * k, 16, 30, k + 1, 0.9)
          for k in range(4)] + [(200, 230, 16, 30, 7, 0.7)]


@pytest.mark.parametrize("rows, read_again", [
    (LEVEL, False),   # level rows: one read, whatever the setting
    (SLOPED, True),   # rows sloping 10 degrees: read again turned level
])
def test_detector_reads_a_rolled_photo_again_level(tmp_path: Path, rows: list, read_again: bool) -> None:
    weights = make_onnx(tmp_path / "m.onnx", yolo_output(rows))
    img = np.full((480, 640, 3), 200, np.uint8)
    once = DigitDetector(weights).predict(img)  # no recognizer: no deskew unless asked
    p = DigitDetector(weights, deskew=True).predict(img)
    assert len(once.detections) == 5 and once.numbers[0].text == "1234"
    if not read_again:
        assert np.array_equal(p.detections.xyxy, once.detections.xyxy)
        return
    # the model "sees" the same sloping rows in the turned image, so turned back they slope twice as much
    assert row_angle(p.detections) == pytest.approx(20.0, abs=1.0)  # 10 more, turned back
    assert len(p.detections) == 5 and [n.text for n in p.numbers] == ["1234", "7"]
    assert (p.detections.xyxy >= 0).all() and (p.detections.xyxy[:, [0, 2]] <= 640).all()


@pytest.mark.parametrize("recognizer, deskew, on", [
    (None, None, True),    # the shipped pipeline (with its recognizer)
    (None, False, False),  # --no-deskew
    (False, None, False),  # the detector alone: as ultralytics reads
    (False, True, True),   # ... unless asked
])
def test_deskew_default(recognizer: bool | None, deskew: bool | None, on: bool) -> None:
    assert DigitDetector(recognizer=recognizer, deskew=deskew).deskew is on
