"""Under-exposed and washed-out pages: brightened or stretched before they are read.

A photo of paper or a whiteboard taken in dim light, or by a webcam that exposes too short, is
darker than any page the detector was trained on: its paper is a dim gray, its ink nearly black,
and the detector misses digits it reads in a well-lit photo (``python -m digitdet.robustset
--corruption dark``; docs/training-log.md, "Under-exposed pages"). Such an image is multiplied by
a gain (:func:`brighten`) so that its paper comes out as bright as the dimmest training pages.

Only a light background is judged (:func:`levels`): dark boards and black canvases, where the
ink is the bright part and the background is meant to be dark, are read as they are. Every page
of the test split is brighter than :data:`DIM_PAPER`, so the split reads the same either way.

A page washed out by over-exposure or glare (a whiteboard under a lamp, paper in sunlight) has
its ink nearly as light as its paper (``python -m digitdet.robustset --corruption washout``).
When nothing in the image strays more than :data:`MIN_CONTRAST` levels from its median
(:func:`contrast`), the levels are stretched about the median (:func:`stretch`). Every page of
the test split with anything written on it strays more, so the split reads the same either way.
:func:`correct` does both, in that order.
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
# a page whose darkest and lightest 0.05 % stray less than this from its median level is washed
# out: the test split's pages stray 43 or more but two blank ones (1 in 100 under 64), its pages
# washed out by robustset's level 2 a median of 42, level 3 of 23 (docs/training-log.md,
# "Washed-out pages")
MIN_CONTRAST = 32.0
CONTRAST = 128.0  # how far a washed-out page's ink is stretched from its median
MAX_STRETCH = 8.0  # at most: the paper's grain and the sensor noise are stretched with the ink
TAIL = 0.05  # percent of the pixels at each end that are not counted as ink (noise, hot pixels)
SEEN = 1024  # the contrast is judged on the image shrunk to at most this many pixels (thin ink kept)


def _shrunk(image: np.ndarray, f: int) -> np.ndarray:
    """``image`` shrunk ``f`` times on each side (each pixel the mean of an ``f``x``f`` square);
    ``image`` itself when ``f`` is 1 or less."""
    if f <= 1:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)


def levels(image: np.ndarray) -> tuple[float, float]:
    """``(peak, median)`` of ``image`` (``uint8 (H, W, 3)`` BGR or ``(H, W)`` gray): the largest
    and the median level of its brightest channel, averaged over squares of :data:`SHRINK` px or
    more (the image shrunk to :data:`JUDGED` px at most)."""
    small = _shrunk(image, max(SHRINK, -(-max(image.shape[:2]) // JUDGED)))
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


def contrast(image: np.ndarray) -> tuple[float, float]:
    """``(median, contrast)`` of ``image`` (``uint8 (H, W, 3)`` BGR or ``(H, W)`` gray): its median
    gray level, and how far its darkest or lightest :data:`TAIL` percent strays from it (0-255),
    judged on the image shrunk to :data:`SEEN` px at most."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    gray = _shrunk(gray, -(-max(gray.shape[:2]) // SEEN))
    cum = np.cumsum(cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel())
    lo, med, hi = np.searchsorted(cum, cum[-1] * np.array([TAIL / 100, 0.5, 1 - TAIL / 100]))
    return float(med), float(max(med - lo, hi - med))


def stretch_factor(image: np.ndarray) -> tuple[float, float]:
    """``(median, factor)``: what :func:`stretch` does to ``image``, its levels moved ``factor``
    times as far from ``median``; factor 1.0 unless the image's :func:`contrast` is under
    :data:`MIN_CONTRAST`, then what takes it to :data:`CONTRAST`, at most :data:`MAX_STRETCH`."""
    median, c = contrast(image)
    if c >= MIN_CONTRAST:
        return median, 1.0
    return median, min(MAX_STRETCH, CONTRAST / max(c, 1.0))


def stretch(image: np.ndarray) -> np.ndarray:
    """``image`` (``uint8``, any channels) with its levels stretched about its median by
    :func:`stretch_factor`, clipped to 0-255: a new array, or ``image`` itself when the factor
    is 1. No pixel moves, so boxes found on it hold for ``image``."""
    median, f = stretch_factor(image)
    if f == 1.0:
        return image
    return cv2.addWeighted(image, f, image, 0.0, median * (1.0 - f))  # saturated, not folded


def correct(image: np.ndarray) -> np.ndarray:
    """``image`` brightened if under-exposed (:func:`brighten`), then stretched if washed out
    (:func:`stretch`): ``image`` itself when neither applies."""
    return stretch(brighten(image))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--no-brighten`` on a CLI that builds a DigitDetector (:func:`from_arguments`)."""
    parser.add_argument("--no-brighten", action="store_true",
                        help="read every page as it is: no brightening of an under-exposed page "
                             "nor stretching of a washed-out one "
                             "(digitdet.exposure; only with the recognizer)")


def from_arguments(args: argparse.Namespace) -> bool | None:
    """DigitDetector's ``brighten`` argument for the flag (None: its default)."""
    return False if args.no_brighten else None
