"""One source abstraction: ``open_source(spec)`` yields frames from anything a user points at.

``spec`` is a webcam index (``"0"``), an image, a folder, a glob (``"imgs/*.png"``), a video file,
an ``rtsp://`` / ``http(s)://`` stream, or a ``.txt`` file listing any of these. Frames are
``Frame(image, index, source, fps)``; captures are released when the generator closes. No drawing
and no preprocessing happen here. Unreadable images inside a folder are reported via
``on_skip`` and skipped. A video whose metadata says to turn it (a phone's portrait video) comes out
turned: OpenCV's FFmpeg reader does it (``CAP_PROP_ORIENTATION_AUTO``, on by default).
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from digitdet.errors import UserError
from digitdet.image import read_image_file

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jp2",
              ".heic", ".heif"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".gif"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://")


@dataclass(frozen=True)
class Frame:
    """A decoded frame: ``image (H, W, 3) uint8`` BGR as read, its ``index`` within the source
    (frame number for videos, 0 for images), the ``source`` name and ``fps`` (0 for images)."""

    image: np.ndarray
    index: int
    source: str
    fps: float
    total: int = 0  # frames in this video, 0 when unknown


@dataclass(frozen=True)
class SourceInfo:
    """What a spec resolved to: ``kind`` ('images', 'video', 'camera', 'stream') and items."""

    kind: str
    items: list[str]
    is_live: bool


CaptureFactory = Callable[[Any], Any]  # cv2.VideoCapture-like, injectable for tests


def is_live(spec: str) -> bool:
    """True for a camera index or a stream URL (judged from the text alone)."""
    spec = str(spec).strip()
    return spec.isdigit() or spec.lower().startswith(STREAM_PREFIXES)


def resolve(spec: str) -> SourceInfo:
    """Expand ``spec`` into the list of things to read; raise :class:`UserError` if none."""
    spec = str(spec).strip()
    if not spec:  # Path("") is the working folder: never read it by accident
        raise UserError("source is empty: give an image, folder, glob, video, camera index, URL or .txt list")
    if is_live(spec):
        return SourceInfo("camera" if spec.isdigit() else "stream", [spec], True)
    path = Path(spec).expanduser()
    if any(c in spec for c in "*?["):
        items = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        items = [p for p in items if Path(p).suffix.lower() in IMAGE_EXTS | VIDEO_EXTS]
        if not items:
            raise UserError(f"no images or videos match '{spec}'")
        return SourceInfo("images", items, False)
    if path.is_dir():
        items = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
        if not items:
            raise UserError(f"folder {path} holds no images or videos")
        return SourceInfo("images", items, False)
    if not path.exists():
        raise UserError(f"source {spec} not found")
    if path.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in path.read_text().splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("#")]
        if not lines:
            raise UserError(f"list {path} is empty")
        return SourceInfo("list", lines, any(is_live(ln) for ln in lines))
    if path.suffix.lower() in VIDEO_EXTS:
        return SourceInfo("video", [str(path)], False)
    if path.suffix.lower() in IMAGE_EXTS:
        return SourceInfo("images", [str(path)], False)
    raise UserError(f"source {spec}: unsupported file type '{path.suffix}'")


def safe_fps(value: float, fallback: float = 30.0) -> float:
    """The probed fps as a float, or ``fallback`` when the probe gives 0, NaN or nonsense."""
    try:
        fps = float(value)
    except (TypeError, ValueError):
        return fallback
    return fps if np.isfinite(fps) and 0.5 <= fps <= 1000 else fallback


def _iter_capture(target: Any, name: str, factory: CaptureFactory, live: bool,
                  vid_stride: int) -> Generator[Frame, None, None]:
    cap = factory(int(target) if str(target).isdigit() else target)
    try:
        if not cap.isOpened():
            what = "camera" if str(target).isdigit() else ("stream" if live else "video")
            raise UserError(f"cannot open {what} {name}")
        fps = safe_fps(cap.get(cv2.CAP_PROP_FPS))
        total = 0 if live else max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        index = -1
        got_any = False
        while True:
            ok = cap.grab()
            if not ok:
                break
            index += 1
            if index % vid_stride:
                continue
            ok, img = cap.retrieve()
            if not ok or img is None:
                break
            got_any = True
            yield Frame(img, index, name, fps / vid_stride, total)
        if not got_any:
            raise UserError(f"cannot read any frame from {name}")
    finally:
        cap.release()


def iter_frames(spec: str, capture: CaptureFactory = cv2.VideoCapture, vid_stride: int = 1,
                on_skip: Callable[[str, str], None] | None = None) -> Generator[Frame, None, None]:
    """Yield every frame of ``spec`` (see module docstring)."""
    info = resolve(spec)
    if info.kind == "list":  # each entry is read exactly as if it were given as the source
        for item in info.items:
            try:
                yield from iter_frames(item, capture, vid_stride, on_skip)
            except UserError as exc:
                if on_skip is None:
                    raise
                on_skip(item, str(exc))
        return
    if info.is_live:
        yield from _iter_capture(info.items[0], info.items[0], capture, True, vid_stride)
        return
    for item in info.items:
        if Path(item).suffix.lower() in VIDEO_EXTS:
            try:
                yield from _iter_capture(item, item, capture, False, vid_stride)
            except UserError as exc:
                if len(info.items) == 1 or on_skip is None:
                    raise
                on_skip(item, str(exc))
            continue
        img = read_image_file(item)
        if img is None:
            if len(info.items) == 1 or on_skip is None:
                raise UserError(f"cannot read image {item}")
            on_skip(item, "unreadable or corrupt image")
            continue
        yield Frame(img, 0, item, 0.0, 1)


@contextmanager
def open_source(spec: str, capture: CaptureFactory = cv2.VideoCapture, vid_stride: int = 1,
                on_skip: Callable[[str, str], None] | None = None) -> Iterator[Iterator[Frame]]:
    """Context manager around :func:`iter_frames` that releases captures on exit."""
    if vid_stride < 1:
        raise UserError(f"--vid-stride must be >= 1, got {vid_stride}")
    gen = iter_frames(spec, capture, vid_stride, on_skip)
    try:
        yield gen
    finally:
        gen.close()
