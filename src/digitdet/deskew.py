"""Photos taken with the camera turned: read again with the image turned level.

The detector was trained on scenes turned a few degrees at most; a photo rolled by 10 degrees
loses digits it would read level (docs/training-log.md, "Rolled photos"). The numbers read from
a first pass show the roll: neighbouring digits of a number lie along its row, so the median
slope between them (:func:`row_angle`) is the photo's roll. When it is clearly away from level
(:func:`roll`), the pipeline reads the image again turned level (:func:`turn`, on a
canvas grown to hold all of it) and maps the boxes back (:func:`boxes_back`): each box's turned
corners, enveloped, which the box refiner then fits to the ink.
"""

from __future__ import annotations

import argparse
import math
from itertools import pairwise

import cv2
import numpy as np

from digitdet.numbers import read_numbers
from digitdet.results import Detections

# a photo whose rows slope this much or more, and SURE standard errors of the median slope away
# from level, is read again turned level: on the rolled dev scenes (configs/synth-roll.yaml, seed
# 192, up to 15 degrees) it reads more numbers, and it leaves level pages (whose digits' centres
# step up and down by chance, most of all where digits overlap) alone (docs/training-log.md,
# "Rolled photos")
MIN_DEGREES = 4.0
SURE = 3.0
MIN_PAIRS = 3  # neighbouring digit pairs needed to judge the slope
ANGLE_CONF = 0.25  # only digits at least this confident show the rows


def row_slopes(det: Detections, conf: float = ANGLE_CONF) -> np.ndarray:
    """``(K,) float64``: the slope in degrees (image y down: positive where a row falls to the
    right) from each digit to the next in the numbers read from ``det``'s boxes of at least
    ``conf``."""
    kept = det[det.confidence >= conf]
    centre = (kept.xyxy[:, :2] + kept.xyxy[:, 2:]) / 2  # (N, 2) float32
    return np.array([math.degrees(math.atan2(float(centre[j, 1] - centre[i, 1]),
                                             float(centre[j, 0] - centre[i, 0])))
                     for n in read_numbers(kept) for i, j in pairwise(n.digits)], np.float64)


def row_angle(det: Detections, conf: float = ANGLE_CONF, min_pairs: int = MIN_PAIRS) -> float | None:
    """The median of :func:`row_slopes`; None with fewer than ``min_pairs`` slopes."""
    slopes = row_slopes(det, conf)
    return float(np.median(slopes)) if len(slopes) >= min_pairs else None


def roll(det: Detections, conf: float = ANGLE_CONF) -> float | None:
    """The photo's roll in degrees (:func:`row_angle`) where its rows clearly slope: at least
    :data:`MIN_DEGREES` and :data:`SURE` standard errors of the median (1.4826 x the slopes'
    median absolute deviation over the square root of their number) from level; else None."""
    slopes = row_slopes(det, conf)
    if len(slopes) < MIN_PAIRS:
        return None
    angle = float(np.median(slopes))
    error = 1.4826 * float(np.median(np.abs(slopes - angle))) / math.sqrt(len(slopes))
    return angle if abs(angle) >= max(MIN_DEGREES, SURE * error) else None


def turn(img: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``img (H, W, C) uint8`` turned by ``degrees`` (counter-clockwise as shown; a row sloping
    by ``degrees`` comes out level) on a canvas grown to hold all of it, edges replicated; and
    the ``(2, 3) float64`` affine matrix from ``img``'s pixels to the turned image's."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    tw, th = int(math.ceil(w * cos + h * sin)), int(math.ceil(h * cos + w * sin))
    m[0, 2] += (tw - w) / 2
    m[1, 2] += (th - h) / 2
    out = cv2.warpAffine(img, m, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, m


def boxes_back(xyxy: np.ndarray, m: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``xyxy (N, 4)`` of an image turned by ``m`` (:func:`turn`) in the ``w x h``
    original: ``(K, 4) float32``, the envelope of each box's corners turned back, clipped; and
    the ``(N,) bool`` mask of the boxes kept, those whose centre falls inside the original."""
    inv = cv2.invertAffineTransform(m)
    corners = np.stack([xyxy[:, [0, 1]], xyxy[:, [2, 1]], xyxy[:, [0, 3]], xyxy[:, [2, 3]]], 1)
    pts = corners.astype(np.float64) @ inv[:, :2].T + inv[:, 2]  # (N, 4, 2)
    env = np.concatenate([pts.min(1), pts.max(1)], 1)
    cx, cy = (env[:, 0] + env[:, 2]) / 2, (env[:, 1] + env[:, 3]) / 2
    inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    env = env[inside]
    env[:, [0, 2]] = env[:, [0, 2]].clip(0, w)
    env[:, [1, 3]] = env[:, [1, 3]].clip(0, h)
    return env.astype(np.float32), inside


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--no-deskew`` on a CLI that builds a DigitDetector (:func:`from_arguments`)."""
    parser.add_argument("--no-deskew", action="store_true",
                        help="do not read a photo again turned level when its numbers' rows "
                             f"clearly slope {MIN_DEGREES:g} degrees or more (digitdet.deskew; "
                             "only with the recognizer)")


def from_arguments(args: argparse.Namespace) -> bool | None:
    """DigitDetector's ``deskew`` argument for the flag (None: its default)."""
    return False if args.no_deskew else None
