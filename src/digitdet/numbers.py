"""Read multi-digit numbers from digit detections.

Digits are linked to their right-hand neighbour when the two overlap vertically (same row, which
tolerates slanted lines) and the horizontal gap is under ``gap`` x digit height; chains of links
are numbers. Numbers are grouped into lines the same way with a wide gap, and returned in
reading order: lines top to bottom, numbers left to right.
"""

from __future__ import annotations

import numpy as np

from digitdet.results import Detections, Number

SPLIT_GAP = 0.5  # gap / digit height above which two digits belong to different numbers
ROW_OVERLAP = 0.5  # vertical overlap / smaller height needed to share a row
LINE_GAP = 12.0  # gap / height under which two numbers share a line of text
DUPLICATE_IOU = 0.7  # boxes of different classes on the same digit: keep the most confident


def _row_overlap(a: np.ndarray, b: np.ndarray) -> float:
    inter = min(a[3], b[3]) - max(a[1], b[1])
    return float(inter / max(min(a[3] - a[1], b[3] - b[1]), 1e-6))


def _chains(boxes: np.ndarray, max_gap: float) -> list[list[int]]:
    """Link each box to its nearest right neighbour in the same row within ``max_gap`` heights;
    return the chains, each ordered left to right."""
    n = len(boxes)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    best: dict[int, tuple[float, int]] = {}  # right index -> (gap, left index)
    for i in range(n):
        cand = None
        for j in range(n):
            if j == i or cx[j] <= cx[i] or _row_overlap(boxes[i], boxes[j]) < ROW_OVERLAP:
                continue
            h = max(boxes[i, 3] - boxes[i, 1], boxes[j, 3] - boxes[j, 1])
            gap = (boxes[j, 0] - boxes[i, 2]) / max(h, 1e-6)
            if gap <= max_gap and (cand is None or gap < cand[0]):
                cand = (gap, j)
        if cand is not None and (cand[1] not in best or cand[0] < best[cand[1]][0]):
            best[cand[1]] = (cand[0], i)
    right = {i: j for j, (_, i) in best.items()}
    starts = [i for i in range(n) if i not in best]
    chains = []
    for s in starts:
        chain = [s]
        while chain[-1] in right:
            chain.append(right[chain[-1]])
        chains.append(chain)
    return chains


def _dedupe(det: Detections) -> np.ndarray:
    """Indices of detections to read, dropping less confident overlaps of another class."""
    order = np.argsort(-det.confidence, kind="stable")
    kept: list[int] = []
    for i in order:
        if all(_iou(det.xyxy[i], det.xyxy[k]) < DUPLICATE_IOU for k in kept):
            kept.append(int(i))
    return np.asarray(sorted(kept), np.int64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def read_numbers(det: Detections, split_gap: float = SPLIT_GAP) -> list[Number]:
    """Group digits into numbers in reading order (see module docstring)."""
    if len(det) == 0:
        return []
    idx = _dedupe(det)
    boxes = det.xyxy[idx]
    groups = [[int(idx[k]) for k in chain] for chain in _chains(boxes, split_gap)]
    nbox = np.array([[det.xyxy[g, 0].min(), det.xyxy[g, 1].min(), det.xyxy[g, 2].max(),
                      det.xyxy[g, 3].max()] for g in groups], np.float32)
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
