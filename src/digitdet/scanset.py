"""Out-of-distribution check: scanned pages, whose digits are small against the whole image.

A sheet of A4 scanned at 300 dpi is 2480x3508 px, and handwriting 2-6 mm tall is 21-70 px there.
Read whole at 480 px, such a digit is 3-10 px tall in the model's input: most are lost. Each
page here is a white A4 sheet at 300 dpi holding a grid of blocks, each a page of
:mod:`digitdet.stickset` (four lines of 3-5 digit numbers of held-out MNIST digits, MNIST's own
1s and 7s, drawn 30-50 px a side, ink about 21-35 px tall) enlarged by the page's scale: 1, 1.5
or 2 in turn, ink 21-35, 32-52 or 42-70 px tall. The report gives the numbers read exactly
(text and box, IoU >= 0.5, as on the test split) and the digits read (a kept box of their class,
IoU >= 0.5), with each page read whole and in tiles (``DigitDetector(tile=...)``,
``detect --tile``), and the numbers read at each scale.

Usage:
    python -m digitdet.scanset --mnist-dir ../shared/mnist          # whole pages and 640-px tiles
    python -m digitdet.scanset --tile 960 --pages 3 --no-refiner
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import cv2
import numpy as np

from digitdet import recognize, refine
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError, error_exit
from digitdet.mnist import MnistError
from digitdet.stickset import PAGE_SIZE, StickPage, _score_page, stick_page

A4_300DPI = (2480, 3508)  # (w, h)
SCALES = (1.0, 1.5, 2.0)  # page k enlarges its blocks by SCALES[k % 3]
SCAN_PAGES = 6
SCAN_SEED = 0
MARGIN = 60  # px around the grid and between blocks
INK = (21, 35)  # px: the ink height of a block's digits at scale 1 (20 of MNIST's 28 rows)
DEFAULT_TILE = 640  # the scenes' own size: a tile is read at the scale the model trained at


def scan_page(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, scale: float,
              size: tuple[int, int] = A4_300DPI) -> StickPage:
    """A white ``size`` (w, h) page of :func:`digitdet.stickset.stick_page` blocks (MNIST's
    own digits, from ``images (N, 28, 28) uint8`` / ``labels (N,)``) each enlarged by
    ``scale``, in a grid with :data:`MARGIN` px between them; boxes, classes and numbers in page
    pixels, blocks row by row."""
    w, h = size
    bw, bh = round(PAGE_SIZE[0] * scale), round(PAGE_SIZE[1] * scale)
    cols, rows = (w - MARGIN) // (bw + MARGIN), (h - MARGIN) // (bh + MARGIN)
    if cols < 1 or rows < 1:
        raise ValueError(f"a {bw}x{bh} block does not fit a {w}x{h} page")
    page = np.full((h, w, 3), 255, np.uint8)
    boxes, classes, numbers = [], [], []
    for r in range(rows):
        for c in range(cols):
            block = stick_page(rng, images, labels, False, featured=0.0)
            x0, y0 = MARGIN + c * (bw + MARGIN), MARGIN + r * (bh + MARGIN)
            page[y0:y0 + bh, x0:x0 + bw] = cv2.resize(block.image, (bw, bh),
                                                      interpolation=cv2.INTER_LINEAR)
            off = np.array([x0, y0, x0, y0], np.float32)
            boxes.append(block.boxes * np.float32(scale) + off)
            classes.append(block.classes)
            numbers += [{"text": n["text"],
                         "box": [float(v) for v in np.array(n["box"], np.float32) * scale + off]}
                        for n in block.numbers]
    return StickPage(page, np.concatenate(boxes).reshape(-1, 4), np.concatenate(classes), numbers)


def evaluate_scans(detector: Any, images: np.ndarray, labels: np.ndarray, pages: int = SCAN_PAGES,
                   seed: int = SCAN_SEED, conf: float = DEFAULT_CONF) -> dict[str, Any]:
    """``detector`` on ``pages`` :func:`scan_page` pages (scales cycling through
    :data:`SCALES`): ``numbers``, ``number_accuracy``, ``digits``, ``digits_read``,
    ``number_accuracy_by_scale`` (``{scale: share}`` for the scales drawn) and
    ``seconds_per_page``."""
    rng = np.random.default_rng(seed)
    tally = {s: np.zeros(4, int) for s in SCALES[:pages]}
    seconds = 0.0
    for k in range(pages):
        scale = SCALES[k % len(SCALES)]
        sp = scan_page(rng, images, labels, scale)
        t0 = time.perf_counter()
        tally[scale] += _score_page(detector, sp, conf, np.ones(len(sp.classes), bool))
        seconds += time.perf_counter() - t0
    hits, n_numbers, digits, read = np.sum(list(tally.values()), axis=0).tolist()
    return {"pages": pages, "numbers": n_numbers, "number_accuracy": hits / max(n_numbers, 1),
            "digits": digits, "digits_read": read / max(digits, 1),
            "number_accuracy_by_scale": {s: int(t[0]) / max(int(t[1]), 1) for s, t in tally.items()},
            "seconds_per_page": seconds / max(pages, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.scanset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="model (default: the shipped one)")
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--pages", type=int, default=SCAN_PAGES)
    p.add_argument("--seed", type=int, default=SCAN_SEED)
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="tile side in pixels")
    p.add_argument("--conf-thres", type=float, default=DEFAULT_CONF)
    p.add_argument("--imgsz", type=int, default=None)
    recognize.add_arguments(p)
    refine.add_arguments(p)
    args = p.parse_args(argv)
    try:
        if not 1 <= args.pages <= 1000:
            raise UserError(f"--pages must lie between 1 and 1000, got {args.pages}")
        if not 0.0 < args.conf_thres < 1.0:
            raise UserError(f"--conf-thres must lie between 0 and 1, got {args.conf_thres:g}")
        from digitdet import mnist
        from digitdet.detector import DigitDetector

        detectors = {tile: DigitDetector(args.weights, imgsz=args.imgsz, conf=args.conf_thres,
                                         recognizer=recognize.from_arguments(args),
                                         refiner=refine.from_arguments(args),
                                         context=not args.no_context, tile=tile)
                     for tile in (None, args.tile)}
        images, labels = mnist.heldout(mnist.load(args.mnist_dir))
    except (UserError, MnistError) as exc:
        return error_exit("digitdet.scanset", exc)
    w, h = A4_300DPI
    print(f"{args.pages} pages of {w}x{h} (A4, 300 dpi), held-out MNIST digits, "
          f"{detectors[None].weights}")
    for tile, detector in detectors.items():
        r = evaluate_scans(detector, images, labels, args.pages, args.seed, args.conf_thres)
        name = "read whole" if tile is None else f"tiles of {tile} px"
        print(f"{name:>16}: numbers read {r['number_accuracy'] * 100:.1f} % of {r['numbers']}, "
              f"digits read {r['digits_read'] * 100:.1f} % of {r['digits']}, "
              f"{r['seconds_per_page']:.1f} s a page; numbers by ink height: "
              + ", ".join(f"{INK[0] * s:.0f}-{INK[1] * s:.0f} px {a * 100:.1f} %"
                          for s, a in r["number_accuracy_by_scale"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
