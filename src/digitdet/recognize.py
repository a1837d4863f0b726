"""Second stage: a small CNN re-reads each detected digit from its crop.

The detector finds digits; the recognizer looks again at each box, cut from the full-resolution
image as a ``32 x 32`` gray square (a hairline shrunk into it widened by a pixel), and gives 11
probabilities: digits 0-9 and "not a digit" (strokes, scribbles, printed letters the detector
took for one). :func:`rescore` then takes the recognizer's digit as the class and
``sqrt(detector confidence * its probability)`` as the confidence, so a box the recognizer calls
background fades out, and two boxes that now read the same digit are merged by NMS. Trained
with ``python -m digitdet.recognize_train``.

A second member trained on blurred scenes (``digitdet-rec-blur.onnx``) reads the crops of a
blurred image instead: when the median :func:`sharpness` of an image's crops is under
:data:`BLUR_GATE` (a photo out of focus or shaken), all its crops go to it; sharp images, the
fonts and drawn digits among them, are read by the first as before.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np

from digitdet.backends import crop_model_session
from digitdet.context import lift_in_context
from digitdet.decode import nms_by_class
from digitdet.letterbox import block_average
from digitdet.results import Detections

CROP = 32  # recognizer input side, pixels
MARGIN = 1.3  # crop side = MARGIN x the box's longer side (+ 2 px), centred on the box
BACKGROUND = 10  # the recognizer's 11th class: not a digit
PAD = 114  # gray for a box wholly outside the image
HAIRLINE_WIDEN = 2  # side of the min/max filter that widens a shrunk hairline in a crop, pixels
# an image whose crops' median sharpness is under this is read by the blur member: chosen on the
# seed-3 val scenes (clean and blurred) and training font scenes (docs/training-log.md, "Blurred
# images read by a blur member"); sharp crops score about 0.4, a Gaussian blur of 2 px 0.25
BLUR_GATE = 0.33


def crop_square(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The ``(CROP, CROP) uint8`` gray square around ``box`` (x1, y1, x2, y2 pixels) of
    ``image``, ``(H, W) uint8`` gray or ``(H, W, 3) uint8`` BGR (only the square is converted):
    edges replicated past the image, shrunk by area averaging (so a hairline on a big canvas stays
    a line; whole blocks first when it is at least twice the size, as :func:`letterbox.block_average`),
    enlarged bilinearly. A square shrunk at least twice whose ink ends up a hairline is widened by
    :func:`widen_hairline`."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(int(round(max(x2 - x1, y2 - y1) * MARGIN + 2)), 1)
    left = int(round((x1 + x2 - side) / 2))
    top = int(round((y1 + y2 - side) / 2))
    h, w = image.shape[:2]
    y0, y1, x0, x1 = max(top, 0), min(top + side, h), max(left, 0), min(left + side, w)
    if y1 <= y0 or x1 <= x0:
        return np.full((CROP, CROP), PAD, np.uint8)
    patch = image[y0:y1, x0:x1]
    if patch.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    pads = (max(-top, 0), max(top + side - h, 0), max(-left, 0), max(left + side - w, 0))
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
    shrunk = side >= 2 * CROP  # shrunk at least twice
    if shrunk:  # OpenCV's area resize is slow for big non-whole factors
        patch = block_average(patch, side // CROP)
    inter = cv2.INTER_AREA if side > CROP else cv2.INTER_LINEAR
    crop = cv2.resize(patch, (CROP, CROP), interpolation=inter)
    return widen_hairline(crop) if shrunk else crop


def widen_hairline(crop: np.ndarray) -> np.ndarray:
    """``crop (CROP, CROP) uint8`` with its ink widened by a pixel if it is a hairline, else as is.

    The ink is the crop's Otsu class away from the paper (dark ink when the crop's mean is below
    its median: most pixels are paper); a hairline is ink that a 3x3 erosion removes entirely (no
    stroke wider than 2 px anywhere), as a 3-px brush on a big canvas becomes once shrunk to
    ``CROP``. It gets a ``HAIRLINE_WIDEN`` square min filter (dark ink) or max filter (light ink),
    so it looks like the strokes the recognizer was trained on.
    """
    dark = crop.mean() < np.median(crop)
    _, ink = cv2.threshold(crop, 0, 1, (cv2.THRESH_BINARY_INV if dark else cv2.THRESH_BINARY)
                           + cv2.THRESH_OTSU)
    if not ink.any() or cv2.erode(ink, np.ones((3, 3), np.uint8)).any():
        return crop
    widen = np.ones((HAIRLINE_WIDEN, HAIRLINE_WIDEN), np.uint8)
    return cv2.erode(crop, widen) if dark else cv2.dilate(crop, widen)


def crop_digits(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """``(N, CROP, CROP) uint8`` gray crops of ``image`` (gray or BGR, as :func:`crop_square`)
    around boxes ``xyxy (N, 4)``."""
    out = np.empty((len(xyxy), CROP, CROP), np.uint8)
    for i, box in enumerate(xyxy):
        out[i] = crop_square(image, box)
    return out


def sharpness(crops: np.ndarray) -> np.ndarray:
    """``(N,) float32``: how steep the edges of each ``(N, S, S) uint8`` crop are, the 95th
    percentile of its Sobel gradient magnitude (3x3, divided by 8: gray levels a pixel, borders
    reflected as OpenCV's) over its contrast (98th minus 2nd percentile of its gray levels, at
    least 8). About 0.5 for ink with step edges, 0.25 under a Gaussian blur of 2 px; 0 for a flat
    crop."""
    x = crops.astype(np.float32)
    if not len(x):
        return np.zeros(0, np.float32)
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")  # OpenCV's BORDER_REFLECT_101
    dx = p[:, :, 2:] - p[:, :, :-2]  # (N, S+2, S): horizontal differences
    dy = p[:, 2:] - p[:, :-2]  # (N, S, S+2): vertical differences
    gx = (dx[:, :-2] + 2 * dx[:, 1:-1] + dx[:, 2:]) / 8
    gy = (dy[:, :, :-2] + 2 * dy[:, :, 1:-1] + dy[:, :, 2:]) / 8
    grad = np.sqrt(gx * gx + gy * gy).reshape(len(x), -1)
    flat = x.reshape(len(x), -1)
    lo, hi = np.percentile(flat, [2, 98], axis=1)
    return (np.percentile(grad, 95, axis=1) / np.maximum(hi - lo, 8.0)).astype(np.float32)


def is_blurred(crops: np.ndarray, gate: float = BLUR_GATE) -> bool:
    """Whether an image whose boxes gave the ``(N, S, S) uint8`` crops looks blurred: the median
    of their :func:`sharpness` is under ``gate`` (False with no crop)."""
    return bool(len(crops)) and float(np.median(sharpness(crops))) < gate


def standardize(crops: np.ndarray, ddof: int = 1) -> np.ndarray:
    """``(N, S, S) uint8`` -> ``(N, 1, S, S) float32``, each crop to zero mean and unit spread
    (spread at least 8 gray levels, with ``ddof`` as numpy's std), so paper, boards and
    lighting look alike. The recognizer's crops use ``ddof=1``, the refiner's ``0``."""
    x = crops.astype(np.float32)
    mean = x.mean((1, 2), keepdims=True)
    std = np.maximum(x.std((1, 2), keepdims=True, ddof=ddof), 8.0)
    return ((x - mean) / std)[:, None]


def rescore(det: Detections, probs: np.ndarray, iou: float, agnostic: bool = False,
            context: bool = False) -> Detections:
    """Detections read again: class = the recognizer's most likely digit, confidence =
    ``sqrt(confidence * its probability)``, with ``context`` a faint box that a number vouches
    for lifted (:func:`digitdet.context.lift_in_context`), then NMS at ``iou`` (class-wise
    unless ``agnostic``), by descending confidence.

    ``probs (N, 11) float32``: digits 0-9 and background, one row per detection.
    """
    if probs.shape != (len(det), BACKGROUND + 1):
        raise ValueError(f"probs must have shape ({len(det)}, {BACKGROUND + 1}), got {probs.shape}")
    if not len(det):
        return det
    cls = probs[:, :BACKGROUND].argmax(1)
    p = probs[np.arange(len(det)), cls]
    conf = np.sqrt(det.confidence * p).astype(np.float32)
    if context:
        conf = lift_in_context(det.xyxy, conf, det.confidence, p)
    out = Detections(det.xyxy, conf, cls)
    return out[nms_by_class(out.xyxy, out.confidence, out.class_id, iou, agnostic)]


class Recognizer:
    """The recognizer's ONNX model on ONNX Runtime: ``(N, 1, 32, 32) float32`` standardized
    crops in, ``(N, 11)`` logits out (see :func:`standardize`); with ``blurred``, a second such
    model that reads the crops of images :func:`is_blurred` calls blurred (at ``gate``)."""

    def __init__(self, path: Path, blurred: Path | None = None, gate: float = BLUR_GATE) -> None:
        self.session = crop_model_session(path, "recognizer")
        self.input_name = self.session.get_inputs()[0].name
        self.blurred = crop_model_session(blurred, "blur recognizer") if blurred else None
        self.blurred_input = self.blurred.get_inputs()[0].name if self.blurred else ""
        self.path, self.blurred_path, self.gate = path, blurred, gate

    def __call__(self, image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """``(N, 11) float32`` probabilities for boxes ``xyxy (N, 4)`` on ``image``, ``(H, W)
        uint8`` gray or ``(H, W, 3) uint8`` BGR."""
        if not len(xyxy):
            return np.zeros((0, BACKGROUND + 1), np.float32)
        crops = crop_digits(image, xyxy)
        session, name = self.session, self.input_name
        if self.blurred is not None and is_blurred(crops, self.gate):
            session, name = self.blurred, self.blurred_input
        return softmax(session.run(None, {name: standardize(crops)})[0])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, float32."""
    z = np.exp(logits - logits.max(1, keepdims=True))
    return (z / z.sum(1, keepdims=True)).astype(np.float32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--recognizer PATH``, ``--no-recognizer``, ``--blur-recognizer PATH``,
    ``--no-blur-recognizer`` and ``--no-context`` on a CLI that builds a DigitDetector (its
    keyword arguments: :func:`from_arguments`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--recognizer", default=None, metavar="PATH",
                       help="second-stage recognizer ONNX (default: the shipped one with the "
                            "shipped detector, none with other --weights)")
    group.add_argument("--no-recognizer", action="store_true",
                       help="keep the detector's own classes and scores")
    blur = parser.add_mutually_exclusive_group()
    blur.add_argument("--blur-recognizer", default=None, metavar="PATH",
                      help="recognizer ONNX for blurred images (default: the shipped one with "
                           "the shipped recognizer, none with another --recognizer)")
    blur.add_argument("--no-blur-recognizer", action="store_true",
                      help="read blurred images with the recognizer too")
    parser.add_argument("--no-context", action="store_true",
                        help="lift no faint box for the confident digits beside it "
                             "(digitdet.context; only with the recognizer)")


class RecognizerArgs(TypedDict):
    """:class:`~digitdet.detector.DigitDetector`'s keyword arguments for the recognizer."""

    recognizer: bool | str | None
    blur_recognizer: bool | str | None
    context: bool


def from_arguments(args: argparse.Namespace) -> RecognizerArgs:
    """The ``recognizer``, ``blur_recognizer`` and ``context`` arguments of
    :class:`~digitdet.detector.DigitDetector` for those flags."""
    return {"recognizer": False if args.no_recognizer else args.recognizer,
            "blur_recognizer": False if args.no_blur_recognizer else args.blur_recognizer,
            "context": not args.no_context}
