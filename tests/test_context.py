"""Context lifting: a faint box the recognizer reads surely, beside confident digits."""

from __future__ import annotations

import numpy as np
import pytest

from digitdet.context import ANCHOR, FLOOR, LIFT, P_MIN, ROUNDS, lift_in_context

ANCHOR_BOX: list[float] = [100, 100, 120, 140]  # a confident digit 40 px tall, scored 0.9


def lift(boxes: list[list[float]], scores: list[float], det_conf: list[float],
         p: list[float]) -> list[float]:
    out = lift_in_context(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                          np.array(det_conf, np.float32), np.array(p, np.float32))
    return out.round(4).tolist()


@pytest.mark.parametrize("box, det_conf, p, lifted", [
    ([124, 102, 128, 138], 0.02, 0.95, True),    # a stroke 4 px right of the digit, sure: a 1
    ([84, 101, 96, 139], 0.02, 0.95, True),      # on its left
    ([124, 102, 128, 138], 0.02, P_MIN - 0.01, False),  # the recognizer unsure
    ([124, 102, 128, 138], FLOOR / 2, 0.95, False),     # the detector saw almost nothing
    ([124, 150, 128, 188], 0.02, 0.95, False),   # the row below, not beside it
    ([145, 102, 149, 138], 0.02, 0.95, False),   # 25 px away: over SPLIT_GAP (0.5) x 40 px
    ([123, 125, 127, 135], 0.02, 0.95, False),   # a quarter of its height: a dot, not a digit
    ([104, 102, 108, 138], 0.02, 0.95, False),   # inside the digit: a piece of it (the stem)
    ([112, 102, 128, 138], 0.02, 0.95, False),   # half over it: no more than MAX_COVER inside
])
def test_lift_one_box(box: list[float], det_conf: float, p: float, lifted: bool) -> None:
    faint = np.sqrt(det_conf * p)
    got = lift([ANCHOR_BOX, box], [0.9, faint], [0.8, det_conf], [0.99, p])
    assert got[0] == pytest.approx(0.9)                       # the anchor is kept as it was
    assert got[1] == pytest.approx(LIFT if lifted else faint, abs=1e-4)


def test_lift_runs_digit_by_digit() -> None:
    # 1 1 1 ... right of a confident digit, each 16 px from the last (0.4 of the height) and out of
    # reach of all but the last: each lifted box anchors the next, up to ROUNDS of them
    boxes = [ANCHOR_BOX] + [[124 + 20 * k, 102, 128 + 20 * k, 138] for k in range(ROUNDS + 1)]
    n = len(boxes) - 1
    got = lift(boxes, [0.9] + [0.1] * n, [0.8] + [0.02] * n, [0.99] + [0.95] * n)
    assert got == pytest.approx([0.9] + [LIFT] * ROUNDS + [0.1])


@pytest.mark.parametrize("scores, expected", [
    ([0.9, 0.5], [0.9, 0.5]),            # a box over LIFT keeps its own score
    ([ANCHOR - 0.01, 0.1], [ANCHOR - 0.01, 0.1]),  # no box confident enough to vouch
])
def test_lift_keeps(scores: list[float], expected: list[float]) -> None:
    got = lift([ANCHOR_BOX, [124, 102, 128, 138]], scores, [0.8, 0.02], [0.99, 0.95])
    assert got == pytest.approx(expected, abs=1e-4)


def test_lift_no_boxes() -> None:
    assert lift([], [], [], []) == []


def test_lift_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"p_digit must have shape \(2,\).*\(3,\)"):
        lift([ANCHOR_BOX, ANCHOR_BOX], [0.9, 0.1], [0.8, 0.02], [0.9, 0.9, 0.9])
