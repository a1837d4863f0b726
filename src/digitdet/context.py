"""Digits a number vouches for: a faint box beside confident digits, read surely, is lifted.

The detector is unsure of some digits that the recognizer reads without doubt: a 1 written as
one exactly upright stroke (the scenes teach that upright lines are separators and box sides),
a faint or touching digit. Alone such a box stays under the threshold; in a number it is a digit.
:func:`lift_in_context` raises the confidence of a box to :data:`LIFT` when the recognizer gives
its digit at least :data:`P_MIN`, the detector gave it at least :data:`FLOOR`, and it sits in
the row of a box already scored :data:`ANCHOR` or more: overlapping it vertically by
``numbers.ROW_OVERLAP`` of the smaller height, of a similar height, and no farther than
``numbers.SPLIT_GAP`` heights to its side (as :mod:`digitdet.numbers` links digits), without
lying on it. A lifted box anchors the next one, so a run like ``111`` beside a confident digit
is lifted digit by digit.

The constants are fixed rather than tied to the user's threshold, so lifting is a rescoring:
thresholding after it keeps the same boxes as a run at a lower threshold thresholded later
(``python -m digitdet.val`` scores boxes down to 0.001 and thresholds them itself).
"""

from __future__ import annotations

import numpy as np

from digitdet.decode import box_area, box_intersection
from digitdet.numbers import ROW_OVERLAP, SPLIT_GAP, row_geometry

ANCHOR = 0.25  # a box scored this much (the default threshold) vouches for its row
LIFT = 0.3  # the score a vouched-for box is raised to (just over the default threshold)
# the recognizer's probability of the box's digit needed to lift it (0.7 lifted more plain 1s but
# also letters beside digits, "l" of "Tel" as 1; docs/training-log.md, "Digits a number vouches for")
P_MIN = 0.8
FLOOR = 0.005  # detector confidence under which a box is never lifted (nor read again)
HEIGHT_RATIO = 1.5  # most a lifted box's height may differ from its anchor's, either way
MAX_OVERLAP = 0.3  # most a lifted box may overlap its anchor horizontally, a share of its height
MAX_COVER = 0.3  # most of a lifted box's area that may lie inside any anchor (not a piece of it)
ROUNDS = 4  # a lifted box anchors the next: up to this many digits lifted in a run


def lift_in_context(xyxy: np.ndarray, score: np.ndarray, det_conf: np.ndarray,
                    p_digit: np.ndarray) -> np.ndarray:
    """New scores ``(N,) float32`` for boxes ``xyxy (N, 4)`` (pixels) scored ``score (N,)``
    (the detector's and recognizer's together), given the detector's own confidence
    ``det_conf (N,)`` and the recognizer's probability of the box's digit ``p_digit (N,)``:
    boxes the module docstring describes are raised to :data:`LIFT`, the rest kept."""
    n = len(xyxy)
    for name, a in (("score", score), ("det_conf", det_conf), ("p_digit", p_digit)):
        if a.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like xyxy's rows, got {a.shape}")
    out = score.astype(np.float32)
    cand = (det_conf >= FLOOR) & (p_digit >= P_MIN) & (out < LIFT)
    if not cand.any():
        return out
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-6)
    for _ in range(ROUNDS):
        a = np.flatnonzero(out >= ANCHOR)
        c = np.flatnonzero(cand)
        if not len(a) or not len(c):
            break
        inside = box_intersection(xyxy[c], xyxy[a]) / np.maximum(box_area(xyxy[c]), 1e-9)[:, None]
        c = c[inside.max(1) <= MAX_COVER]
        if not len(c):
            break
        hc, ha = h[c, None], h[None, a]
        overlap, right = row_geometry(xyxy[c], xyxy[a])  # right: gap from c's right edge to a
        gap = np.maximum(right, row_geometry(xyxy[a], xyxy[c])[1].T)  # on whichever side it is
        ok = ((overlap >= ROW_OVERLAP) & (np.maximum(hc, ha) <= HEIGHT_RATIO * np.minimum(hc, ha))
              & (gap <= SPLIT_GAP) & (gap >= -MAX_OVERLAP))
        hit = c[ok.any(1)]
        if not len(hit):
            break
        out[hit] = LIFT
        cand[hit] = False
    return out
