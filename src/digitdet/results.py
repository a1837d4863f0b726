"""Detection results: a validated dataclass of NumPy arrays, in the spirit of supervision."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Digits found in one image.

    ``xyxy (N, 4) float32`` boxes in original-image pixels, ``confidence (N,) float32``,
    ``class_id (N,) int64`` (the digit). Shapes are checked on construction.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray

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
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        """All detections of ``parts`` in one, in order."""
        if not parts:
            return cls.empty()
        return cls(np.concatenate([d.xyxy for d in parts]), np.concatenate([d.confidence for d in parts]),
                   np.concatenate([d.class_id for d in parts]))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int] | int) -> Detections:
        """Select by boolean mask, index array, slice or a single index."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])


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
    tiles: int = 0  # tiles read besides the whole image (digitdet.tiles); 0: read whole
