"""Digit glyphs: MNIST crops turned into ink masks of any size and pen width.

Each MNIST digit is tight-cropped and thinned to a stroke skeleton (a graph of points and edges),
so it can be redrawn with any pen: a 1-px hairline on a big canvas, a fat marker, or the natural
MNIST stroke (plain resize). Masks are ``float32`` in ``[0, 1]`` (1 = full ink).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from digitdet.fontset import FONT_DIR, held_out_glob

WORK = 64  # working height (px) of the skeleton
FONT_HEIGHT = 64  # height (px) of a font digit's crop: the font's strokes, not MNIST's 20 px


@dataclass(frozen=True)
class Glyph:
    """One digit: ``crop (h, w) uint8`` tight ink crop, skeleton ``points (P, 2) float32`` (x, y)
    in units of the crop height, ``edges (E, 2) int32`` index pairs, and the digit ``label``."""

    crop: np.ndarray
    points: np.ndarray
    edges: np.ndarray
    label: int
    stroke_ok: bool = True  # False when a redrawn skeleton would lose a loop: draw it natural
    loops: int = 0  # loops a redrawn stroke keeps open (a pen too fat for them is narrowed)

    @property
    def aspect(self) -> float:
        """Width / height of the tight crop."""
        return self.crop.shape[1] / self.crop.shape[0]


def tight_crop(img: np.ndarray, thresh: int = 30) -> np.ndarray:
    """Crop ``(H, W) uint8`` (an MNIST digit: 28 x 28) to the bounding box of pixels above ``thresh``."""
    ys, xs = np.nonzero(img > thresh)
    if len(ys) == 0:
        return img
    return img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def zhang_suen(mask: np.ndarray) -> np.ndarray:
    """Thin a binary ``(H, W) bool`` mask to a one-pixel skeleton (Zhang-Suen, vectorised)."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = img
            n = [np.roll(np.roll(p, dy, 0), dx, 1) for dy, dx in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
            # neighbours P2..P9 clockwise from north: roll by +1 row brings the north pixel here
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            b = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9
            seq = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            a = sum(((seq[i] == 0) & (seq[i + 1] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                c = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                c = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (p == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if remove.any():
                img = img.copy()
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def fill_small_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill holes smaller than ``max_area`` px in a ``bool`` mask (they would thin into loops)."""
    m = mask.astype(np.uint8)
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return mask
    for cnt, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True):
        if parent >= 0 and cv2.contourArea(cnt) <= max_area:
            cv2.drawContours(m, [cnt], -1, 1, -1)
    return m.astype(bool)


def ink_mask(crop: np.ndarray) -> np.ndarray:
    """``(WORK, w) bool`` ink of a tight crop at the skeleton's working height."""
    h, w = crop.shape
    big = cv2.resize(crop, (max(1, round(w * WORK / h)), WORK), interpolation=cv2.INTER_CUBIC)
    return big > 110


def count_holes(mask: np.ndarray, min_area: float = 0.0) -> int:
    """Holes (background regions enclosed by ink) of a ``bool`` mask whose outline encloses at
    least ``min_area`` px (any size by default)."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    return sum(1 for cnt, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True)
               if parent >= 0 and cv2.contourArea(cnt) >= min_area)


def skeleton_graph(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton of a tight crop as ``points (P, 2) float32`` (x, y; crop height = 1) and
    ``edges (E, 2) int32``, smoothed so that redrawn strokes are curves, not staircases."""
    skel = zhang_suen(fill_small_holes(ink_mask(crop), max_area=0.005 * WORK * WORK))
    ys, xs = np.nonzero(skel)
    if len(ys) == 0:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.int32)
    index = -np.ones(skel.shape, np.int64)
    index[ys, xs] = np.arange(len(ys))
    edges = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        y2, x2 = ys + dy, xs + dx
        ok = (y2 < skel.shape[0]) & (x2 >= 0) & (x2 < skel.shape[1])
        j = np.full(len(ys), -1)
        j[ok] = index[y2[ok], x2[ok]]
        sel = j >= 0
        if dy and dx:  # a diagonal step is redundant when an L of two straight steps exists
            ya, xa = np.clip(ys + dy, 0, skel.shape[0] - 1), np.clip(xs + dx, 0, skel.shape[1] - 1)
            sel &= ~(skel[ys, xa] & ok) & ~(skel[ya, xs] & ok)
        edges.append(np.stack([np.nonzero(sel)[0], j[sel]], 1))
    e = np.concatenate(edges).astype(np.int32)
    pts = np.stack([xs, ys], 1).astype(np.float32) + 0.5
    # Laplacian smoothing of degree-2 points (keeps ends and junctions in place)
    deg = np.bincount(e.ravel(), minlength=len(pts))
    for _ in range(3):
        acc = np.zeros_like(pts)
        np.add.at(acc, e[:, 0], pts[e[:, 1]])
        np.add.at(acc, e[:, 1], pts[e[:, 0]])
        mid = deg == 2
        pts[mid] = 0.5 * pts[mid] + 0.5 * acc[mid] / 2
    return (pts / WORK).astype(np.float32), e


LOOPED = {0: 1, 6: 1, 8: 1, 9: 1}  # digits whose skeleton must keep at least this many loops
# ... and up to this many when the ink has them: an 8's small top loop, filled before thinning
# as if it were a blot, leaves a skeleton that reads 6 (or 9) under the label 8
LOOPS_KEPT = {8: 2}


def count_loops(n_points: int, edges: np.ndarray) -> int:
    """Independent cycles of a graph: edges - vertices + connected components."""
    parent = list(range(n_points))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        parent[find(int(a))] = find(int(b))
    components = len({find(i) for i in range(n_points)})
    return len(edges) - n_points + components


def make_glyph(img28: np.ndarray, label: int) -> Glyph:
    """Build a :class:`Glyph` from one ``(28, 28) uint8`` MNIST image (or any ``(H, W) uint8``
    digit image, white on black)."""
    crop = tight_crop(img28)
    pts, edges = skeleton_graph(crop)
    need = LOOPED.get(int(label), 0)
    if int(label) in LOOPS_KEPT:
        need = max(need, min(LOOPS_KEPT[int(label)], count_holes(ink_mask(crop))))
    ok = len(edges) > 0 and count_loops(len(pts), edges) >= need
    return Glyph(crop=crop, points=pts, edges=edges, label=int(label), stroke_ok=ok,
                 loops=need if ok else 0)


HERSHEY_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
                 cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
                 cv2.FONT_HERSHEY_SCRIPT_COMPLEX)


@cache  # 6 fonts x 2 slants x 10 digits at most
def hershey_glyph(label: int, font: int, italic: bool = False) -> Glyph:
    """Digit ``label`` in one of OpenCV's Hershey stroke fonts, drawn like an MNIST digit.

    Designed, uniform-width shapes (a serifed 1, a closed 4, a straight-stemmed 9) that MNIST's
    handwriting rarely has. The font is stroked at 96 px and shrunk so its height is 20 px on a
    28-px square, as MNIST digits are; returns a :class:`Glyph` like :func:`make_glyph`.
    """
    big = np.zeros((140, 140), np.uint8)
    cv2.putText(big, str(label), (20, 115), font | (cv2.FONT_ITALIC if italic else 0), 3.2, 255, 9,
                cv2.LINE_AA)
    return _mnist_sized(big, label)


@cache  # a few fonts x 10 digits
def font_glyph(path: str, label: int) -> Glyph:
    """Digit ``label`` in a TrueType or OpenType font file.

    Rendered at 96 px with Pillow and kept ``FONT_HEIGHT`` px tall (not shrunk to MNIST's 20
    px like :func:`hershey_glyph`), so a big or natural-pen digit keeps the font's own thin and
    thick strokes and loops; raises :class:`ValueError` when the font has no glyph for the digit
    (no ink, or the same drawing as a character no font has: its "missing glyph" box).
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(path, 96)

    def draw(text: str) -> np.ndarray:
        layer = Image.new("L", (240, 200), 0)
        ImageDraw.Draw(layer).text((60, 30), text, font=font, fill=255)
        return np.asarray(layer)

    big = draw(str(label))
    if not (big > 30).any() or np.array_equal(big, draw("\U0010fffd")):  # a private-use code point
        raise ValueError(f"font {path} has no glyph for '{label}'")
    return make_glyph(_shrunk(big, FONT_HEIGHT), label)


def _shrunk(big: np.ndarray, height: int, max_width: int | None = None) -> np.ndarray:
    """A digit drawn large ``uint8 (H, W)``, tight-cropped and shrunk to ``height`` px tall,
    its aspect kept (the width capped at ``max_width``)."""
    crop = tight_crop(big)
    h, w = crop.shape
    nw = max(1, round(w * height / h))
    if max_width is not None:
        nw = min(nw, max_width)
    return cv2.resize(crop, (nw, height), interpolation=cv2.INTER_AREA)


def _mnist_sized(big: np.ndarray, label: int) -> Glyph:
    """A digit drawn large ``uint8 (H, W)``, shrunk to 20 px tall on a 28-px square as MNIST
    digits are, then made a :class:`Glyph`."""
    small = _shrunk(big, 20, max_width=28)
    nw = small.shape[1]
    img28 = np.zeros((28, 28), np.uint8)
    x0 = (28 - nw) // 2
    img28[4:24, x0:x0 + nw] = small
    return make_glyph(img28, label)


@cache
def resolve_fonts(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Font files named by ``patterns`` (paths or globs; relative ones under ``FONT_DIR``),
    sorted and without repeats. Raises :class:`ValueError` when a pattern names no file or names
    one of the handwriting fonts ``val --fonts`` holds out (:func:`digitdet.fontset.held_out_glob`)."""
    found: set[str] = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else os.path.join(FONT_DIR, pattern)
        paths = sorted(glob.glob(full, recursive=True))
        if not paths:
            raise ValueError(f"fonts: no font file matches '{pattern}'")
        for path in paths:
            held = held_out_glob(path)
            if held:
                raise ValueError(f"fonts: {path} is a held-out font of val --fonts ({held})")
        found.update(paths)
    return tuple(sorted(found))


def render_natural(glyph: Glyph, height: int, width: int) -> np.ndarray:
    """The MNIST stroke itself resized to ``(height, width)``: ``float32`` mask in [0, 1].

    Enlarged strokes are blurred in proportion to the enlargement and re-sharpened, so a big
    digit has smooth edges instead of magnified 28-px lumps.
    """
    scale = height / glyph.crop.shape[0]
    out = cv2.resize(glyph.crop, (width, height), interpolation=cv2.INTER_CUBIC if
                     scale > 1 else cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)
    if scale > 3:
        soft = cv2.GaussianBlur(out, (0, 0), 0.35 * scale)
        return (1.0 / (1.0 + np.exp(-(soft - 0.35) * 14.0))).astype(np.float32)  # smooth edge
    return np.clip(out * 1.4, 0.0, 1.0)


OPEN_LOOP = 0.04  # a loop shows when its hole is at least this fraction of the height across
OPEN_LOOP_PX = 2.0  # ... and at least this many pixels (a 1-px hole vanishes in any blur)


def render_stroke(glyph: Glyph, height: int, width: int, pen: float,
                  jitter: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Redraw the skeleton with a round pen ``pen`` px wide into a ``(height, width)`` mask.

    Pens under 1 px are drawn 1 px wide at reduced intensity (a faint hairline). ``jitter``
    bends the strokes by up to that fraction of the height with a smooth, low-frequency wobble
    (a hand, not noise). A pen that would fill the glyph's ``loops`` is narrowed until each shows
    a hole at least ``OPEN_LOOP`` of the height (and ``OPEN_LOOP_PX``) across, or is 1 px wide.
    Returns ``float32`` in [0, 1].
    """
    if len(glyph.edges) == 0:
        return render_natural(glyph, height, width)
    pad = max(pen, 1.0) / 2 + 1
    sx = (width - 2 * pad) / max(glyph.aspect, 1e-3)
    sy = height - 2 * pad
    pts = glyph.points.copy()
    if jitter and rng is not None:
        freq = rng.uniform(0.5, 2.0, 2) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi, 2)
        pts[:, 0] += jitter * np.sin(freq[0] * pts[:, 1] + phase[0])
        pts[:, 1] += jitter * np.sin(freq[1] * pts[:, 0] + phase[1])
    xy = np.empty_like(pts)
    xy[:, 0] = pts[:, 0] * max(sx, 1) + pad
    xy[:, 1] = pts[:, 1] * max(sy, 1) + pad
    fixed = np.round(xy * 16).astype(np.int32)  # 4 fractional bits for sub-pixel lines
    segs = fixed[glyph.edges]  # (E, 2, 2): one 2-point polyline per skeleton edge

    def draw(thick: int) -> np.ndarray:
        canvas = np.zeros((height, width), np.uint8)
        cv2.polylines(canvas, segs, False, 255, thickness=thick, lineType=cv2.LINE_AA, shift=4)
        return canvas

    thick = max(1, round(pen))
    canvas = draw(thick)
    # a pen too fat for the digit's loops fills them (an 8 becomes a blob read as 6 or 9): narrow
    # it until they show, as a writer with a marker would draw them
    min_hole = max(OPEN_LOOP * height, OPEN_LOOP_PX) ** 2
    while glyph.loops and thick > 1 and count_holes(canvas > 127, min_hole) < glyph.loops:
        thick = max(1, int(thick * 0.8))
        canvas = draw(thick)
    mask = canvas.astype(np.float32) * (1.0 / 255.0)
    if pen < 1.0:
        mask *= max(pen, 0.35)
    return mask
