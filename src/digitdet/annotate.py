"""Pure annotators: take an image and results, return a new annotated image."""

from __future__ import annotations

import cv2
import numpy as np

from digitdet.results import Detections, Number

PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
           (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0)]
NUMBER_COLOR = (255, 0, 200)


DIGIT_SHARE = 0.06  # automatic line width: at most this share of the boxes' median height
MIN_CAPPED = 2  # ... but the cap never goes below ultralytics' width for a 640x480 frame


def line_width(shape: tuple[int, ...], heights: np.ndarray, line_thickness: int | None = None) -> int:
    """Line width in px: ``line_thickness`` when given, else ultralytics' rule (0.3 % of the
    image's mean side) capped at :data:`DIGIT_SHARE` of the median of ``heights (N,)``, the
    boxes' heights (at least :data:`MIN_CAPPED`), so the labels of small digits on a big page
    (a scan) do not hide them; frames up to about 800 px are drawn as ultralytics draws them."""
    if line_thickness:
        return line_thickness
    t = round(sum(shape[:2]) / 2 * 0.003)
    if len(heights):
        t = min(t, max(MIN_CAPPED, round(float(np.median(heights)) * DIGIT_SHARE)))
    return max(1, t)


def _scale(img: np.ndarray, line_thickness: int | None, boxes: np.ndarray) -> tuple[int, float]:
    t = line_width(img.shape, boxes[:, 3] - boxes[:, 1], line_thickness)
    return t, max(0.35, t / 3)


def draw_detections(image: np.ndarray, det: Detections, line_thickness: int | None = None,
                    hide_labels: bool = False, hide_conf: bool = False) -> np.ndarray:
    """Boxes with 'digit conf' labels on a copy of ``image (H, W, 3) uint8``."""
    out = image.copy()
    t, fs = _scale(out, line_thickness, det.xyxy)
    for (x1, y1, x2, y2), c, k in zip(det.xyxy.round().astype(int), det.confidence, det.class_id,
                                      strict=True):
        col = PALETTE[int(k) % len(PALETTE)]
        cv2.rectangle(out, (x1, y1), (x2, y2), col, t, cv2.LINE_AA)
        if hide_labels:
            continue
        label = str(int(k)) if hide_conf else f"{int(k)} {c:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, fs, max(1, t - 1))
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + base + 2), col, -1)
        cv2.putText(out, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, fs,
                    (255, 255, 255), max(1, t - 1), cv2.LINE_AA)
    return out


def draw_numbers(image: np.ndarray, numbers: list[Number], line_thickness: int | None = None,
                 ) -> np.ndarray:
    """Each number's text under its digits (magenta), on a copy of ``image``."""
    out = image.copy()
    t, fs = _scale(out, line_thickness, np.array([n.box for n in numbers], np.float32).reshape(-1, 4))
    fs *= 1.3
    for num in numbers:
        x1, _, _, y2 = (int(round(v)) for v in num.box)
        (tw, th), base = cv2.getTextSize(num.text, cv2.FONT_HERSHEY_SIMPLEX, fs, t)
        y = min(out.shape[0] - base - 1, y2 + th + 4)
        cv2.rectangle(out, (x1, y - th - 2), (x1 + tw + 2, y + base), (255, 255, 255), -1)
        cv2.putText(out, num.text, (x1 + 1, y), cv2.FONT_HERSHEY_SIMPLEX, fs, NUMBER_COLOR, t,
                    cv2.LINE_AA)
    return out


def draw_fps(image: np.ndarray, fps: float) -> np.ndarray:
    """An 'FPS n' tag in the top-left corner, on a copy."""
    out = image.copy()
    cv2.putText(out, f"FPS {fps:.1f}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3,
                cv2.LINE_AA)
    cv2.putText(out, f"FPS {fps:.1f}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 1,
                cv2.LINE_AA)
    return out
