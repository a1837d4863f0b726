"""The paint-program check: digits' skeletons redrawn with a brush on a big canvas."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitdet.paintset import paint_canvas, paint_glyphs


def bar28() -> np.ndarray:
    """A '1': one vertical bar, 3 px wide and 20 px tall, as MNIST would have it."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 13:16] = 255
    return img


# (case, brush, invert, stroke width in px at mid-height, background, ink)
PAINT_CASES = [
    ("hairline, black on white", 3.0, True, (2, 5), 255, 0),
    ("hairline, white on black", 3.0, False, (2, 5), 0, 255),
    ("fat brush: 12 % of 700 px", 0.12, True, (80, 88), 255, 0),
]


@pytest.mark.parametrize("case, pen, invert, width, bg, ink", PAINT_CASES, ids=[c[0] for c in PAINT_CASES])
def test_paint_canvas(case: str, pen: float, invert: bool, width: tuple[int, int], bg: int,
                      ink: int) -> None:
    glyphs, labels = paint_glyphs(bar28()[None], np.array([1]))
    img = paint_canvas(glyphs[0], pen, invert)
    assert img.shape == (960, 1280, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [bg] * 3 and (img[..., 0] == ink).any()
    inked = np.nonzero(np.abs(img[480, :, 0].astype(int) - bg) > 127)[0]  # the stroke at mid-height
    assert width[0] <= len(inked) <= width[1] and abs(inked.mean() - 640) < 8
    # up to 700 px tall (a skeleton ends a little inside the digit's ends; the brush adds caps)
    rows = np.nonzero((img[:, inked, 0] != bg).any(1))[0]
    assert 0.8 * 700 <= rows.max() - rows.min() <= 700 + width[1]


def test_paint_glyphs_leave_out_digits_whose_loop_is_lost() -> None:
    ring = np.zeros((28, 28), np.uint8)
    cv2.circle(ring, (14, 14), 8, 255, 3)
    # the ring is a 0 with its loop, and a bar is a fine 1, but a bar labelled 0 has no loop
    glyphs, labels = paint_glyphs(np.stack([ring, bar28(), bar28()]), np.array([0, 1, 0]))
    assert labels.tolist() == [0, 1] and [g.label for g in glyphs] == [0, 1]
