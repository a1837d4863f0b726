"""Letterbox resize (aspect kept, stride-aligned, minimal padding) and its exact inverse."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Shrinks by more than this factor average pixels instead of sampling them bilinearly: bilinear
# reads only the 2x2 pixels around each sample, so past 2x it skips pixels and a thin stroke on a
# big image (a 3-px brush on a 4032x3024 photo, 0.36 px at 480) breaks into dots or vanishes;
# averaging keeps it as a faint continuous line. Shrinks up to 2x (640x480 frames to 480 px) stay
# bilinear, as ultralytics predicts, so detections stay identical to it.
AREA_BELOW = 0.5


@dataclass(frozen=True)
class LetterboxInfo:
    """What :func:`letterbox` did: resize by (``scale_x``, ``scale_y``) (equal up to rounding to
    whole pixels), then pad ``left`` / ``top`` whole pixels, giving an image of ``shape`` (h, w)."""

    scale_x: float
    scale_y: float
    left: int
    top: int
    shape: tuple[int, int]
    src_shape: tuple[int, int]


def letterbox_shape(h: int, w: int, size: int, stride: int = 32, auto: bool = True,
                    scaleup: bool = True) -> tuple[tuple[int, int], tuple[int, int]]:
    """Resized (h, w) and padded (h, w) of an ``h x w`` image letterboxed to ``size``."""
    scale = min(size / h, size / w)
    if not scaleup:
        scale = min(scale, 1.0)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if auto:  # minimal padding: only up to the next stride multiple
        ph, pw = -(-nh // stride) * stride, -(-nw // stride) * stride
    else:
        ph = pw = -(-size // stride) * stride
    return (nh, nw), (ph, pw)


def letterbox(img: np.ndarray, size: int, stride: int = 32, auto: bool = True,
              color: int = 114, scaleup: bool = True) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize ``img (H, W, C) uint8`` so its long side is ``size``; pad to a stride multiple.

    Returns the letterboxed image and the :class:`LetterboxInfo` that maps boxes back.
    With ``auto=False`` the result is a full square of ``size`` rounded up to the stride.
    With ``scaleup=False`` an image smaller than ``size`` keeps its size (only padded).
    Resizing is :func:`resize`'s.
    """
    h, w = img.shape[:2]
    (nh, nw), (ph, pw) = letterbox_shape(h, w, size, stride, auto, scaleup)
    if (nh, nw) != (h, w):
        img = resize(img, nw, nh)
    top, left = (ph - nh) // 2, (pw - nw) // 2
    if (ph, pw) != (nh, nw):
        img = cv2.copyMakeBorder(img, top, ph - nh - top, left, pw - nw - left,
                                 cv2.BORDER_CONSTANT, value=(color,) * 3)
    return img, LetterboxInfo(nw / w, nh / h, left, top, (ph, pw), (h, w))


def resize(img: np.ndarray, nw: int, nh: int) -> np.ndarray:
    """``img (H, W, C) uint8`` resized to ``nw x nh``: bilinear, as ultralytics, unless shrinking
    past ``AREA_BELOW``; then each ``k x k`` block of pixels is averaged first (the largest whole
    ``k`` that keeps the image at least ``nw x nh``, see :func:`block_average`), and the rest,
    less than 2x, is bilinear."""
    h, w = img.shape[:2]
    k = min(w // nw, h // nh)  # a side rounded up to 1 px (a 5000x3 strip) caps it
    if min(nw / w, nh / h) < AREA_BELOW and k >= 2:
        img = block_average(img, k)
        if img.shape[:2] == (nh, nw):
            return img
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)


def block_average(img: np.ndarray, k: int) -> np.ndarray:
    """``img (H, W, C) uint8`` with each ``k x k`` block of pixels averaged into one: about
    ``(H/k, W/k, C) uint8`` (partial blocks at the right and bottom edges average what they
    hold). Each factor of 2 in ``k`` is one 2x pass (OpenCV's vectorised 2x area path, much
    quicker on big images than one ``k x k`` pass), the odd rest one more pass, so a value is
    within 1.5 of its exact block mean (one pass: 0.5)."""
    while k % 2 == 0:
        img = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        k //= 2
    if k > 1:
        img = cv2.resize(img, None, fx=1 / k, fy=1 / k, interpolation=cv2.INTER_AREA)
    return img


def unletterbox_boxes(xyxy: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Map ``(N, 4) float`` boxes from letterboxed pixels back to the original image, clipped."""
    out = np.array(xyxy, np.float32, copy=True).reshape(-1, 4)
    out[:, [0, 2]] = (out[:, [0, 2]] - info.left) / info.scale_x
    out[:, [1, 3]] = (out[:, [1, 3]] - info.top) / info.scale_y
    h, w = info.src_shape
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out
