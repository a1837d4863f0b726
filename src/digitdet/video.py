"""Video writing as a context manager: mp4 at the source fps, flushed on exit (Ctrl-C too)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from digitdet.sources import safe_fps


class VideoWriter:
    """Write ``uint8 (H, W, 3)`` BGR frames to an ``.mp4``; the size is taken from the first
    frame. Raises ``OSError`` when the writer cannot be opened; always releases on exit so the
    frames written so far form a playable file."""

    def __init__(self, path: str | Path, fps: float, fourcc: str = "mp4v") -> None:
        self.path = Path(path)
        self.fps = safe_fps(fps)
        self.fourcc = fourcc
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*self.fourcc),
                                           self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise OSError(f"cannot open video writer for {self.path}")
            self._size = (w, h)
        if (w, h) != self._size:
            frame = cv2.resize(frame, self._size)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
