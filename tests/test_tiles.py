"""Tiled reading of big images: tile layout, cut boxes, merging, and the detector end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from digitdet.backends import ModelInfo
from digitdet.detector import DigitDetector
from digitdet.errors import UserError
from digitdet.results import Detections
from digitdet.tiles import (
    Tile,
    auto_tile,
    crowd,
    inked,
    merge_tiles,
    parse_tile,
    small_in_big,
    tile_cores,
    tile_starts,
    tile_windows,
    uncut,
)

from conftest import make_onnx, yolo_output


@pytest.mark.parametrize("length, tile, overlap, expected", [
    (500, 640, 160, [0]),                         # fits in one tile
    (640, 640, 160, [0]),                         # exactly one tile
    (1000, 640, 160, [0, 360]),                   # two tiles, sharing 280 px (more than asked)
    (1120, 640, 160, [0, 480]),                   # two tiles sharing exactly the overlap
    (1121, 640, 160, [0, 240, 481]),              # one pixel more: a third tile
    (2480, 640, 160, [0, 460, 920, 1380, 1840]),  # A4 at 300 dpi across
    (100, 64, 0, [0, 36]),                        # no overlap asked: still ends at the border
])
def test_tile_starts(length: int, tile: int, overlap: int, expected: list[int]) -> None:
    assert tile_starts(length, tile, overlap) == expected


@pytest.mark.parametrize("length, tile, overlap", [
    (n, t, o) for n in (1, 63, 640, 641, 999, 3508) for t, o in ((64, 16), (640, 160), (333, 100))])
def test_tiles_cover_the_image_and_share_the_overlap(length: int, tile: int, overlap: int) -> None:
    starts = np.array(tile_starts(length, tile, overlap))
    ends = np.minimum(starts + tile, length)
    assert starts[0] == 0 and ends[-1] == length  # the whole length, nothing past it
    assert (ends[:-1] - starts[1:] >= overlap).all()  # neighbours share at least the overlap


@pytest.mark.parametrize("tile, overlap", [
    (0, 0),      # no tile
    (64, 64),    # overlap as big as the tile: tiles would never advance
    (64, -1),    # negative overlap
])
def test_tile_starts_refuses_bad_settings(tile: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap < tile"):
        tile_starts(100, tile, overlap)


def test_tile_windows_row_by_row() -> None:
    # a 1000x700 (w x h) image in 640-px tiles (160 px overlap): two tiles across, two down
    assert tile_windows(700, 1000, 640).tolist() == [
        [0, 0, 640, 640], [360, 0, 1000, 640], [0, 60, 640, 700], [360, 60, 1000, 700]]


@pytest.mark.parametrize("h, w, tile, cores", [
    # two tiles across (0-640, 360-1000): cut halfway across their overlap, at 500
    (640, 1000, 640, [[0, 0, 500, 640], [500, 0, 1000, 640]]),
    # one tile: the whole image
    (480, 640, 640, [[0, 0, 640, 480]]),
    # 2 x 2 (0-640 and 360-1000 across, 0-640 and 60-700 down): cut at 500 and 350
    (700, 1000, 640, [[0, 0, 500, 350], [500, 0, 1000, 350], [0, 350, 500, 700],
                      [500, 350, 1000, 700]]),
    # 3 x 1 of a long strip (0-640, 480-1120, 960-1600): cut at 560 and 1040
    (300, 1600, 640, [[0, 0, 560, 300], [560, 0, 1040, 300], [1040, 0, 1600, 300]]),
])
def test_tile_cores(h: int, w: int, tile: int, cores: list) -> None:
    windows = tile_windows(h, w, tile)
    got = tile_cores(windows, h, w)
    assert got.tolist() == cores
    inside = (got[:, :2] >= windows[:, :2]).all() and (got[:, 2:] <= windows[:, 2:]).all()
    area = ((got[:, 2:] - got[:, :2]).prod(1)).sum()
    assert inside and area == h * w  # within its window, and together the image, once


# a box in the window (100, 100, 740, 740) of a 1000x1000 image
@pytest.mark.parametrize("box, kept", [
    ((300, 300, 330, 340), True),    # inside
    ((100, 300, 130, 340), False),   # on the left edge, shared with a tile to the left
    ((300, 720, 330, 739), False),   # within 2 px of the bottom edge, shared below
    ((104, 300, 130, 340), True),    # 4 px off the left edge: whole
])
def test_uncut_drops_boxes_on_shared_edges(box: tuple, kept: bool) -> None:
    xyxy = np.array([box], np.float32)
    assert uncut(xyxy, np.array([100, 100, 740, 740]), 1000, 1000).tolist() == [kept]


def test_uncut_keeps_boxes_on_the_image_border() -> None:
    # the window is the image's top-left tile: its top and left edges are the image's own
    xyxy = np.array([[0, 0, 30, 40], [610, 0, 640, 40]], np.float32)
    assert uncut(xyxy, np.array([0, 0, 640, 640]), 1000, 1000).tolist() == [True, False]


def dets(*rows: tuple[float, float, float, float, int, float]) -> Detections:
    if not rows:
        return Detections.empty()
    a = np.array(rows, np.float32)
    return Detections(a[:, :4], a[:, 5], a[:, 4].astype(int))


WINDOWS = np.array([[0, 0, 640, 640], [480, 0, 1120, 640]])  # a 1120x640 image, 160 px shared


# boxes (x1, y1, x2, y2, class, score) in image pixels
@pytest.mark.parametrize("whole, left, right, expected", [
    # a digit across the left tile's right edge: cut there, whole in the right tile
    ([], [(620, 10, 640, 40, 3, .9)], [(620, 10, 650, 40, 3, .8)], [(620, 3)]),
    # a digit in the overlap, whole in both tiles: one box (NMS)
    ([], [(500, 10, 530, 40, 5, .9)], [(501, 10, 530, 40, 5, .8)], [(500, 5)]),
    # a small digit the whole pass saw too: the tile's box, not the whole pass's
    ([(98, 8, 132, 44, 1, .95)], [(100, 10, 130, 40, 7, .9)], [], [(100, 7)]),
    # a digit bigger than the overlap, cut in every tile: the whole pass's box
    ([(300, 10, 800, 600, 8, .7)], [(300, 10, 640, 600, 0, .9)], [(480, 10, 800, 600, 3, .9)],
     [(300, 8)]),
    # a digit across the left tile's edge, its piece boxed short of the edge and misread: the
    # piece is centred past the cores' cut (560), in the right tile's core: dropped
    ([], [(600, 10, 636, 40, 1, .9)], [(600, 10, 660, 40, 7, .8)], [(600, 7)]),
    # nothing anywhere
    ([], [], [], []),
])
def test_merge_tiles(whole: list, left: list, right: list, expected: list) -> None:
    merged = merge_tiles(dets(*whole), [dets(*left), dets(*right)], WINDOWS, 640, 1120, 0.45)
    got = sorted((int(b[0]), int(c)) for b, c in zip(merged.xyxy, merged.class_id, strict=True))
    assert got == expected


# whole_px 50: a digit 50 px or more is read well by the whole pass
@pytest.mark.parametrize("whole, left, expected", [
    # 70 px tall, in both passes: the whole pass's box (the tile misread it)
    ([(100, 10, 140, 80, 3, .6)], [(100, 10, 140, 80, 8, .9)], [(100, 3)]),
    # 30 px tall, in both passes: the tile's box, as without whole_px
    ([(100, 10, 120, 40, 3, .6)], [(100, 10, 120, 40, 8, .9)], [(100, 8)]),
    # 70 px tall, found by the tile only: kept
    ([], [(100, 10, 140, 80, 8, .9)], [(100, 8)]),
    # 70 px tall, the whole pass's box elsewhere: both kept
    ([(300, 10, 340, 80, 3, .6)], [(100, 10, 140, 80, 8, .9)], [(100, 8), (300, 3)]),
])
def test_merge_tiles_takes_well_read_digits_from_the_whole_pass(whole: list, left: list,
                                                                expected: list) -> None:
    merged = merge_tiles(dets(*whole), [dets(*left), dets()], WINDOWS, 640, 1120, 0.45,
                         whole_px=50)
    got = sorted((int(b[0]), int(c)) for b, c in zip(merged.xyxy, merged.class_id, strict=True))
    assert got == expected


# tile boxes (x1, y1, x2, y2, class, score) against the box (0, 0, 300, 300)
@pytest.mark.parametrize("rows, count", [
    ([(10, 10, 40, 50, 1, .9), (60, 10, 90, 50, 2, .9), (110, 10, 140, 50, 3, .9)], 3),  # a patch of digits
    ([(10, 10, 40, 50, 1, .05)], 0),     # too faint to count
    ([(10, 10, 100, 200, 1, .9)], 0),    # over half its height: a piece of a big digit
    ([(310, 10, 340, 50, 1, .9)], 0),    # centred outside it
    ([], 0),                             # nothing
])
def test_crowd(rows: list, count: int) -> None:
    assert crowd(np.array([[0, 0, 300, 300]], np.float32), dets(*rows)).tolist() == [count]


@pytest.mark.parametrize("digits, kept_whole", [
    (3, False),  # a whole-pass box over three small tile digits: a patch of writing, dropped
    (2, True),   # over two (a big digit and two pieces of it, say): kept
])
def test_merge_tiles_drops_whole_boxes_over_writing(digits: int, kept_whole: bool) -> None:
    small = [(20 + 40 * k, 20, 50 + 40 * k, 60, k, .9) for k in range(digits)]
    merged = merge_tiles(dets((10, 10, 300, 300, 8, .95)), [dets(*small), dets()], WINDOWS, 640,
                         1120, 0.45, whole_px=50)
    assert len(merged) == digits + kept_whole
    assert (8 in merged.class_id.tolist()) is kept_whole


def test_merge_tiles_needs_one_detections_per_window() -> None:
    with pytest.raises(ValueError, match="1 tiles' detections"):
        merge_tiles(Detections.empty(), [Detections.empty()], WINDOWS, 640, 1120, 0.45)


class InkFinder:
    """A backend that boxes each dark blob of its input as a '3' (score 0.9): what a perfect
    detector would do, at any scale, so tiling is all that changes what is found."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.calls = 0

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        self.calls += 1
        ink = (blob[0, 0] < 0.3).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(ink)
        out = np.zeros((1, 14, n - 1), np.float32)
        for k in range(1, n):
            x, y, w, h = stats[k, :4]
            out[0, :4, k - 1] = [x + w / 2, y + h / 2, w, h]
            out[0, 4 + 3, k - 1] = 0.9
        return out


# dark rectangles (x, y, w, h) on a white 1600x1200 page
INK = [(100, 100, 24, 36),   # in the first tile only
       (630, 300, 24, 36),   # across the first column of tiles' right edge
       (500, 560, 24, 36),   # in the overlap of four tiles
       (1570, 1160, 24, 36),  # in the bottom-right corner
       (700, 400, 400, 500)]  # bigger than the overlap: cut in every tile


def specked(h: int, w: int) -> np.ndarray:
    """A white page with light gray 6x6 specks every 100 px: something in every tile for
    :func:`inked`, nothing for :class:`InkFinder` (too light), so every tile is read."""
    img = np.full((h, w, 3), 255, np.uint8)
    for y in range(50, h, 100):
        for x in range(50, w, 100):
            img[y:y + 6, x:x + 6] = 200
    return img


@pytest.fixture
def page() -> np.ndarray:
    img = specked(1200, 1600)
    for x, y, w, h in INK:
        img[y:y + h, x:x + w] = 0
    return img


@pytest.mark.parametrize("tile, passes", [
    (640, 1 + 3 * 3),  # the whole page and 9 tiles (3 across, 3 down)
    (2000, 1),         # a tile bigger than the page: read whole, once
])
def test_tiled_detector_finds_each_digit_once(tmp_path: Path, page: np.ndarray, tile: int,
                                             passes: int) -> None:
    det = DigitDetector(make_onnx(tmp_path / "m.onnx", yolo_output([])), imgsz=320, tile=tile)
    det.backend = spy = InkFinder(det.backend.info)
    found = det.predict(page).detections
    assert spy.calls == passes
    assert len(found) == len(INK)
    want = np.array([(x, y, x + w, y + h) for x, y, w, h in INK], np.float32)
    got = found.xyxy[np.argsort(found.xyxy[:, 0] * 10000 + found.xyxy[:, 1])]
    want = want[np.argsort(want[:, 0] * 10000 + want[:, 1])]
    # tiles are read at 320 px (a half of 640): a box is off by the resize's rounding at most
    tol = 2 * (tile / 320 if tile < 1600 else 1600 / 320)
    assert np.abs(got - want).max() <= tol


TILE_ERROR = "tile must be auto, 0 \\(read whole\\) or at least 64 pixels, got "


@pytest.mark.parametrize("tile, error", [
    (32, True),        # too small to hold a digit in its overlap
    (-5, True),        # negative
    ("big", True),     # a word other than auto
    (0, False),        # 0: read whole, as None
    (64, False),       # the smallest tile
    ("auto", False),   # tiles when the whole read shows small digits
])
def test_tile_is_checked(tmp_path: Path, tile: Any, error: bool) -> None:  # bad ones too
    weights = make_onnx(tmp_path / "m.onnx", yolo_output([]))
    if error:
        with pytest.raises(UserError, match=TILE_ERROR + str(tile)):
            DigitDetector(weights, tile=tile)
    else:
        assert DigitDetector(weights, tile=tile).tile == tile


@pytest.mark.parametrize("text, value", [
    ("auto", "auto"),  # the default
    ("AUTO", "auto"),  # any case
    ("640", 640),      # a side in pixels
    ("0", 0),          # read whole
])
def test_parse_tile(text: str, value: int | str) -> None:
    assert parse_tile(text) == value


@pytest.mark.parametrize("text, shown", [
    ("8", "8"),          # too small
    ("-1", "-1"),        # negative
    ("big", "'big'"),    # not a number, quoted as given
    ("6.5", "'6.5'"),    # not a whole number
])
def test_parse_tile_refuses(text: str, shown: str) -> None:
    with pytest.raises(UserError, match=TILE_ERROR + shown):
        parse_tile(text)


@pytest.mark.parametrize("imgsz, side", [
    (480, 640),   # the shipped model: a tile is shrunk as a 640x480 training scene
    (320, 426),   # another size, the same ratio
    (640, 853),
])
def test_auto_tile(imgsz: int, side: int) -> None:
    assert auto_tile(imgsz) == side


# auto at imgsz 320 on the 1600x1200 page: tiles of 426 px, 5 across and 4 down
AUTO_PASSES = 1 + 5 * 4


@pytest.mark.parametrize("ink, size, passes", [
    (INK, (1200, 1600), AUTO_PASSES),         # 36-px digits are 7 model px: read in tiles too
    (INK[-1:], (1200, 1600), 1),              # only a digit 100 model px tall: whole is enough
    ([], (1200, 1600), AUTO_PASSES),          # nothing boxed in an image over 4x 320 px: tiles
    ([], (1000, 1280), 1),                    # ... in one of 3-4x (a 1080p frame at 480): whole
    ([(100, 100, 24, 36)], (900, 900), 1),    # under 3 times 320: never tiled
])
def test_auto_tiles_only_big_images_with_small_digits(tmp_path: Path, ink: list, size: tuple,
                                                      passes: int) -> None:
    img = specked(*size)
    for x, y, w, h in ink:
        img[y:y + h, x:x + w] = 0
    det = DigitDetector(make_onnx(tmp_path / "m.onnx", yolo_output([])), imgsz=320)
    assert det.tile == "auto"  # the default
    det.backend = spy = InkFinder(det.backend.info)
    pred = det.predict(img)
    assert len(pred.detections) == len(ink)  # and no box where there is no ink
    assert spy.calls == passes
    assert pred.tiles == passes - 1  # the tiles read besides the whole image


@pytest.mark.parametrize("init, call, passes", [
    (None, None, 1),       # None: read whole
    ("auto", None, AUTO_PASSES),  # the default: this page's digits are small
    ("auto", 0, 1),        # ... turned off for this call
    (0, "auto", AUTO_PASSES),     # ... or on
    (None, 640, 1 + 9),    # tiles asked for this call only
    (640, None, 1 + 9),    # the detector's own tile side
    (640, 0, 1),           # ... turned off for this call
    (640, 2000, 1),        # ... a tile bigger than the image: whole
])
def test_tile_per_call(tmp_path: Path, page: np.ndarray, init: Tile, call: Tile,
                       passes: int) -> None:
    det = DigitDetector(make_onnx(tmp_path / "m.onnx", yolo_output([])), imgsz=320, tile=init)
    det.backend = spy = InkFinder(det.backend.info)
    assert len(det.predict(page, tile=call).detections) == len(INK)
    assert spy.calls == passes


def test_tile_per_call_is_checked(tmp_path: Path, page: np.ndarray) -> None:
    det = DigitDetector(make_onnx(tmp_path / "m.onnx", yolo_output([])))
    with pytest.raises(UserError, match=TILE_ERROR + "10"):
        det.predict(page, tile=10)


def test_tiles_with_augment_add_the_zoomed_pass(tmp_path: Path, page: np.ndarray) -> None:
    det = DigitDetector(make_onnx(tmp_path / "m.onnx", yolo_output([])), imgsz=320, tile=640,
                        augment=True)
    det.backend = spy = InkFinder(det.backend.info)
    assert len(det.predict(page).detections) == len(INK)
    assert spy.calls == 1 + 9 + 1  # whole, tiles, and the zoomed-out whole


@pytest.mark.parametrize("h, w, heights, expected", [
    (480, 640, [5.0], False),          # a frame: never, however small its digits
    (3508, 2480, [30.0], True),        # a scan with 30-px digits: 4 px at 480
    (3508, 2480, [100.0, 30.0], True),  # ... any such box
    (3508, 2480, [100.0], False),      # 100-px digits: 14 px at 480, read whole
    (3508, 2480, [], True),            # a page where nothing was found: a few small numbers
    (1080, 1920, [], False),           # ... but a 1080p frame (4 times 480) with nothing in it
    (1920, 2560, [48.0], False),       # a frame enlarged 4 times: its smallest digits 9 px
    (1400, 1000, [], False),           # under 3 times 480 px
])
def test_small_in_big(h: int, w: int, heights: list[float], expected: bool) -> None:
    xyxy = np.array([[0, 0, 20, v] for v in heights], np.float32).reshape(-1, 4)
    assert small_in_big(xyxy, h, w, 480) is expected


def marked(h: int, w: int, marks: list[tuple[int, int, int, int, int]], paper: int = 255,
           ) -> np.ndarray:
    """An ``h x w`` page of gray ``paper`` with rectangles (x, y, w, h, gray) on it."""
    img = np.full((h, w, 3), paper, np.uint8)
    for x, y, mw, mh, gray in marks:
        img[y:y + mh, x:x + mw] = gray
    return img


# a 1280x1280 page in four 640-px tiles (no overlap asked), seen at half scale
QUARTERS = np.array([[0, 0, 640, 640], [640, 0, 1280, 640], [0, 640, 640, 1280],
                     [640, 640, 1280, 1280]])


@pytest.mark.parametrize("img, expected", [
    # blank white paper: nothing anywhere
    (marked(1280, 1280, []), [False] * 4),
    # a small dark digit-like mark in the first tile
    (marked(1280, 1280, [(100, 100, 8, 30, 0)]), [True, False, False, False]),
    # ... across the middle: every tile that holds a part of it
    (marked(1280, 1280, [(630, 630, 20, 20, 0)]), [True] * 4),
    # chalk on a blackboard: a light mark on dark paper
    (marked(1280, 1280, [(900, 900, 8, 30, 220)], paper=40), [False, False, False, True]),
    # a faint mark, 20 gray levels under the paper: still something
    (marked(1280, 1280, [(900, 100, 8, 30, 235)]), [False, True, False, False]),
    # ... 10 levels: paper grain, not ink
    (marked(1280, 1280, [(900, 100, 8, 30, 245)]), [False] * 4),
    # a smooth light gradient across the page (a shadow): no ink
    (np.repeat(np.linspace(120, 250, 1280).astype(np.uint8)[None, :, None], 1280, 0).repeat(3, 2),
     [False] * 4),
    # a dark block far wider than a stroke: its inside and its straight sides are not ink
    # (a big shape is the whole pass's to read)
    (marked(1280, 1280, [(200, 200, 1000, 1000, 0)]), [False] * 4),
    # ... but a stroke's width of paper left between two blocks stands out (left tiles)
    (marked(1280, 1280, [(0, 0, 600, 1280, 0), (610, 0, 670, 1280, 0)]), [True, False, True, False]),
])
def test_inked(img: np.ndarray, expected: list[bool]) -> None:
    assert inked(img, QUARTERS, 0.5).tolist() == expected


def test_inked_at_full_scale() -> None:  # a scale over 1 (a tile smaller than the model) is 1
    img = marked(1280, 1280, [(1000, 1000, 3, 10, 0)])  # a 3-px stroke, 1.5 px at half scale
    assert inked(img, QUARTERS, 2.0).tolist() == [False, False, False, True]


@pytest.mark.parametrize("marks, passes", [
    ([], 1),                             # a blank page: the whole pass only, no tile
    ([(100, 100, 24, 36, 0)], 1 + 1),    # one digit in one tile's corner: that tile
    ([(500, 560, 24, 36, 0)], 1 + 6),    # one where six tiles overlap (2 across, 3 down)
    ([(100, 100, 24, 36, 0), (1500, 1100, 24, 36, 0)], 1 + 2),  # two far apart
])
def test_blank_tiles_are_not_read(tmp_path: Path, marks: list, passes: int) -> None:
    det = DigitDetector(make_onnx(tmp_path / "m.onnx", yolo_output([])), imgsz=320, tile=640)
    det.backend = spy = InkFinder(det.backend.info)
    pred = det.predict(marked(1200, 1600, marks))
    assert spy.calls == passes
    assert pred.tiles == passes - 1  # the tiles read, not the tiles the page was cut into
    assert len(pred.detections) == len(marks)
