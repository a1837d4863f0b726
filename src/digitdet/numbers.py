"""Read multi-digit numbers from digit detections.

Digits are linked to their right-hand neighbour when the two overlap vertically (same row, which
tolerates slanted lines) and the horizontal gap is under ``gap`` x digit height; chains of links
are numbers. Two such numbers in a row are one when their digits keep one regular pitch across
the gap between them (a comb field: one printed box per digit, where a narrow 1 centred in its
box leaves a wide gap on each side; :func:`join_pitch`). Boxes on the same digit (another class,
the same class shifted, or a piece of it) are read once, the most confident one. Numbers are
grouped into lines the same way with a wide gap, and returned in reading order: lines top to
bottom, numbers left to right.
"""

from __future__ import annotations

import numpy as np

from digitdet.decode import box_area, box_intersection, iou_from_parts
from digitdet.results import Detections, Number

SPLIT_GAP = 0.5  # gap / digit height above which two digits belong to different numbers
ROW_OVERLAP = 0.5  # vertical overlap / smaller height needed to share a row
LINE_GAP = 12.0  # gap / height under which two numbers share a line of text
DUPLICATE_IOU = 0.7  # boxes of different classes on the same digit: keep the most confident
# two boxes of the same class overlapping this much are one digit boxed twice, shifted (on the
# seed-3 val scenes such pairs overlap by IoU 0.23-0.42, two neighbouring equal digits mostly
# under 0.18; docs/training-log.md, "Covered digits unlabeled, a digit boxed twice read once")
SAME_CLASS_IOU = 0.2
# share of a box inside a more confident one above which it is a piece of that digit; a slanted
# 1 boxed to its ink lies up to ~0.7 inside its neighbour's (0.6 dropped three 1s of the italic
# dkg font once the refiner tightened the boxes; docs/training-log.md, "Box refiner")
CONTAINED = 0.7
# comb fields: two numbers in a row whose digits' centres keep one pitch, within PITCH_TOL of it,
# across a gap of at most PITCH_GAP heights are one number. Written numbers are 0.9 or more
# heights apart (the synthesizer's) and their digits' pitch is irregular: on the test split the
# rules below read one number more, on `stickset --comb`'s pages 93.8 % instead of 50.4 %
# (docs/training-log.md, "Comb fields")
PITCH_TOL = 0.2
PITCH_GAP = 0.8
# ... and four digits or more whose centres keep the pitch within PITCH_TOL_LONG across a gap of at
# most PITCH_GAP_LONG (two 1s side by side in a comb are about 1.05 heights apart)
PITCH_GAP_LONG = 1.2
PITCH_TOL_LONG = 0.15


def row_geometry(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For xyxy boxes ``a (M, 4)`` and ``b (N, 4)``: ``overlap (M, N)``, their vertical overlap
    over the smaller height (>= ``ROW_OVERLAP``: the same row), and ``gap (M, N)``, from ``a``'s
    right edge to ``b``'s left edge over the taller height (below 0 where they overlap)."""
    ha, hb = (a[:, 3] - a[:, 1])[:, None], (b[:, 3] - b[:, 1])[None]
    overlap = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
               ) / np.maximum(np.minimum(ha, hb), 1e-6)
    gap = (b[None, :, 0] - a[:, None, 2]) / np.maximum(np.maximum(ha, hb), 1e-6)
    return overlap, gap


def _chains(boxes: np.ndarray, max_gap: float) -> list[list[int]]:
    """Link each box to its nearest right neighbour in the same row within ``max_gap`` heights
    (each box keeps at most one left neighbour: the closest); return chains, left to right."""
    n = len(boxes)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    overlap, gap = row_geometry(boxes, boxes)
    valid = (cx[None] > cx[:, None]) & (overlap >= ROW_OVERLAP) & (gap <= max_gap)
    gap = np.where(valid, gap, np.inf)
    right = gap.argmin(1)  # best right neighbour of each box
    has = np.isfinite(gap[np.arange(n), right])
    left = np.full(n, -1)
    best_gap = np.full(n, np.inf)
    for i in np.flatnonzero(has):  # one left neighbour per box: the closest claimant wins
        j = right[i]
        if gap[i, j] < best_gap[j]:
            best_gap[j], left[j] = gap[i, j], i
    nxt = np.full(n, -1)
    nxt[left[left >= 0]] = np.flatnonzero(left >= 0)
    chains = []
    for s in np.flatnonzero(left < 0):
        chain = [int(s)]
        while nxt[chain[-1]] >= 0:
            chain.append(int(nxt[chain[-1]]))
        chains.append(chain)
    return chains


def dedupe(det: Detections) -> np.ndarray:
    """Indices ``(K,) int64`` of detections to read: a box is dropped when a more confident one
    overlaps it by IoU >= ``DUPLICATE_IOU`` (another class on the same digit), by IoU >=
    ``SAME_CLASS_IOU`` with the same class (the digit boxed twice), or holds at least
    ``CONTAINED`` of its area (a piece of that digit, e.g. the top of a 2 read as a 7)."""
    inter = box_intersection(det.xyxy, det.xyxy)  # (N, N)
    area = box_area(det.xyxy)
    iou = iou_from_parts(inter, area, area)
    inside = inter / np.maximum(area[:, None], 1e-9)  # [i, j]: share of box i inside box j
    same = det.class_id[:, None] == det.class_id[None]
    clash = (iou >= DUPLICATE_IOU) | (same & (iou >= SAME_CLASS_IOU)) | (inside >= CONTAINED)
    np.fill_diagonal(clash, False)
    if not clash.any():
        return np.arange(len(det))
    kept: list[int] = []
    for i in np.argsort(-det.confidence, kind="stable"):
        if not clash[i, kept].any():
            kept.append(int(i))
    return np.asarray(sorted(kept), np.int64)


def join_pitch(boxes: np.ndarray, chains: list[list[int]], max_gap: float = PITCH_GAP,
               tol: float = PITCH_TOL) -> list[list[int]]:
    """Join chains of ``boxes (N, 4)`` (indices, left to right; :func:`_chains`) whose digits
    keep one pitch across the gap between them: chain A's last box and chain B's first are in a
    row (``ROW_OVERLAP``) at most ``max_gap`` heights apart, and every step between neighbouring
    centres in A, B and from A to B lies within ``tol`` of their median. Two single digits are
    judged with the chain after B too (a pitch needs two steps); four digits or more may lie
    :data:`PITCH_GAP_LONG` apart, within :data:`PITCH_TOL_LONG` (two 1s side by side in a comb).
    Returns the chains, joined, left to right."""
    chains = [list(c) for c in chains]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2

    def regular(members: list[int], t: float) -> bool:
        steps = np.diff(cx[members])
        pitch = float(np.median(steps))
        return pitch > 0 and bool((np.abs(steps - pitch) <= t * pitch).all())

    joined = True
    while joined and len(chains) > 1:
        joined = False
        last = boxes[[c[-1] for c in chains]]
        first = boxes[[c[0] for c in chains]]
        overlap, gap = row_geometry(last, first)
        gap = np.where((overlap >= ROW_OVERLAP) & (gap > 0), gap, np.inf)
        nxt = gap.argmin(1)  # each chain's nearest chain to the right in its row
        for a in range(len(chains)):
            b = int(nxt[a])
            g = float(gap[a, b])
            members = chains[a] + chains[b]
            if len(members) < 3 and gap[b, nxt[b]] <= max_gap:  # two digits: and the next one
                members = members + chains[int(nxt[b])]
            if len(members) < 3 or g > (PITCH_GAP_LONG if len(members) >= 4 else max_gap):
                continue
            if regular(members, tol if g <= max_gap else min(tol, PITCH_TOL_LONG)):
                chains[a] = chains[a] + chains[b]
                del chains[b]
                joined = True
                break
    return sorted(chains, key=lambda c: float(cx[c[0]]))


def read_numbers(det: Detections, split_gap: float = SPLIT_GAP, deduped: bool = False) -> list[Number]:
    """Group digits into numbers in reading order (see module docstring); ``deduped``: ``det``
    is already :func:`dedupe`'s choice (the pipeline's own boxes), so it is not run again."""
    if len(det) == 0:
        return []
    idx = np.arange(len(det)) if deduped else dedupe(det)
    boxes = det.xyxy[idx]
    groups = [[int(idx[k]) for k in chain] for chain in join_pitch(boxes, _chains(boxes, split_gap))]
    xy = det.xyxy.tolist()  # a few boxes: Python min/max beat numpy's per-call cost
    nbox = np.array([[min(xy[i][0] for i in g), min(xy[i][1] for i in g),
                      max(xy[i][2] for i in g), max(xy[i][3] for i in g)] for g in groups],
                    np.float32)
    lines = _chains(nbox, LINE_GAP)
    lines.sort(key=lambda line: float(np.mean(nbox[line, 1])))
    out = []
    for line in lines:
        for k in line:
            g = groups[k]
            out.append(Number(
                text="".join(str(int(det.class_id[i])) for i in g),
                box=tuple(float(v) for v in nbox[k]),  # type: ignore[arg-type]
                confidence=float(np.mean(det.confidence[g])),
                digits=tuple(g)))
    return out
