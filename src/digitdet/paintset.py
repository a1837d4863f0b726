"""Out-of-distribution check: held-out MNIST digits as drawn with a brush in a paint program.

A digit drawn with a mouse or a stylus on a big canvas is a uniform stroke of the brush's width,
hairline or fat, whatever its size; MNIST's own strokes are about a tenth of the digit's height.
Each digit's skeleton (:mod:`digitdet.synth.glyphs`) is redrawn about 700 px tall on a 1280x960
canvas with a 3-px or a fat brush, black on white or white on black; ``python -m digitdet.val``
reports top-1 on them beside the MNIST lines. Run alone, it measures any canvas and brush:

Usage:
    python -m digitdet.paintset --mnist-dir ../shared/mnist          # val's hairline line
    python -m digitdet.paintset --canvas 4032x3024 --height 1500 --pen 3 --limit 300
                                                   # a 3-px brush on a phone-photo-sized canvas
    python -m digitdet.paintset --canvas 4032x3024 --height 80 --tile 640   # small, in tiles
    python -m digitdet.paintset --pen 0.12 --weights runs/train/exp/weights/best.onnx --augment
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from digitdet import checkargs
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError, error_exit
from digitdet.image import parse_size
from digitdet.mnist import MnistError
from digitdet.tiles import parse_tile

if TYPE_CHECKING:
    from digitdet.synth.glyphs import Glyph

PAINT_DIGITS = 1000  # held-out MNIST digits redrawn with each brush
# Paint-program digits: (name, pen width in px, or as a fraction of the digit height when < 1)
PAINT_PENS = (("hairline", 3.0), ("fat", 0.12))
PAINT_CANVAS = (1280, 960)  # (w, h) of the paint program's canvas
PAINT_HEIGHT = 700  # digit height in px


def paint_canvas(glyph: Glyph, pen: float, invert: bool, size: tuple[int, int] = PAINT_CANVAS,
                 height: int = PAINT_HEIGHT) -> np.ndarray:
    """A digit as drawn with a round brush in a paint program: ``glyph``'s skeleton redrawn
    about ``height`` px tall with a ``pen`` px brush (a fraction of ``height`` when under 1), centred
    on a ``size`` (w, h) canvas, white on black or (``invert``) black on white:
    ``uint8 (h, w, 3)``."""
    from digitdet.synth.glyphs import render_stroke

    pw = pen * height if pen < 1 else pen
    mask = render_stroke(glyph, height, max(8, round(height * glyph.aspect + pw)), pw)
    w, h = size
    gray = np.zeros((h, w), np.uint8)
    mh, mw = min(mask.shape[0], h), min(mask.shape[1], w)
    y0, x0 = (h - mh) // 2, (w - mw) // 2
    gray[y0:y0 + mh, x0:x0 + mw] = (mask[:mh, :mw] * 255).round()
    return cv2.cvtColor(255 - gray if invert else gray, cv2.COLOR_GRAY2BGR)


def paint_glyphs(images: np.ndarray, labels: np.ndarray) -> tuple[list[Glyph], np.ndarray]:
    """Skeleton glyphs of ``(N, 28, 28) uint8`` digits for :func:`paint_canvas`, and their
    labels; digits whose skeleton loses a loop (a 0 or 8 that thins to an open stroke, about 5 %)
    are left out, since their redrawing would not be the digit."""
    from digitdet.synth.glyphs import make_glyph

    glyphs = [make_glyph(img, int(label)) for img, label in zip(images, labels, strict=True)]
    ok = np.array([g.stroke_ok for g in glyphs], bool)
    return [g for g, k in zip(glyphs, ok, strict=True) if k], np.asarray(labels)[ok]


def paint_top1(detector: Any, glyphs: list[Glyph], labels: np.ndarray, pen: float, invert: bool,
               conf: float = DEFAULT_CONF, size: tuple[int, int] = PAINT_CANVAS,
               height: int = PAINT_HEIGHT) -> tuple[float, float]:
    """``(top1, found)`` of ``detector`` on ``glyphs`` painted with ``pen`` (see
    :func:`paint_canvas` and :func:`digitdet.val.top1_on_canvases`)."""
    from digitdet.val import top1_on_canvases

    canvases = (paint_canvas(g, pen, invert, size, height) for g in glyphs)
    return top1_on_canvases(detector, canvases, labels, conf)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.paintset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    checkargs.add_arguments(p)
    p.add_argument("--canvas", default="x".join(map(str, PAINT_CANVAS)), help="WIDTHxHEIGHT")
    p.add_argument("--height", type=int, default=PAINT_HEIGHT, help="digit height in px")
    p.add_argument("--pen", type=float, default=3.0,
                   help="brush width in px, or a fraction of the digit height when under 1")
    p.add_argument("--limit", type=int, default=PAINT_DIGITS,
                   help="first N held-out MNIST digits (t10k 5000 on)")
    p.add_argument("--augment", action="store_true")
    p.add_argument("--tile", default="auto", metavar="auto|PX", help="as detect's --tile")
    args = p.parse_args(argv)
    try:
        w, h = parse_size(args.canvas, "--canvas")
        if not 8 <= args.height <= h:
            raise UserError(f"--height must lie between 8 and the canvas height {h}, got {args.height}")
        if args.pen <= 0:
            raise UserError(f"--pen must be positive, got {args.pen:g}")
        if not 1 <= args.limit <= 5000:
            raise UserError(f"--limit must lie between 1 and 5000, got {args.limit}")
        from digitdet import mnist

        detector = checkargs.build_detector(args, augment=args.augment,
                                            tile=parse_tile(args.tile))
        images, labels = mnist.heldout(mnist.load(args.mnist_dir))
    except (UserError, MnistError) as exc:
        return error_exit("digitdet.paintset", exc)
    glyphs, labels = paint_glyphs(images[:args.limit], labels[:args.limit])
    brush = f"{args.pen * args.height:.0f}-px" if args.pen < 1 else f"{args.pen:g}-px"
    print(f"{len(labels)} held-out MNIST digits, {args.height} px tall, {brush} brush, "
          f"{w}x{h} canvas, {detector.weights}")
    for invert in (True, False):
        top1, found = paint_top1(detector, glyphs, labels, args.pen, invert, args.conf_thres,
                                 (w, h), args.height)
        name = "black on white" if invert else "white on black"
        print(f"{name}: top-1 {top1 * 100:.1f} %, found above {args.conf_thres:g} {found * 100:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
