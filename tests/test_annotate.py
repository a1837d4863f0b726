"""Annotators: pure, and labels sized to the image and to the digits."""

from __future__ import annotations

import numpy as np
import pytest

from digitdet.annotate import draw_detections, draw_numbers, line_width
from digitdet.results import Detections, Number


@pytest.mark.parametrize("shape, heights, given, expected", [
    ((480, 640), [30.0, 40.0], None, 2),           # a frame: ultralytics' 0.3 % of 560 px
    ((480, 640), [12.0], None, 2),                 # small digits on a frame: the same
    ((480, 640), [150.0], None, 2),                # big digits on a pad: the image's rule
    ((100, 120), [30.0], None, 1),                 # a thumbnail: the image's rule, at least 1
    ((3508, 2480), [40.0, 45.0, 50.0], None, 3),   # a scan: 9 px by the image, 6 % of 45 px
    ((3508, 2480), [], None, 9),                   # nothing found: the image's rule
    ((3508, 2480), [10.0], None, 2),               # tiny digits on a scan: 2 px
    ((3508, 2480), [40.0], 5, 5),                  # --line-thickness wins
])
def test_line_width(shape: tuple[int, int], heights: list[float], given: int | None,
                    expected: int) -> None:
    assert line_width(shape, np.array(heights), given) == expected


def scan_with_digits() -> tuple[np.ndarray, Detections]:
    img = np.full((3508, 2480, 3), 255, np.uint8)
    xyxy = np.array([[1000, 1000, 1030, 1045], [1040, 1000, 1070, 1045]], np.float32)
    return img, Detections(xyxy, np.array([0.9, 0.8], np.float32), np.array([4, 2]))


def test_labels_on_a_scan_stay_near_the_digits() -> None:
    img, det = scan_with_digits()
    out = draw_detections(img, det)
    assert np.array_equal(img, np.full_like(img, 255))  # pure: the input is untouched
    rows, cols = np.nonzero((out != 255).any(2))
    # the boxes and their labels: within a few digit heights of the digits, not 9-px lines
    # and 3x-size text (ultralytics' rule for a 2480x3508 image)
    assert rows.min() >= 1000 - 45 and rows.max() <= 1045 + 5
    assert cols.min() >= 1000 - 5 and cols.max() <= 1070 + 3 * 45


def test_numbers_on_a_scan_are_written_at_the_digits_size() -> None:
    img, det = scan_with_digits()
    num = Number("42", (1000.0, 1000.0, 1070.0, 1045.0), 0.85, (0, 1))
    out = draw_numbers(img, [num])
    rows, _ = np.nonzero((out != 255).any(2))
    assert rows.min() >= 1045 and rows.max() - rows.min() <= 2 * 45  # under the number, its size
