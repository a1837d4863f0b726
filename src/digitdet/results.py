"""Detection results: a validated dataclass of NumPy arrays, in the spirit of supervision."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Digits found in one image.

    ``xyxy (N, 4) float32`` boxes in original-image pixels, ``confidence (N,) float32``,
    ``class_id (N,) int64`` (the digit); ``detector_xyxy (N, 4) float32`` or None: the
    detector's own boxes where a box refiner redrew ``xyxy`` (:mod:`digitdet.numbers` tells a
    digit boxed twice by them). Shapes are checked on construction.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    detector_xyxy: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, np.float32)
        conf = np.asarray(self.confidence, np.float32)
        cls = np.asarray(self.class_id, np.int64)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        if conf.shape != (n,):
            raise ValueError(f"confidence must have shape ({n},), got {conf.shape}")
        if cls.shape != (n,):
            raise ValueError(f"class_id must have shape ({n},), got {cls.shape}")
        if self.detector_xyxy is not None:
            raw = np.asarray(self.detector_xyxy, np.float32)
            if raw.shape != (n, 4):
                raise ValueError(f"detector_xyxy must have shape ({n}, 4), got {raw.shape}")
            object.__setattr__(self, "detector_xyxy", raw)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """All detections of ``parts`` in one, in order (``detector_xyxy`` only when every part
        has it)."""
        if not parts:
            return cls.empty()
        raws = [d.detector_xyxy for d in parts if d.detector_xyxy is not None]
        return cls(np.concatenate([d.xyxy for d in parts]), np.concatenate([d.confidence for d in parts]),
                   np.concatenate([d.class_id for d in parts]),
                   np.concatenate(raws) if len(raws) == len(parts) else None)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int] | int) -> Detections:
        """Select by boolean mask, index array, slice or a single index."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        raw = None if self.detector_xyxy is None else self.detector_xyxy[index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], raw)


@dataclass(frozen=True)
class Number:
    """A multi-digit number read from detections: ``text``, ``box`` (x1, y1, x2, y2) in
    pixels, mean ``confidence`` of its digits and their indices ``digits`` into the Detections."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float
    digits: tuple[int, ...]


@dataclass(frozen=True)
class Prediction:
    """Everything read from one image: the digit detections, the numbers, and the image size."""

    detections: Detections
    numbers: list[Number] = field(default_factory=list)
    width: int = 0
    height: int = 0
    timing_ms: tuple[float, float, float] = (0.0, 0.0, 0.0)  # pre, inference, post
