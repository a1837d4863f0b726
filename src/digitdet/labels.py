"""YOLO label files: ``cls cx cy w h [conf]`` per line, normalised to the image size; and the
labelled scenes of a synthesized split."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from digitdet.errors import UserError


def yolo_lines(xyxy: np.ndarray, class_id: np.ndarray, width: int, height: int,
               confidence: np.ndarray | None = None) -> list[str]:
    """Format ``(N, 4)`` pixel boxes and ``(N,)`` classes (and confidences) as label lines."""
    w, h = max(width, 1), max(height, 1)
    lines = []
    for k, ((x1, y1, x2, y2), c) in enumerate(zip(np.asarray(xyxy, np.float64), class_id,
                                                 strict=True)):
        line = (f"{int(c)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
        lines.append(line if confidence is None else f"{line} {float(confidence[k]):.4f}")
    return lines


def read_yolo_labels(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A label file -> ``xyxy (M, 4) float32`` pixels and ``class_id (M,) int64``."""
    if not path.is_file() or not path.read_text().strip():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    rows = np.loadtxt(path, ndmin=2)
    cx, cy = rows[:, 1] * width, rows[:, 2] * height
    bw, bh = rows[:, 3] * width, rows[:, 4] * height
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32)
    return xyxy, rows[:, 0].astype(np.int64)


def split_records(root: Path, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The first ``limit`` (all if None) records of a synthesized split's ``numbers.jsonl``
    (``image``, ``width``, ``height``, ``numbers``)."""
    jsonl = root / split / "numbers.jsonl"
    if not jsonl.is_file():
        raise UserError(f"{jsonl} not found: synthesize scenes first (make data)")
    return [json.loads(x) for x in jsonl.read_text().splitlines()[:limit]]


def read_scenes(root: Path, split: str, records: list[dict[str, Any]],
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each record's image ``(H, W, 3) uint8`` BGR with its labels: ``xyxy (M, 4) float32``
    pixels and ``class_id (M,) int64``."""
    for rec in records:
        img = cv2.imread(str(root / rec["image"]))
        if img is None:
            raise UserError(f"cannot read {root / rec['image']}")
        label = root / "labels" / split / (Path(rec["image"]).stem + ".txt")
        yield (img, *read_yolo_labels(label, rec["width"], rec["height"]))
