"""Out-of-distribution check: numbers whose 1s are plain upright strokes, or whose 7s are crossed.

Many people write a 1 as one straight vertical stroke, and much of Europe and Latin America
crosses the stem of a 7; MNIST's ones are mostly slanted, curved or flagged, and its 7s are almost
never crossed. Each page is a white 640x480 sheet with four lines of 3-5 digit numbers, 30-50 px
tall, made of held-out MNIST digits, about four digits in ten the featured digit (1 or 7). On the
"styled" pages every 1 is a straight upright stroke drawn in MNIST's own format (a line 2-3 px wide
and 20 px tall in a 28 px square, enlarged with the digits beside it), or every 7 gets a bar 2-3 px
thick across its stem; the "mnist" pages are the same pages with MNIST's own digits, the control.
``python -m digitdet.val`` reports, for both, the numbers read exactly (text and box, as on the
test split) and the share of featured digits read as themselves (a kept box, IoU >= 0.5): the
``sticks`` and ``crossed_sevens`` lines.

Usage:
    python -m digitdet.stickset --mnist-dir ../shared/mnist          # val's two lines
    python -m digitdet.stickset --digit 7                            # crossed 7s only
    python -m digitdet.stickset --pages 200 --weights runs/judge/x.onnx --no-refiner
    python -m digitdet.stickset --touch -0.1 0.0                      # touching digits against apart
    python -m digitdet.stickset --comb                               # comb fields against apart

``--touch LO HI`` writes the same kind of pages with every digit MNIST's own and the gap between
inks drawn from LO..HI of a digit's height (below 0 they overlap) instead of 0.1-0.3, and reports
the numbers and digits read on both; ``val`` reports -0.1..0 (``touching``, with the pages apart)
and -0.2..-0.1 (``overlapping``). ``--comb`` writes each number of those pages in a comb field
instead, a printed box per digit (boxes 1-1.35 ink heights wide, each digit's ink centred in its
box within 8 % of a box), and reports them against the same pages apart.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from digitdet import checkargs
from digitdet.decode import DEFAULT_CONF, box_iou
from digitdet.errors import UserError, error_exit
from digitdet.mnist import MnistError
from digitdet.results import Detections

STICK_PAGES = 60  # pages of each kind that val draws
STICK_SEED = 0
PAGE_SIZE = (640, 480)  # (w, h)
FEATURED_SHARE = 0.4  # a digit is the featured one (1 or 7) this often
STYLES = {1: "sticks", 7: "crossed_sevens"}  # featured digit -> val's report key
APART = (0.1, 0.3)  # the gap between inks, a share of the digit's height
COMB_CELL = (1.0, 1.35)  # comb pages: a box's width, a share of the ink height (20 of 28 rows)
COMB_OFF = 0.08  # ... and how far a digit's ink centre may lie from its box's, a share of the box
COMB_INK = 120  # the printed boxes' gray
TOUCHING = (-0.1, 0.0)  # val's touching pages: inks touching or overlapping by up to a tenth
OVERLAPPING = (-0.2, -0.1)  # and its overlapping ones: by a tenth to a fifth of the height


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


def cross_seven_28(seven: np.ndarray, thickness: int) -> np.ndarray:
    """An MNIST 7 ``(28, 28) uint8`` (white on black) with a level bar ``thickness`` px thick
    and 10 px long across its stem 55 % of the way down its ink, centred on the stem's ink in
    that row and the rows beside it (a copy; the 7 itself when it has no ink). Not at a fixed
    row: on a short 7 that bar met the top stroke and closed a loop, a 4 or a 9 rather than a
    crossed 7."""
    rows = np.nonzero((seven > 127).any(1))[0]
    if not len(rows):
        return seven
    y = int(round(rows.min() + 0.55 * (rows.max() - rows.min())))
    xs = np.nonzero(seven[max(y - 1, 0):y + 2] > 127)[1]
    if not len(xs):
        return seven
    out = seven.copy()
    cx = int(np.median(xs))
    cv2.line(out, (cx - 5, y), (cx + 5, y), 255, thickness, cv2.LINE_AA)
    return out


def stick_page(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
               styled: bool, size: tuple[int, int] = PAGE_SIZE, digit: int = 1,
               gap: tuple[float, float] = APART, featured: float = FEATURED_SHARE,
               comb: np.random.Generator | None = None) -> StickPage:
    """A page of numbers from ``images (N, 28, 28) uint8`` / ``labels (N,)`` (white on black),
    black on white, ``gap`` of a digit's height between inks (0.1-0.3; below 0 they overlap),
    ``digit`` (1 or 7) ``featured`` of the digits (four in ten); when ``styled``, its 1s are
    :func:`stick_one_28` strokes or its 7s are crossed by :func:`cross_seven_28`, else MNIST's
    own. ``rng`` is drawn from the same way for both kinds, so one seed gives the same digits
    twice with only the featured ones different (and the digits after a 1 shifted by the
    difference in its width). With a ``comb`` generator, each number is written in a comb field
    (a printed box per digit, :data:`COMB_CELL` and :data:`COMB_OFF`, drawn from ``comb`` so
    ``rng`` gives the same digits as without)."""
    if digit not in STYLES:
        raise ValueError(f"the featured digit is one of {sorted(STYLES)}, got {digit}")
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
        x0 = x  # a comb field's left edge
        cell = side * 20 / 28 * comb.uniform(*COMB_CELL) if comb is not None else 0.0
        for k in range(n):
            cls = digit if rng.random() < featured else int(rng.integers(0, 10))
            pick = by_class[cls]
            mnist_img = images[pick[rng.integers(len(pick))]] if len(pick) else np.zeros((28, 28), np.uint8)
            thickness = int(rng.integers(2, 4))  # drawn for every digit: one stream for both kinds
            glyph = mnist_img
            if cls == digit and styled:
                glyph = stick_one_28(thickness) if digit == 1 else cross_seven_28(mnist_img, thickness)
            space = rng.uniform(gap[0], gap[1])  # between inks, a fraction of the digit's height
            big = cv2.resize(glyph, (side, side), interpolation=cv2.INTER_LINEAR)
            ys, xs = np.nonzero(big >= 0.3 * max(int(big.max()), 1))
            if not len(ys):
                continue
            left = x - int(xs.min())  # the ink starts at x
            if comb is not None:  # the ink centred in the k-th box, give or take COMB_OFF
                centre = x0 + (k + 0.5 + comb.uniform(-COMB_OFF, COMB_OFF)) * cell
                left = int(round(centre - (int(xs.min()) + int(xs.max()) + 1) / 2))
            if left + side > w:
                break
            roi = page[y:y + side, left:left + side]
            np.minimum(roi, 255 - big, out=roi)
            boxes.append([left + xs.min(), y + ys.min(), left + xs.max() + 1, y + ys.max() + 1])
            classes.append(cls)
            x = left + int(xs.max()) + 1 + int(round(space * (ys.max() + 1 - ys.min())))
        if comb is not None and len(classes) > first:  # the printed boxes, under the ink
            top, bottom = y + side // 10, y + side - side // 10
            lines = np.full_like(page, 255)
            for k in range(len(classes) - first + 1):
                xx = int(round(x0 + k * cell))
                cv2.line(lines, (xx, top), (xx, bottom), COMB_INK, 2)
            cv2.line(lines, (x0, top), (int(round(x0 + (len(classes) - first) * cell)), top), COMB_INK, 2)
            cv2.line(lines, (x0, bottom), (int(round(x0 + (len(classes) - first) * cell)), bottom),
                     COMB_INK, 2)
            np.minimum(page, lines, out=page)
        if len(classes) > first:
            b = np.array(boxes[first:], np.float32)
            numbers.append({"text": "".join(map(str, classes[first:])),
                            "box": [float(b[:, 0].min()), float(b[:, 1].min()),
                                    float(b[:, 2].max()), float(b[:, 3].max())]})
    return StickPage(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR), np.array(boxes, np.float32).reshape(-1, 4),
                     np.array(classes, np.int64), numbers)


def score_page(detector: Any, sp: StickPage, conf: float, which: np.ndarray) -> tuple[int, int, int, int]:
    """``detector`` on one page: :func:`score_detections` of what it finds there."""
    return score_detections(detector.predict(sp.image).detections, sp, conf, which)


def score_detections(det: Detections, sp: StickPage, conf: float, which: np.ndarray,
                     ) -> tuple[int, int, int, int]:
    """One page's detections ``det`` scored: numbers read exactly (text and box, IoU >= 0.5),
    numbers, the digits picked by the mask ``which (N,) bool``, and how many of those a kept box
    (confidence >= ``conf``) of their class covers (IoU >= 0.5)."""
    from digitdet.numbers import read_numbers
    from digitdet.val import match_numbers

    det = det[det.confidence >= conf]
    read = 0
    if len(det) and which.any():
        iou = box_iou(sp.boxes[which], det.xyxy) * (sp.classes[which][:, None] == det.class_id[None])
        read = int((iou.max(1) >= 0.5).sum())
    return match_numbers(sp.numbers, read_numbers(det)), len(sp.numbers), int(which.sum()), read


def evaluate_touching(detector: Any, images: np.ndarray, labels: np.ndarray,
                      gap: tuple[float, float], pages: int = STICK_PAGES, seed: int = STICK_SEED,
                      conf: float = DEFAULT_CONF, apart: bool = True) -> dict[str, Any]:
    """``detector`` on ``pages`` pages of MNIST's digits with the inks apart (:data:`APART`)
    and the same draws with the gap from ``gap`` (a share of the digit's height; below 0 the
    digits overlap): ``numbers_<kind>``, ``number_accuracy_<kind>``, ``digits_<kind>`` and
    ``digits_read_<kind>`` for ``apart`` (unless ``apart=False``: a second gap needs them once)
    and ``touching``."""
    report: dict[str, Any] = {"pages": pages, "gap": list(gap)}
    if apart:
        report.update(_read_mnist_pages(detector, images, labels, "apart", pages, seed, conf))
    report.update(_read_mnist_pages(detector, images, labels, "touching", pages, seed, conf, gap))
    return report


def evaluate_combs(detector: Any, images: np.ndarray, labels: np.ndarray,
                   pages: int = STICK_PAGES, seed: int = STICK_SEED,
                   conf: float = DEFAULT_CONF, apart: bool = True) -> dict[str, Any]:
    """``detector`` on ``pages`` pages of MNIST's digits apart and on the same draws written in
    comb fields (:func:`stick_page`'s ``comb``): ``numbers_<kind>``, ``number_accuracy_<kind>``,
    ``digits_<kind>`` and ``digits_read_<kind>`` for ``apart`` (unless ``apart=False``: val reads
    them once, with its touching pages) and ``comb``."""
    report: dict[str, Any] = {"pages": pages}
    if apart:
        report.update(_read_mnist_pages(detector, images, labels, "apart", pages, seed, conf))
    report.update(_read_mnist_pages(detector, images, labels, "comb", pages, seed, conf,
                                    comb=np.random.default_rng(seed + 1)))
    return report


def _read_mnist_pages(detector: Any, images: np.ndarray, labels: np.ndarray, kind: str,
                      pages: int, seed: int, conf: float, gap: tuple[float, float] = APART,
                      comb: np.random.Generator | None = None) -> dict[str, Any]:
    """``detector`` on ``pages`` :func:`stick_page` pages of MNIST's own digits drawn from
    ``seed``: the numbers and digits read, under keys ending in ``_<kind>``."""
    rng = np.random.default_rng(seed)
    tally = np.zeros(4, int)
    for _ in range(pages):
        sp = stick_page(rng, images, labels, False, gap=gap, featured=0.0, comb=comb)
        tally += score_page(detector, sp, conf, np.ones(len(sp.classes), bool))
    hits, n_numbers, digits, read = tally.tolist()
    return {f"numbers_{kind}": n_numbers, f"number_accuracy_{kind}": hits / max(n_numbers, 1),
            f"digits_{kind}": digits, f"digits_read_{kind}": read / max(digits, 1)}


def evaluate_sticks(detector: Any, images: np.ndarray, labels: np.ndarray,
                    pages: int = STICK_PAGES, seed: int = STICK_SEED,
                    conf: float = DEFAULT_CONF, digit: int = 1) -> dict[str, Any]:
    """``detector`` on ``pages`` styled pages featuring ``digit`` (see :func:`stick_page`) and
    the same pages with MNIST's digits: ``numbers`` and ``featured`` per kind (``styled``,
    ``mnist``), ``number_accuracy_<kind>`` (text and box, IoU >= 0.5) and
    ``featured_read_<kind>`` (share of featured digits under a kept box of their class with IoU
    >= 0.5)."""
    report: dict[str, Any] = {"pages": pages, "digit": digit}
    for kind, styled in (("styled", True), ("mnist", False)):
        rng = np.random.default_rng(seed)
        tally = np.zeros(4, int)
        for _ in range(pages):
            sp = stick_page(rng, images, labels, styled, digit=digit)
            tally += score_page(detector, sp, conf, sp.classes == digit)
        hits, n_numbers, featured, featured_read = tally.tolist()
        report[f"numbers_{kind}"] = n_numbers
        report[f"featured_{kind}"] = featured
        report[f"number_accuracy_{kind}"] = hits / max(n_numbers, 1)
        report[f"featured_read_{kind}"] = featured_read / max(featured, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.stickset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    checkargs.add_arguments(p)
    p.add_argument("--pages", type=int, default=STICK_PAGES, help="pages of each kind")
    p.add_argument("--seed", type=int, default=STICK_SEED)
    p.add_argument("--digit", type=int, choices=sorted(STYLES), default=None,
                   help="only the plain 1s (1) or the crossed 7s (7); default both")
    instead = p.add_mutually_exclusive_group()
    instead.add_argument("--touch", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                      help="instead: MNIST pages with the gap between inks in LO..HI of a "
                           "digit's height (below 0: overlapping), against the same pages apart")
    instead.add_argument("--comb", action="store_true",
                      help="instead: MNIST pages whose numbers are written in comb fields (a "
                           "printed box per digit), against the same pages apart")
    args = p.parse_args(argv)
    try:
        if not 1 <= args.pages <= 10000:
            raise UserError(f"--pages must lie between 1 and 10000, got {args.pages}")
        if args.touch and not -0.5 <= args.touch[0] <= args.touch[1] <= 0.1:
            raise UserError(f"--touch needs -0.5 <= LO <= HI <= 0.1, got {args.touch[0]:g} {args.touch[1]:g}")
        from digitdet import mnist

        detector = checkargs.build_detector(args)
        images, labels = mnist.heldout(mnist.load(args.mnist_dir))
    except (UserError, MnistError) as exc:
        return error_exit("digitdet.stickset", exc)
    print(f"{args.pages} pages a kind, held-out MNIST digits, {detector.weights}")
    if args.touch or args.comb:
        if args.comb:
            t = evaluate_combs(detector, images, labels, args.pages, args.seed, args.conf_thres)
            other = ("comb", "comb fields")
        else:
            t = evaluate_touching(detector, images, labels, tuple(args.touch), args.pages,
                                  args.seed, args.conf_thres)
            other = ("touching", f"gap {args.touch[0]:g}..{args.touch[1]:g}")
        for kind, name in (("apart", f"apart {APART[0]:g}..{APART[1]:g}"), other):
            print(f"{name:>17}: numbers read {t[f'number_accuracy_{kind}'] * 100:.1f} % of "
                  f"{t[f'numbers_{kind}']}, digits read {t[f'digits_read_{kind}'] * 100:.1f} % "
                  f"of {t[f'digits_{kind}']}")
        return 0
    names = {1: ("plain upright 1s", "MNIST's own 1s"), 7: ("crossed 7s", "MNIST's own 7s")}
    for digit in [args.digit] if args.digit else sorted(STYLES):
        r = evaluate_sticks(detector, images, labels, args.pages, args.seed, args.conf_thres, digit)
        for kind, name in zip(("styled", "mnist"), names[digit], strict=True):
            print(f"{name:>17}: numbers read {r[f'number_accuracy_{kind}'] * 100:.1f} % of "
                  f"{r[f'numbers_{kind}']}, {digit}s read {r[f'featured_read_{kind}'] * 100:.1f} % "
                  f"of {r[f'featured_{kind}']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
