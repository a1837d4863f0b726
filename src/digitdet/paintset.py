"""Out-of-distribution check: held-out MNIST digits as drawn with a brush in a paint program.

A digit drawn with a mouse or a stylus on a big canvas is a uniform stroke of the brush's width,
hairline or fat, whatever its size; MNIST's own strokes are about a tenth of the digit's height.
Each digit's skeleton (:mod:`digitdet.synth.glyphs`) is redrawn about 700 px tall on a 1280x960
canvas with a 3-px or a fat brush, black on white or white on black; ``python -m digitdet.val``
reports top-1 on them beside the MNIST lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

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
