"""Decode YOLOv5u raw output into boxes, scores and classes, with class-wise NMS.

The ``ultralytics`` package's YOLOv5 is the anchor-free "u" variant, whose exported output is

    # YOLOv5u ONNX output: (1, 4+nc, N) float32 — rows 0-3 are cx, cy, w, h in letterboxed
    # input pixels, rows 4.. are per-class scores already passed through a sigmoid;
    # N = sum over strides 8, 16, 32 of (H/s)*(W/s) anchor points.

NMS follows ultralytics' ``non_max_suppression`` (single label per box, class-wise by offsetting
boxes per class, torchvision IoU without +1), so results match ``YOLO(...).predict``.
"""

from __future__ import annotations

import numpy as np

MAX_NMS = 30000  # most candidate boxes fed to NMS, as in ultralytics
MAX_WH = 7680.0  # class offset for class-wise NMS, as in ultralytics

# The detectors' default confidence (detect, serve, val, the Python API and the web pad).
DEFAULT_CONF = 0.25


def xywh2xyxy(xywh: np.ndarray) -> np.ndarray:
    """``(N, 4)`` centre-size boxes to corner boxes."""
    out = np.empty_like(xywh)
    half = xywh[:, 2:4] / 2
    out[:, :2] = xywh[:, :2] - half
    out[:, 2:] = xywh[:, :2] + half
    return out


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas ``(M,)`` of ``(M, 4)`` xyxy boxes."""
    return (boxes[:, 2:] - boxes[:, :2]).prod(1)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas ``(M, N)`` between ``(M, 4)`` and ``(N, 4)`` xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.clip(rb - lt, 0, None).prod(2)


def iou_from_parts(inter: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    """IoU ``(M, N)`` from intersections ``(M, N)`` and the areas ``(M,)``, ``(N,)`` of each side."""
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(M, N)`` between ``(M, 4)`` and ``(N, 4)`` xyxy boxes."""
    return iou_from_parts(box_intersection(a, b), box_area(a), box_area(b))


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS: indices ``(K,) int64`` of kept boxes, by descending score."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (np.ascontiguousarray(c) for c in boxes[order].T)
    area = (x2 - x1) * (y2 - y1)
    alive = np.ones(len(order), bool)
    keep = []
    for i in range(len(order)):  # each kept box suppresses the lower-scored ones it overlaps
        if not alive[i]:
            continue
        keep.append(i)
        rest = slice(i + 1, None)
        inter = (np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
                 * np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0))
        alive[rest] &= inter / np.maximum(area[i] + area[rest] - inter, 1e-9) <= iou_thres
    return order[np.asarray(keep, np.int64)]


def nms_by_class(boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, iou_thres: float,
                 agnostic: bool = False) -> np.ndarray:
    """NMS within each class (boxes offset by class, as ultralytics), or across classes if
    ``agnostic``: indices ``(K,) int64`` of kept boxes, by descending score."""
    offset = 0.0 if agnostic else MAX_WH
    return nms(boxes + (cls[:, None] * offset).astype(np.float32), scores, iou_thres)


def decode(output: np.ndarray, conf_thres: float = DEFAULT_CONF, iou_thres: float = 0.45,
           max_det: int = 300, classes: list[int] | None = None, agnostic: bool = False,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's ``(4+nc, N)`` (or ``(1, 4+nc, N)``) output.

    ``agnostic``: NMS across classes (a '7' box inside a '9' box is suppressed), as ultralytics'
    ``agnostic_nms``; otherwise boxes only suppress boxes of their own class.

    Returns ``xyxy (K, 4) float32`` in letterboxed pixels, ``conf (K,) float32`` and
    ``cls (K,) int64``, sorted by confidence, at most ``max_det``.
    """
    pred = output[0] if output.ndim == 3 else output
    if pred.ndim != 2 or pred.shape[0] < 5:
        raise ValueError(f"expected YOLOv5u output (1, 4+nc, N), got {output.shape}")
    scores_all = pred[4:]
    conf = scores_all.max(0)  # the best class's score; its id only for boxes above conf_thres
    keep = np.flatnonzero(conf > conf_thres)
    cls = scores_all[:, keep].argmax(0)
    if classes is not None:
        mask = np.isin(cls, classes)
        keep, cls = keep[mask], cls[mask]
    if not keep.size:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    boxes = xywh2xyxy(pred[:4, keep].T.astype(np.float32))
    conf, cls = conf[keep].astype(np.float32), cls.astype(np.int64)
    if len(conf) > MAX_NMS:
        top = np.argsort(-conf, kind="stable")[:MAX_NMS]
        boxes, conf, cls = boxes[top], conf[top], cls[top]
    idx = nms_by_class(boxes, conf, cls, iou_thres, agnostic)[:max_det]
    return boxes[idx], conf[idx], cls[idx]
