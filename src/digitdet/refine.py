"""Second stage, boxes: a small CNN redraws each detected box tight around its digit.

The detector's boxes come from a 480-px view of the image, where a 20-px digit is 15 px and a
pixel is a twentieth of it; the refiner looks again at each box from the full-resolution image,
as a gray square around it (``48 x 48`` or the side its ONNX input names; :data:`MARGIN` times
its longer side, so a box cut short still shows the whole digit), and gives the digit's box as
fractions of that square. Trained
with ``python -m digitdet.refine_train`` on the detector's own boxes of synthesized scenes,
each labelled with the digit it overlaps most.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np

from digitdet import recognize
from digitdet.backends import crop_model_session
from digitdet.letterbox import block_average

SIZE = 48  # refiner input side, pixels (the default; a model's ONNX input gives its own)
MARGIN = 1.6  # crop side = MARGIN x the box's longer side + 2 px, centred on the box


def crop_geometry(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 3) float32``: the square crop ``left, top, side`` (image pixels) of each box of
    ``xyxy (N, 4)``."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * MARGIN + 2
    return np.stack([(b[:, 0] + b[:, 2] - side) / 2, (b[:, 1] + b[:, 3] - side) / 2, side], 1)


def crop_square(image: np.ndarray, left: float, top: float, side: float, size: int = SIZE,
                ) -> np.ndarray:
    """The ``(size, size) uint8`` gray square ``[left, left + side) x [top, top + side)`` of
    ``image`` (``(H, W)`` gray or ``(H, W, 3)`` BGR; only the square is converted), sampled
    bilinearly, edges replicated past the image; a square more than twice ``size`` is first
    averaged in whole ``k x k`` blocks (``k = side // size``) so thin strokes are not skipped."""
    h, w = image.shape[:2]
    k = int(side // size) if side > 2 * size else 1
    x0, y0 = math.floor(left) - k, math.floor(top) - k
    x1, y1 = math.ceil(left + side) + k + 1, math.ceil(top + side) + k + 1
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:  # wholly outside: the nearest edge pixel, replicated
        cx0, cy0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
        cx1, cy1 = cx0 + 1, cy0 + 1
    patch = image[cy0:cy1, cx0:cx1]
    if patch.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    if k > 1:
        patch = block_average(patch, k)
    s = size / side
    # crop pixel u looks at image x = cx0 + k * xs (xs: patch pixel), u = (x - left) * s
    m = np.array([[s * k, 0, (cx0 - left) * s], [0, s * k, (cy0 - top) * s]], np.float32)
    return cv2.warpAffine(patch, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_boxes(image: np.ndarray, xyxy: np.ndarray, size: int = SIZE,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Crops ``(N, size, size) uint8`` of ``image`` around boxes ``xyxy (N, 4)`` and their
    :func:`crop_geometry` ``(N, 3) float32``."""
    geom = crop_geometry(xyxy)
    crops = np.empty((len(geom), size, size), np.uint8)
    for i, (left, top, side) in enumerate(geom):
        crops[i] = crop_square(image, float(left), float(top), float(side), size)
    return crops, geom


def to_crop(xyxy: np.ndarray, geom: np.ndarray) -> np.ndarray:
    """Boxes ``(N, 4)`` in image pixels -> fractions of their crops ``geom (N, 3)``."""
    left, top, side = geom[:, 0:1], geom[:, 1:2], geom[:, 2:3]
    return ((np.asarray(xyxy, np.float32) - np.hstack([left, top, left, top])) / side
            ).astype(np.float32)


def from_crop(frac: np.ndarray, geom: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_crop`: ``(N, 4)`` fractions of the crops -> image pixels."""
    left, top, side = geom[:, 0:1], geom[:, 1:2], geom[:, 2:3]
    return (np.asarray(frac, np.float32) * side + np.hstack([left, top, left, top])
            ).astype(np.float32)


def standardize(crops: np.ndarray) -> np.ndarray:
    """``(N, S, S) uint8`` -> ``(N, 1, S, S) float32``: the recognizer's
    :func:`~digitdet.recognize.standardize` with the population spread (``ddof=0``), as the
    shipped refiner was trained."""
    return recognize.standardize(crops, ddof=0)


class Refiner:
    """The refiner's ONNX model on ONNX Runtime: ``crops (N, 1, S, S) float32`` standardized
    (:func:`standardize`; ``S`` = :attr:`size`, from the model's input, 48 when it names none)
    in; ``boxes (N, 4) float32`` out: x1, y1, x2, y2 as fractions of each crop's side from its
    top-left corner (:func:`from_crop`)."""

    def __init__(self, path: Path) -> None:
        self.session = crop_model_session(path, "refiner")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        side = inp.shape[-1] if len(inp.shape) == 4 else None
        self.size = side if isinstance(side, int) and side > 0 else SIZE
        self.path = path

    def __call__(self, image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """The boxes ``xyxy (N, 4)`` of ``image`` (gray or BGR ``uint8``) redrawn, ``(N, 4)
        float32`` image pixels, clipped to the image; a box it makes empty stays as it was."""
        if not len(xyxy):
            return np.zeros((0, 4), np.float32)
        crops, geom = crop_boxes(image, xyxy, self.size)
        out = from_crop(self.session.run(None, {self.input_name: standardize(crops)})[0], geom)
        h, w = image.shape[:2]
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        bad = (out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])
        out[bad] = np.asarray(xyxy, np.float32)[bad]
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--refiner PATH`` and ``--no-refiner`` on a CLI that builds a DigitDetector."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--refiner", default=None, metavar="PATH",
                       help="second-stage box refiner ONNX (default: the shipped one with the "
                            "shipped detector and recognizer, none otherwise)")
    group.add_argument("--no-refiner", action="store_true", help="keep the detector's boxes")


def from_arguments(args: argparse.Namespace) -> bool | str | None:
    """The ``refiner`` argument of :class:`~digitdet.detector.DigitDetector` for those flags."""
    return False if args.no_refiner else args.refiner
