"""Tiled reading of big images: scans and photos whose digits are small against the whole.

A form scanned at 300 dpi is 2480x3508 px. Read whole at 480 px, its 40-px handwriting is 5 px
tall in the model's input, below anything the model reads. :func:`tile_windows` cuts such an
image into overlapping tiles (each read at the model's size like any image), and
:func:`merge_tiles` puts the tiles' boxes and a pass over the whole image back together. Each
tile keeps the boxes centred in its core (:func:`tile_cores`, the tile cut halfway across each
overlap) that do not touch an edge it shares with a neighbour (:func:`uncut`): a digit smaller
than the overlap is read whole by the one tile its centre falls in, and the piece of it that a
neighbour sees cut is centred outside that neighbour's core. A digit bigger than that, or one the
whole pass sees at :data:`WHOLE_PX` model px or more (big digits read worse at a tile's finer
scale), comes from the whole image's pass, unless that pass's box holds a patch of the tiles'
digits (:func:`crowd`: a block of writing seen small is not a digit).

The default tile setting is :data:`AUTO`: an image at least :data:`BIG_IMAGE` times the model's
size is read whole first, and read again in tiles of :func:`auto_tile` pixels only when that
read has boxes under :data:`SMALL_PX` model px (:func:`small_in_big`), the sign of small
handwriting seen from too far, or no box at all in an image over :data:`EMPTY_IMAGE` times the
model's size (a page with a few small numbers shows nothing whole); big photos of big digits,
and frames up to 1080p, cost one pass as before.

A tile with nothing in it is not read: :func:`inked` finds the tiles where something stands out
from the paper around it (a page's margins, a blank wall in a 12-megapixel photo are skipped)."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import cv2
import numpy as np

from digitdet.decode import box_iou, nms_by_class
from digitdet.errors import UserError
from digitdet.results import Detections

OVERLAP = 0.25  # share of the tile side that neighbouring tiles share, at least
EDGE_PX = 2.0  # a tile's box this close (image px) to an edge shared with a neighbour is cut
# a whole-pass box with this many tile digits (confidence >= CROWD_CONF, under half its height)
# centred in it is a patch of writing seen small (a block of a form, a photo on a page), not one
# digit; a big digit's own pieces boxed in the tiles are fewer (docs/training-log.md, "Scanned pages")
CROWD = 3
CROWD_CONF = 0.1
# a digit this tall or more (model px) in the whole image's pass is read from that pass: at a
# tile's finer scale big digits are read worse (docs/training-log.md, "Scanned pages")
WHOLE_PX = 16.0
# AUTO tiles an image this many times the model's size with a box under SMALL_PX model px
# (a 300-dpi page's digits are 3-10 px read whole; a 4x enlarged frame's smallest about 9 px)
BIG_IMAGE = 3
SMALL_PX = 8.0
# ... and one over EMPTY_IMAGE times it with no box at all (a page with a few small numbers; over
# 1920 px at 480, so a 1080p video frame with nothing in it is still read in one pass)
EMPTY_IMAGE = 4
# a tile is read only where something stands out from the paper around it (a top-hat and a
# black-hat INK_PX model px wide) by INK_CONTRAST gray levels or more: one in a thousand of the
# test split's digits stands out less, blank paper 6, sticky notes and whiteboards up to 16
# (docs/training-log.md, "Blank tiles skipped")
INK_CONTRAST = 16
INK_PX = 15
MIN_TILE = 64  # smallest tile side users may ask for: its overlap (16 px) still holds a small digit
AUTO: Final = "auto"
# the tile setting: AUTO, a side in pixels, or 0 / None to read whole
Tile: TypeAlias = int | Literal["auto"] | None


def check_tile(tile: Tile) -> None:
    """Raise :class:`UserError` unless ``tile`` is :data:`AUTO`, None or 0 (read whole) or at
    least :data:`MIN_TILE` pixels."""
    if tile == AUTO or tile is None:
        return
    if isinstance(tile, (str, bool)) or tile < 0 or 0 < tile < MIN_TILE:
        raise _tile_error(str(tile))


def parse_tile(text: str) -> Tile:
    """``--tile``'s value: ``auto`` or a whole number of pixels (checked by
    :func:`check_tile`); :class:`UserError` for anything else."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        raise _tile_error(repr(text)) from None
    check_tile(value)
    return value


def _tile_error(got: str) -> UserError:
    return UserError(f"tile must be auto, 0 (read whole) or at least {MIN_TILE} pixels, got {got}")


def auto_tile(imgsz: int) -> int:
    """The tile side :data:`AUTO` reads at for a model of input size ``imgsz``: four thirds of
    it (640 at 480), so a tile is shrunk as a 640x480 training scene is."""
    return imgsz * 4 // 3


def small_in_big(xyxy: np.ndarray, h: int, w: int, imgsz: int) -> bool:
    """Whether an ``h x w`` image read whole at ``imgsz`` needs tiles: it is at least
    :data:`BIG_IMAGE` times ``imgsz`` on its long side and some of its boxes ``xyxy (N, 4)``
    (image px) are under :data:`SMALL_PX` px tall in the model's input, where most such digits
    are missed (a scanned page), or it has no box at all and is over :data:`EMPTY_IMAGE` times
    ``imgsz`` (docs/training-log.md, "Tiles by default")."""
    long = max(h, w)
    if long < BIG_IMAGE * imgsz:
        return False
    if not len(xyxy):
        return long > EMPTY_IMAGE * imgsz
    return bool(((xyxy[:, 3] - xyxy[:, 1]) * imgsz / long < SMALL_PX).any())


def inked(img: np.ndarray, windows: np.ndarray, scale: float) -> np.ndarray:
    """Mask ``(K,) bool`` of the ``windows (K, 4)`` (xyxy, image px) of ``img (H, W, 3) uint8``
    BGR that hold something a digit could be made of: a pixel at least :data:`INK_CONTRAST` gray
    levels darker or brighter than the paper around it (:data:`INK_PX` px), with the image
    seen at ``scale`` (a tile's scale in the model's input, at most 1) and blurred 3x3."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    scale = min(scale, 1.0)
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (INK_PX, INK_PX))
    contrast = np.maximum(cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel),
                          cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel))
    table = cv2.integral((contrast >= INK_CONTRAST).astype(np.uint8))  # (h + 1, w + 1) sums
    h, w = gray.shape
    (x0, y0), (x1, y1) = (np.clip(np.floor(windows[:, :2] * scale), 0, (w, h)).astype(np.int64).T,
                          np.clip(np.ceil(windows[:, 2:] * scale), 0, (w, h)).astype(np.int64).T)
    return (table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]) > 0


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Offsets of tiles of side ``tile`` covering ``length`` pixels, spread evenly so that
    neighbours share at least ``overlap`` pixels; the last ends at ``length``. One tile (at 0)
    when ``length <= tile``."""
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need 0 <= overlap < tile, got tile {tile}, overlap {overlap}")
    if length <= tile:
        return [0]
    n = -(-(length - overlap) // (tile - overlap))  # tiles needed for that overlap
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_windows(h: int, w: int, tile: int, overlap: float = OVERLAP) -> np.ndarray:
    """Tiles of an ``h x w`` image: ``(K, 4) int64`` xyxy windows of at most ``tile x tile``
    pixels, row by row, neighbours sharing at least ``overlap`` of ``tile``."""
    ov = int(round(overlap * tile))
    return np.array([[x, y, min(x + tile, w), min(y + tile, h)]
                     for y in tile_starts(h, tile, ov) for x in tile_starts(w, tile, ov)], np.int64)


def tile_cores(windows: np.ndarray, h: int, w: int) -> np.ndarray:
    """The part of each tile that it reads for the image: ``(K, 4) float64`` xyxy, the
    tile's window cut halfway across each overlap with a neighbour, so the cores of a
    :func:`tile_windows` grid cover the ``h x w`` image without overlapping."""
    out = np.zeros((len(windows), 4))
    for axis, length in ((0, w), (1, h)):
        starts = np.unique(windows[:, axis])
        ends = np.unique(windows[:, axis + 2])
        cuts = np.concatenate([[0.0], (starts[1:] + ends[:-1]) / 2, [float(length)]])
        k = np.searchsorted(starts, windows[:, axis])
        out[:, axis], out[:, axis + 2] = cuts[k], cuts[k + 1]
    return out


def uncut(xyxy: np.ndarray, window: np.ndarray, h: int, w: int, edge: float = EDGE_PX) -> np.ndarray:
    """Mask ``(N,) bool`` of the boxes ``xyxy (N, 4)`` (image px) found in ``window`` that do
    not touch (within ``edge`` px) one of its edges inside the image, where a digit may be cut."""
    x0, y0, x1, y1 = (float(v) for v in window)
    ok = np.ones(len(xyxy), bool)
    if x0 > 0:
        ok &= xyxy[:, 0] > x0 + edge
    if y0 > 0:
        ok &= xyxy[:, 1] > y0 + edge
    if x1 < w:
        ok &= xyxy[:, 2] < x1 - edge
    if y1 < h:
        ok &= xyxy[:, 3] < y1 - edge
    return ok


def crowd(xyxy: np.ndarray, tiled: Detections) -> np.ndarray:
    """How many of the ``tiled`` boxes (confidence >= :data:`CROWD_CONF`) under half as tall as
    each of the boxes ``xyxy (N, 4)`` are centred in it: ``(N,) int64``."""
    small = tiled[tiled.confidence >= CROWD_CONF]
    cx, cy = (small.xyxy[:, 0] + small.xyxy[:, 2]) / 2, (small.xyxy[:, 1] + small.xyxy[:, 3]) / 2
    inside = ((cx[None] >= xyxy[:, :1]) & (cx[None] < xyxy[:, 2:3])
              & (cy[None] >= xyxy[:, 1:2]) & (cy[None] < xyxy[:, 3:4]))
    short = (small.xyxy[:, 3] - small.xyxy[:, 1])[None] < 0.5 * (xyxy[:, 3:4] - xyxy[:, 1:2])
    return (inside & short).sum(1).astype(np.int64)


def merge_tiles(whole: Detections, tiles: list[Detections], windows: np.ndarray, h: int, w: int,
                iou: float, agnostic: bool = False, whole_px: float = np.inf) -> Detections:
    """One image's detections from its ``tiles`` (boxes already in image px, one per row of
    ``windows``) and its ``whole``-image pass: each tile's uncut boxes centred in its core
    (:func:`tile_cores`: a digit is read by one tile, and the piece of it that a neighbour sees
    cut is centred outside that neighbour's core), and the whole pass's boxes too big to lie
    whole in the tile they are centred in (side over the smallest overlap) or big enough for the
    whole pass to read well (side ``whole_px`` image px or more: :data:`WHOLE_PX` model px) and
    not over a patch of the tiles' digits (:func:`crowd`), in place of the tiles' boxes of that
    size on them (IoU >= 0.3), merged by class-wise NMS at
    ``iou`` (or across classes if ``agnostic``), most confident first. Each pass keeps its own
    ``max_det``: a page may hold more digits than one pass."""
    if len(tiles) != len(windows):
        raise ValueError(f"{len(tiles)} tiles' detections for windows of shape {windows.shape}")
    parts = []
    for d, win, core in zip(tiles, windows, tile_cores(windows, h, w), strict=True):
        cx, cy = (d.xyxy[:, 0] + d.xyxy[:, 2]) / 2, (d.xyxy[:, 1] + d.xyxy[:, 3]) / 2
        mine = (cx >= core[0]) & (cx < core[2]) & (cy >= core[1]) & (cy < core[3])
        parts.append(d[mine & uncut(d.xyxy, win, h, w)])
    side = (windows[:, 2:] - windows[:, :2]).max()
    big = OVERLAP * side - 2 * EDGE_PX  # a smaller box lies whole, off the cut edges, in a tile
    kept = whole[(whole.xyxy[:, 2:] - whole.xyxy[:, :2]).max(1) >= min(big, whole_px)]
    tiled = Detections.merge(parts)
    if len(kept) and len(tiled):  # a whole-pass box over a patch of writing is not a digit
        kept = kept[crowd(kept.xyxy, tiled) < CROWD]
    if len(kept) and len(tiled):  # a digit the whole pass reads well: its box, not the tiles'
        sized = (tiled.xyxy[:, 2:] - tiled.xyxy[:, :2]).max(1) >= whole_px
        tiled = tiled[~(sized & (box_iou(tiled.xyxy, kept.xyxy).max(1) >= 0.3))]
    merged = Detections.merge([tiled, kept])
    if not len(merged):
        return merged
    keep = nms_by_class(merged.xyxy, merged.confidence, merged.class_id, iou, agnostic)
    return merged[keep]
