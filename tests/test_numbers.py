"""Reading numbers from digit boxes: a table of layouts."""

from __future__ import annotations

import numpy as np
import pytest

from digitdet.numbers import dedupe, read_numbers
from digitdet.results import Detections


def row(digits: str, x0: float, y0: float, h: float = 40, w: float = 24, gap: float = 6,
        slope: float = 0.0) -> list[tuple[float, float, float, float, int]]:
    """Boxes for ``digits`` written left to right from (x0, y0)."""
    out = []
    x = x0
    for ch in digits:
        y = y0 + slope * (x - x0)
        out.append((x, y, x + w, y + h, int(ch)))
        x += w + gap
    return out


def det_of(boxes: list[tuple[float, float, float, float, int]]) -> Detections:
    arr = np.array([b[:4] for b in boxes], np.float32).reshape(-1, 4)
    return Detections(arr, np.full(len(boxes), 0.9, np.float32), np.array([b[4] for b in boxes]))


CASES = [
    ("spaced digits form one number", row("2024", 10, 10), ["2024"]),
    ("touching digits (gap -3 px)", row("1234", 10, 10, gap=-3), ["1234"]),
    ("wide gap splits two numbers", row("12", 10, 10) + row("34", 10 + 2 * 30 + 40, 10),
     ["12", "34"]),
    ("two rows are two numbers, top first", row("56", 10, 100) + row("78", 10, 10), ["78", "56"]),
    ("slanted line stays one number", row("98765", 10, 10, slope=0.25), ["98765"]),
    ("single digit", row("7", 100, 100), ["7"]),
    ("empty", [], []),
    ("shuffled input order is read left to right", list(reversed(row("314", 10, 10))), ["314"]),
    ("two lines of two numbers in reading order",
     row("11", 10, 10) + row("22", 200, 12) + row("33", 10, 90) + row("44", 200, 88),
     ["11", "22", "33", "44"]),
]


def comb(digits: str, x0: float, pitch: float = 50, h: float = 40, y0: float = 10,
         shift: dict[int, float] | None = None) -> list[tuple[float, float, float, float, int]]:
    """Boxes for ``digits`` centred in the boxes of a comb field of ``pitch`` px from ``x0``: a 1
    8 px wide, other digits 30 px; ``shift`` moves digit k's centre by that share of the pitch."""
    out = []
    for k, ch in enumerate(digits):
        w = 8 if ch == "1" else 30
        cx = x0 + (k + 0.5 + (shift or {}).get(k, 0.0)) * pitch
        out.append((cx - w / 2, y0, cx + w / 2, y0 + h, int(ch)))
    return out


# a comb field's 1 (8 px in a 50-px box) leaves 29 px (0.73 of the height) on each side: over
# SPLIT_GAP, but its centre keeps the field's pitch
CASES += [
    ("comb field with a 1: one number", comb("40718356", 10), ["40718356"]),
    ("comb field, a digit off centre by a sixth of a box", comb("1507", 10, shift={2: 0.16}),
     ["1507"]),
    ("... by a third: the pitch is broken", comb("1507", 10, shift={2: 0.34}), ["1", "5", "07"]),
    # two 1s side by side leave 1.05 heights between them: over PITCH_GAP, within PITCH_GAP_LONG
    ("comb field with two 1s side by side", comb("209114", 10), ["209114"]),
    ("... in three digits: no pitch over 0.8 heights, all split", comb("114", 10), ["1", "1", "4"]),
    ("comb of three single digits (a 1 in the middle)", comb("317", 10), ["317"]),
    ("two comb fields 2 boxes apart are two numbers", comb("123", 10) + comb("456", 260),
     ["123", "456"]),
    ("comb with a 1 and only one other digit: no pitch to keep", comb("17", 10), ["1", "7"]),
    ("written numbers 0.75 h apart, irregular pitch: two numbers",
     row("18", 10, 10) + row("4", 94, 10), ["18", "4"]),
]


@pytest.mark.parametrize("name, boxes, texts", CASES, ids=[c[0] for c in CASES])
def test_read_numbers(name: str, boxes: list, texts: list[str]) -> None:
    assert [n.text for n in read_numbers(det_of(boxes))] == texts


def test_number_fields() -> None:
    boxes = row("42", 10, 20)
    det = Detections(np.array([b[:4] for b in boxes], np.float32), np.array([0.8, 0.6]),
                     np.array([4, 2]))
    (num,) = read_numbers(det)
    assert num.box == (10.0, 20.0, 64.0, 60.0)
    assert num.digits == (0, 1) and num.confidence == pytest.approx(0.7)


DUPLICATES = [  # (x1, y1, x2, y2, class, confidence) per box -> texts read
    # another class on the same digit (IoU 0.92): the more confident one is read
    ("cross-class duplicate", [(10, 10, 34, 50, 5, 0.9), (11, 10, 35, 50, 6, 0.5),
                               (40, 10, 64, 50, 1, 0.9)], ["51"]),
    # the top of a 2 read as a 7: its box lies wholly inside the 2's, IoU only 0.45
    ("less confident piece inside a digit", [(10, 10, 34, 50, 2, 0.9), (10, 10, 34, 28, 7, 0.6),
                                             (40, 10, 64, 50, 3, 0.9)], ["23"]),
    # the same piece of a 2 read as a second 2
    ("same-class piece", [(10, 10, 34, 50, 2, 0.9), (18, 30, 34, 50, 2, 0.4)], ["2"]),
    # a narrow 1 touching a 4: 40 % of the 1's box is inside the 4's, both are digits
    ("touching narrow digit is kept", [(10, 10, 34, 50, 4, 0.9), (30, 10, 40, 50, 1, 0.8)],
     ["41"]),
    # a slanted 1 before a 3: 69 % of the 1's box is inside the 3's, both are digits
    ("slanted 1 overlapping its neighbour is kept", [(114, 83, 140, 130, 1, 0.8),
                                                    (122, 83, 168, 133, 3, 0.9)], ["13"]),
    # the first 4 of 944 boxed twice, the second box shifted right by half (IoU 0.33): one 4
    ("same class boxed twice", [(10, 10, 34, 50, 9, 0.9), (40, 10, 64, 50, 4, 0.9),
                                (52, 10, 76, 50, 4, 0.4), (82, 10, 106, 50, 4, 0.9)], ["944"]),
    # two equal digits touching (IoU 0.09) are two digits
    ("touching equal digits are kept", [(10, 10, 34, 50, 3, 0.9), (30, 10, 54, 50, 3, 0.5)],
     ["33"]),
    # the same shifted box of another class is a digit of its own (IoU 0.33 < DUPLICATE_IOU)
    ("shifted box of another class is kept", [(10, 10, 34, 50, 4, 0.9), (22, 10, 46, 50, 1, 0.4)],
     ["41"]),
    # a confident piece does not remove the less confident whole box around it
    ("confident piece keeps the whole digit", [(10, 10, 34, 50, 2, 0.5), (10, 10, 34, 28, 7, 0.9)],
     ["2", "7"]),
]


@pytest.mark.parametrize("name, boxes, texts", DUPLICATES, ids=[c[0] for c in DUPLICATES])
def test_duplicates_are_read_once(name: str, boxes: list, texts: list[str]) -> None:
    b = np.array(boxes, np.float32)
    det = Detections(b[:, :4], b[:, 5], b[:, 4].astype(np.int64))
    assert sorted(n.text for n in read_numbers(det)) == texts  # nested boxes have no reading order


def _dets(rows: list[tuple[float, float, float, float, int, float]]) -> Detections:
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 5], a[:, 4].astype(np.int64))


@pytest.mark.parametrize("rows, kept", [
    # a 4 and, mostly inside it, a less confident 1 on its stem: the piece goes
    ([(10, 10, 30, 50, 4, 0.9), (22, 12, 28, 48, 1, 0.8)], [0]),
    # the piece more confident than the 4: both stay (the 4 is not inside the piece)
    ([(10, 10, 30, 50, 4, 0.6), (22, 12, 28, 48, 1, 0.8)], [0, 1]),
    # one digit boxed twice, shifted (same class, IoU 0.43): the less confident one goes
    ([(10, 10, 30, 50, 7, 0.9), (18, 10, 38, 50, 7, 0.5)], [0]),
    # two neighbours apart: both stay
    ([(10, 10, 30, 50, 7, 0.9), (34, 10, 54, 50, 7, 0.5)], [0, 1]),
    # a low box inside a dropped one does not bring anything back: only the 4 stays
    ([(10, 10, 30, 50, 4, 0.9), (12, 12, 28, 48, 9, 0.5), (14, 14, 26, 46, 1, 0.1)], [0]),
])
def test_dedupe(rows: list, kept: list[int]) -> None:
    assert dedupe(_dets(rows)).tolist() == kept


@pytest.mark.parametrize("conf", [0.05, 0.3, 0.55, 0.7])
def test_dedupe_commutes_with_a_threshold(conf: float) -> None:
    # the pipeline dedupes every box it has (val asks for boxes down to 0.001) and a user keeps
    # those above a threshold: the same boxes as deduping the ones above it
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 80, (40, 2))
    wh = rng.uniform(6, 30, (40, 2))
    rows = [(*p, *(p + s), int(c), float(q)) for p, s, c, q in
            zip(xy, wh, rng.integers(0, 10, 40), rng.uniform(0.01, 1, 40), strict=True)]
    det = _dets(rows)
    first = det[dedupe(det)]
    first = first[first.confidence >= conf]
    above = det[det.confidence >= conf]
    then = above[dedupe(above)]
    assert len(then) > 0 and np.array_equal(first.xyxy, then.xyxy)
