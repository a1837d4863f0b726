"""Out-of-distribution check: numbers whose 1s are plain upright strokes.

Many people write a 1 as one straight vertical stroke; MNIST's ones are mostly slanted, curved or
flagged. Each page is a white 640x480 sheet with four lines of 3-5 digit numbers, 30-50 px tall,
made of held-out MNIST digits, about four digits in ten a 1. On the "plain" pages every 1 is a
straight upright stroke drawn in MNIST's own format (a line 2-3 px wide and 20 px tall in a 28 px
square, enlarged with the digits beside it); the "mnist" pages are the same pages with MNIST's own
1s, the control. ``python -m digitdet.val`` reports, for both, the numbers read exactly (text and
box, as on the test split) and the share of 1s read as 1s (a kept box, IoU >= 0.5).

Usage:
    python -m digitdet.stickset --mnist-dir ../shared/mnist          # val's sticks line
    python -m digitdet.stickset --pages 200 --weights runs/judge/x.onnx --no-refiner
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from digitdet import recognize, refine
from digitdet.decode import DEFAULT_CONF, box_iou
from digitdet.errors import UserError, error_exit
from digitdet.mnist import MnistError

STICK_PAGES = 60  # pages of each kind that val draws
STICK_SEED = 0
PAGE_SIZE = (640, 480)  # (w, h)
ONE_SHARE = 0.4  # a digit is a 1 this often


@dataclass(frozen=True)
class StickPage:
    """One page: ``image (H, W, 3) uint8`` BGR, digit ``boxes (N, 4) float32`` xyxy pixels,
    ``classes (N,) int64``, and its numbers as ``{"text", "box"}`` dicts (reading order)."""

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    numbers: list[dict[str, Any]]


def stick_one_28(thickness: int) -> np.ndarray:
    """A plain upright 1 in MNIST's format: ``(28, 28) uint8``, white ink on black, a line
    ``thickness`` px wide from row 4 to row 23 down the middle."""
    img = np.zeros((28, 28), np.uint8)
    cv2.line(img, (14, 4), (14, 23), 255, thickness, cv2.LINE_AA)
    return img


def stick_page(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
               plain_ones: bool, size: tuple[int, int] = PAGE_SIZE) -> StickPage:
    """A page of numbers from ``images (N, 28, 28) uint8`` / ``labels (N,)`` (white on black),
    black on white, 0.1-0.3 of a digit's height between inks; its 1s are :func:`stick_one_28`
    strokes when ``plain_ones``, else MNIST 1s. ``rng`` is drawn from the same way for both
    kinds, so one seed gives the same digits twice with only the 1s different (and the digits
    after a 1 shifted by the difference in its width)."""
    w, h = size
    page = np.full((h, w), 255, np.uint8)
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    boxes: list[list[float]] = []
    classes: list[int] = []
    numbers: list[dict[str, Any]] = []
    rows = 4
    for row in range(rows):
        n = int(rng.integers(3, 6))
        side = int(rng.integers(30, 51))
        x = int(rng.integers(40, 200))  # where the ink starts
        y = 40 + row * (h - 40) // rows
        first = len(classes)
        for _ in range(n):
            digit = 1 if rng.random() < ONE_SHARE else int(rng.integers(0, 10))
            pick = by_class[digit]
            mnist_img = images[pick[rng.integers(len(pick))]] if len(pick) else np.zeros((28, 28), np.uint8)
            thickness = int(rng.integers(2, 4))  # drawn for every digit: one stream for both kinds
            glyph = stick_one_28(thickness) if digit == 1 and plain_ones else mnist_img
            gap = rng.uniform(0.1, 0.3)  # between inks, a fraction of the digit's height
            big = cv2.resize(glyph, (side, side), interpolation=cv2.INTER_LINEAR)
            ys, xs = np.nonzero(big >= 0.3 * max(int(big.max()), 1))
            if not len(ys):
                continue
            left = x - int(xs.min())  # the ink starts at x
            if left + side > w:
                break
            roi = page[y:y + side, left:left + side]
            np.minimum(roi, 255 - big, out=roi)
            boxes.append([left + xs.min(), y + ys.min(), left + xs.max() + 1, y + ys.max() + 1])
            classes.append(digit)
            x = left + int(xs.max()) + 1 + int(round(gap * (ys.max() + 1 - ys.min())))
        if len(classes) > first:
            b = np.array(boxes[first:], np.float32)
            numbers.append({"text": "".join(map(str, classes[first:])),
                            "box": [float(b[:, 0].min()), float(b[:, 1].min()),
                                    float(b[:, 2].max()), float(b[:, 3].max())]})
    return StickPage(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR), np.array(boxes, np.float32).reshape(-1, 4),
                     np.array(classes, np.int64), numbers)


def evaluate_sticks(detector: Any, images: np.ndarray, labels: np.ndarray,
                    pages: int = STICK_PAGES, seed: int = STICK_SEED,
                    conf: float = DEFAULT_CONF) -> dict[str, Any]:
    """``detector`` on ``pages`` plain-1 pages and the same pages with MNIST 1s: ``numbers``
    and ``ones`` per kind, ``number_accuracy_<kind>`` (text and box, IoU >= 0.5) and
    ``ones_read_<kind>`` (share of 1s under a kept box of class 1 with IoU >= 0.5)."""
    from digitdet.numbers import read_numbers
    from digitdet.val import match_numbers

    report: dict[str, Any] = {"pages": pages}
    for kind, plain in (("plain", True), ("mnist", False)):
        rng = np.random.default_rng(seed)
        hits = n_numbers = ones = ones_read = 0
        for _ in range(pages):
            sp = stick_page(rng, images, labels, plain)
            det = detector.predict(sp.image).detections
            det = det[det.confidence >= conf]
            hits += match_numbers(sp.numbers, read_numbers(det))
            n_numbers += len(sp.numbers)
            is_one = sp.classes == 1
            ones += int(is_one.sum())
            if len(det) and is_one.any():
                iou = box_iou(sp.boxes[is_one], det.xyxy) * (det.class_id[None] == 1)
                ones_read += int((iou.max(1) >= 0.5).sum())
        report[f"numbers_{kind}"] = n_numbers
        report[f"ones_{kind}"] = ones
        report[f"number_accuracy_{kind}"] = hits / max(n_numbers, 1)
        report[f"ones_read_{kind}"] = ones_read / max(ones, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.stickset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="model (default: the shipped one)")
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--pages", type=int, default=STICK_PAGES, help="pages of each kind")
    p.add_argument("--seed", type=int, default=STICK_SEED)
    p.add_argument("--conf-thres", type=float, default=DEFAULT_CONF)
    p.add_argument("--imgsz", type=int, default=None)
    recognize.add_arguments(p)
    refine.add_arguments(p)
    args = p.parse_args(argv)
    try:
        if not 1 <= args.pages <= 10000:
            raise UserError(f"--pages must lie between 1 and 10000, got {args.pages}")
        if not 0.0 < args.conf_thres < 1.0:
            raise UserError(f"--conf-thres must lie between 0 and 1, got {args.conf_thres:g}")
        from digitdet import mnist
        from digitdet.detector import DigitDetector

        detector = DigitDetector(args.weights, imgsz=args.imgsz, conf=args.conf_thres,
                                 recognizer=recognize.from_arguments(args),
                                 refiner=refine.from_arguments(args))
        images, labels = mnist.heldout(mnist.load(args.mnist_dir))
    except (UserError, MnistError) as exc:
        return error_exit("digitdet.stickset", exc)
    r = evaluate_sticks(detector, images, labels, args.pages, args.seed, args.conf_thres)
    print(f"{args.pages} pages a kind, held-out MNIST digits, {detector.weights}")
    for kind, name in (("plain", "plain upright 1s"), ("mnist", "MNIST's own 1s")):
        print(f"{name:>17}: numbers read {r[f'number_accuracy_{kind}'] * 100:.1f} % of "
              f"{r[f'numbers_{kind}']}, 1s read {r[f'ones_read_{kind}'] * 100:.1f} % of {r[f'ones_{kind}']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
