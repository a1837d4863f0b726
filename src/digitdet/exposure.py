"""Under-exposed pages: brightened before they are read.

A photo of paper or a whiteboard taken in dim light, or by a webcam that exposes too short, is
darker than any page the detector was trained on: its paper is a dim gray, its ink nearly black,
and the detector misses digits it reads in a well-lit photo (``python -m digitdet.robustset
--corruption dark``; docs/training-log.md, "Under-exposed pages"). Such an image is multiplied by
a gain (:func:`brighten`) so that its paper comes out as bright as the dimmest training pages.

Only a light background is judged (:func:`levels`): dark boards and black canvases, where the
ink is the bright part and the background is meant to be dark, are read as they are. Every page
of the test split is brighter than :data:`DIM_PAPER`, so the split reads the same either way.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

# a light background whose median level (0-255) is under this is under-exposed: the test split's
# light-background scenes have medians of 61 or more (1 in 100 under 105), a white page at 0.15 of
# its light about 36 (docs/training-log.md, "Under-exposed pages")
DIM_PAPER = 56.0
PAPER = 128.0  # the median an under-exposed page is brightened to
MAX_GAIN = 6.0  # at most: the sensor noise of a dark frame grows with the gain
SHRINK = 4  # the levels are judged on the image shrunk at least this many times (no single pixels)
JUDGED = 256  # and to at most this many pixels on its longer side (a 12-MP photo: about 20 ms)


def levels(image: np.ndarray) -> tuple[float, float]:
    """``(peak, median)`` of ``image`` (``uint8 (H, W, 3)`` BGR or ``(H, W)`` gray): the largest
    and the median level of its brightest channel, averaged over squares of :data:`SHRINK` px or
    more (the image shrunk to :data:`JUDGED` px at most)."""
    h, w = image.shape[:2]
    f = max(SHRINK, -(-max(h, w) // JUDGED))
    small = cv2.resize(image, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    bright = small
    if small.ndim == 3:
        bright = small[..., 0]
        for c in range(1, small.shape[2]):
            bright = cv2.max(bright, small[..., c])
    return float(bright.max()), float(np.median(bright))


def gain(image: np.ndarray) -> float:
    """The factor :func:`brighten` multiplies ``image`` by: 1.0 unless its background is light
    (its median over half its peak) and dimmer than :data:`DIM_PAPER`; then what takes the median
    to :data:`PAPER`, at most :data:`MAX_GAIN`."""
    peak, median = levels(image)
    if median <= 0.5 * peak or median >= DIM_PAPER:
        return 1.0
    return min(MAX_GAIN, PAPER / max(median, 1.0))


def brighten(image: np.ndarray) -> np.ndarray:
    """``image`` (``uint8``, any channels) times :func:`gain`, clipped to 255: a new array, or
    ``image`` itself when the gain is 1. No pixel moves, so boxes found on it hold for ``image``."""
    g = gain(image)
    if g == 1.0:
        return image
    return cv2.convertScaleAbs(image, alpha=g)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--no-brighten`` on a CLI that builds a DigitDetector (:func:`from_arguments`)."""
    parser.add_argument("--no-brighten", action="store_true",
                        help="do not brighten an under-exposed page before reading it "
                             "(digitdet.exposure; only with the recognizer)")


def from_arguments(args: argparse.Namespace) -> bool | None:
    """DigitDetector's ``brighten`` argument for the flag (None: its default)."""
    return False if args.no_brighten else None
