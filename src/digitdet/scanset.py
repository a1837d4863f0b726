"""Out-of-distribution check: scanned pages, whose digits are small against the whole image.

A sheet of A4 scanned at 300 dpi is 2480x3508 px, and handwriting 2-6 mm tall is 21-70 px there.
Read whole at 480 px, such a digit is 3-10 px tall in the model's input: most are lost. Each
page here is a white A4 sheet at 300 dpi holding a grid of blocks, each a page of
:mod:`digitdet.stickset` (four lines of 3-5 digit numbers of held-out MNIST digits, MNIST's own
1s and 7s, drawn 30-50 px a side, ink about 21-35 px tall) enlarged by the page's scale: 1, 1.5
or 2 in turn, ink 21-35, 32-52 or 42-70 px tall. The report gives the numbers read exactly
(text and box, IoU >= 0.5, as on the test split) and the digits read (a kept box of their class,
IoU >= 0.5), with each page read whole (``--tile 0``), as the detector reads it by default
(``auto``: in tiles too when the whole read shows small digits) and always in tiles
(``DigitDetector(tile=...)``, ``detect --tile``), and the numbers read at each scale.

``--dataset ROOT`` pastes a synthesized split's own 640x480 scenes (paper, boards, pads,
strokes, printed text beside the digits) as the blocks instead, and reports each scene read
alone too.

Usage:
    python -m digitdet.scanset --mnist-dir ../shared/mnist          # whole, auto, 640-px tiles
    python -m digitdet.scanset --tile 960 --pages 3 --no-refiner
    python -m digitdet.scanset --dataset datasets/digits            # pages of the test scenes
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from digitdet import checkargs
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError, error_exit
from digitdet.labels import read_scenes, split_records
from digitdet.mnist import MnistError
from digitdet.stickset import PAGE_SIZE, StickPage, score_detections, stick_page
from digitdet.tiles import AUTO, Tile, check_tile

A4_300DPI = (2480, 3508)  # (w, h)
SCALES = (1.0, 1.5, 2.0)  # page k enlarges its blocks by SCALES[k % 3]
SCAN_PAGES = 6
SCAN_SEED = 0
MARGIN = 60  # px around the grid and between blocks
INK = (21, 35)  # px: the ink height of a block's digits at scale 1 (20 of MNIST's 28 rows)
DEFAULT_TILE = 640  # the scenes' own size: a tile is read at the scale the model trained at


def paste_blocks(blocks: Iterator[StickPage], scale: float, size: tuple[int, int] = A4_300DPI,
                 ) -> tuple[StickPage, list[StickPage]]:
    """A white ``size`` (w, h) page of ``PAGE_SIZE`` blocks taken from ``blocks`` in turn, each
    enlarged by ``scale``, in a grid with :data:`MARGIN` px between them: the page (boxes,
    classes and numbers in page pixels, blocks row by row) and the blocks placed on it."""
    w, h = size
    bw, bh = round(PAGE_SIZE[0] * scale), round(PAGE_SIZE[1] * scale)
    cols, rows = (w - MARGIN) // (bw + MARGIN), (h - MARGIN) // (bh + MARGIN)
    if cols < 1 or rows < 1:
        raise ValueError(f"a {bw}x{bh} block does not fit a {w}x{h} page")
    page = np.full((h, w, 3), 255, np.uint8)
    boxes, classes, numbers, used = [], [], [], []
    for r in range(rows):
        for c in range(cols):
            block = next(blocks)
            used.append(block)
            x0, y0 = MARGIN + c * (bw + MARGIN), MARGIN + r * (bh + MARGIN)
            page[y0:y0 + bh, x0:x0 + bw] = cv2.resize(block.image, (bw, bh),
                                                      interpolation=cv2.INTER_LINEAR)
            off = np.array([x0, y0, x0, y0], np.float32)
            boxes.append(block.boxes * np.float32(scale) + off)
            classes.append(block.classes)
            numbers += [{"text": n["text"],
                         "box": [float(v) for v in np.array(n["box"], np.float32) * scale + off]}
                        for n in block.numbers]
    return (StickPage(page, np.concatenate(boxes).reshape(-1, 4), np.concatenate(classes), numbers),
            used)


def scan_page(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, scale: float,
              size: tuple[int, int] = A4_300DPI) -> StickPage:
    """A :func:`paste_blocks` page of :func:`digitdet.stickset.stick_page` blocks (MNIST's own
    digits, from ``images (N, 28, 28) uint8`` / ``labels (N,)``) each enlarged by ``scale``."""
    blocks = (stick_page(rng, images, labels, False, featured=0.0) for _ in itertools.count())
    return paste_blocks(blocks, scale, size)[0]


def scene_blocks(root: Path, split: str) -> Iterator[StickPage]:
    """The ``PAGE_SIZE`` scenes of a synthesized split with their labels, in order, as blocks
    (the scenes of other sizes are left out)."""
    records = [r for r in split_records(root, split) if (r["width"], r["height"]) == PAGE_SIZE]
    for rec, (img, boxes, classes) in zip(records, read_scenes(root, split, records), strict=True):
        yield StickPage(img, boxes, classes, rec["numbers"])


def evaluate_pages(detector: Any, pages: list[tuple[float, StickPage]],
                   conf: float = DEFAULT_CONF, tile: Tile = None) -> dict[str, Any]:
    """``detector`` on each ``(scale, page)``, read with ``tile`` (None: the detector's own
    setting): ``pages``, ``numbers``, ``number_accuracy``,
    ``digits``, ``digits_read``, ``number_accuracy_by_scale`` (``{scale: share}``),
    ``pages_tiled`` (read in tiles too: ``Prediction.tiles``), ``tiles_per_page`` (tiles read,
    blank ones skipped) and ``seconds_per_page``."""
    tally: dict[float, np.ndarray] = {}
    seconds = 0.0
    tiled = tiles = 0
    for scale, sp in pages:
        t0 = time.perf_counter()
        pred = detector.predict(sp.image, tile=tile)
        row = score_detections(pred.detections, sp, conf, np.ones(len(sp.classes), bool))
        seconds += time.perf_counter() - t0
        tiled += pred.tiles > 0
        tiles += pred.tiles
        tally[scale] = tally.get(scale, np.zeros(4, int)) + row
    hits, n_numbers, digits, read = np.sum(list(tally.values()), axis=0).tolist()
    return {"pages": len(pages), "numbers": n_numbers, "number_accuracy": hits / max(n_numbers, 1),
            "digits": digits, "digits_read": read / max(digits, 1),
            "number_accuracy_by_scale": {s: int(t[0]) / max(int(t[1]), 1) for s, t in tally.items()},
            "pages_tiled": tiled, "tiles_per_page": tiles / max(len(pages), 1),
            "seconds_per_page": seconds / max(len(pages), 1)}


def scan_pages(images: np.ndarray, labels: np.ndarray, pages: int = SCAN_PAGES,
               seed: int = SCAN_SEED) -> list[tuple[float, StickPage]]:
    """``pages`` :func:`scan_page` pages drawn from ``seed``, scales cycling through
    :data:`SCALES`, each with its scale."""
    rng = np.random.default_rng(seed)
    scales = [SCALES[k % len(SCALES)] for k in range(pages)]
    return [(s, scan_page(rng, images, labels, s)) for s in scales]


def evaluate_scans(detector: Any, images: np.ndarray, labels: np.ndarray, pages: int = SCAN_PAGES,
                   seed: int = SCAN_SEED, conf: float = DEFAULT_CONF) -> dict[str, Any]:
    """``detector`` on :func:`scan_pages`: :func:`evaluate_pages`' report."""
    return evaluate_pages(detector, scan_pages(images, labels, pages, seed), conf)


def scene_pages(root: Path, split: str, pages: int,
                ) -> tuple[list[tuple[float, StickPage]], list[tuple[float, StickPage]]]:
    """``pages`` :func:`paste_blocks` pages of the split's scenes (:func:`scene_blocks`,
    scales cycling through :data:`SCALES`), and the scenes placed on them, each with its
    page's scale; a :class:`UserError` when the split has too few scenes."""
    blocks = scene_blocks(root, split)
    out, alone = [], []
    for k in range(pages):
        scale = SCALES[k % len(SCALES)]
        try:
            page, used = paste_blocks(blocks, scale)
        except StopIteration:
            raise UserError(f"{root / split} has too few {PAGE_SIZE[0]}x{PAGE_SIZE[1]} scenes "
                            f"for {pages} pages") from None
        out.append((scale, page))
        alone += [(scale, b) for b in used]
    return out, alone


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.scanset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    checkargs.add_arguments(p)
    p.add_argument("--dataset", default=None, metavar="ROOT",
                   help="instead: pages of this synthesized split's own 640x480 scenes")
    p.add_argument("--split", default="test", help="the --dataset split (default: test)")
    p.add_argument("--pages", type=int, default=SCAN_PAGES)
    p.add_argument("--seed", type=int, default=SCAN_SEED)
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="tile side in pixels")
    args = p.parse_args(argv)
    try:
        if not 1 <= args.pages <= 1000:
            raise UserError(f"--pages must lie between 1 and 1000, got {args.pages}")
        if args.tile == 0:
            raise UserError("--tile 0 reads whole, as the first line does: give a tile side")
        from digitdet import mnist

        check_tile(args.tile)
        detector = checkargs.build_detector(args)  # each reading sets its tile per call
        if args.dataset:
            pages, alone = scene_pages(Path(args.dataset), args.split, args.pages)
        else:
            images, labels = mnist.heldout(mnist.load(args.mnist_dir))
            pages, alone = scan_pages(images, labels, args.pages, args.seed), []
    except (UserError, MnistError) as exc:
        return error_exit("digitdet.scanset", exc)
    w, h = A4_300DPI
    kind = f"the {args.split} scenes of {args.dataset}" if args.dataset else "held-out MNIST digits"
    print(f"{args.pages} pages of {w}x{h} (A4, 300 dpi), {kind}, {detector.weights}")
    runs: list[tuple[str, Tile, list[tuple[float, StickPage]]]] = [
        ("scenes alone", 0, alone)] if alone else []
    runs += [("read whole", 0, pages), ("auto (default)", AUTO, pages),
             (f"tiles of {args.tile} px", args.tile, pages)]
    for name, tile, todo in runs:
        r = evaluate_pages(detector, todo, args.conf_thres, tile)
        by = r["number_accuracy_by_scale"].items()
        split = (", ".join(f"x{s:g} {a * 100:.1f} %" for s, a in by) if args.dataset else
                 ", ".join(f"{INK[0] * s:.0f}-{INK[1] * s:.0f} px {a * 100:.1f} %" for s, a in by))
        print(f"{name:>16}: numbers read {r['number_accuracy'] * 100:.1f} % of {r['numbers']}, "
              f"digits read {r['digits_read'] * 100:.1f} % of {r['digits']}, "
              f"{r['pages_tiled']} of {r['pages']} pages in tiles "
              f"({r['tiles_per_page']:.1f} tiles read a page), "
              f"{r['seconds_per_page']:.1f} s a page; numbers by "
              f"{'page scale' if args.dataset else 'ink height'}: {split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
