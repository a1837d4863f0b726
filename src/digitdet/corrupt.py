"""Photo degradations for the robustness check (:mod:`digitdet.robustset`): what a phone or a
webcam does to a picture beyond what the synthesizer draws.

Each corruption takes an image ``(H, W, 3) uint8`` BGR, a level 1-3 (:data:`LEVELS`, mild to
severe, for a 640x480 frame) and a ``np.random.Generator``, and returns a new image of the same
shape. None of them moves a pixel, so a scene's labels hold for the corrupted image.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

LEVELS = (1, 2, 3)


def defocus(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Out of focus: a Gaussian blur of sigma 1, 2 or 3 px."""
    return cv2.GaussianBlur(img, (0, 0), (1.0, 2.0, 3.0)[level - 1])


def motion(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """A shaken camera: the image smeared along a line 5, 9 or 15 px long at a random angle."""
    length = (5, 9, 15)[level - 1]
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    angle = rng.uniform(0, np.pi)
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def jpeg(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Heavy compression (a messaging app, a cheap webcam): JPEG at quality 30, 15 or 8."""
    quality = (30, 15, 8)[level - 1]
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    out = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if out is None:
        raise ValueError(f"cannot JPEG-encode an image of shape {img.shape}")
    return out


def noise(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise: Gaussian, per pixel and channel, sigma 8, 16 or 28 gray levels."""
    sigma = (8.0, 16.0, 28.0)[level - 1]
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0, 255).astype(np.uint8)


def dark(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Under-exposed: brightness times 0.5, 0.3 or 0.15, with the sensor noise of a dim shot
    (sigma 3 gray levels)."""
    gain = (0.5, 0.3, 0.15)[level - 1]
    return np.clip(img * gain + rng.normal(0.0, 3.0, img.shape), 0, 255).astype(np.uint8)


KEEP = (0.4, 0.22, 0.12)  # washed out: the part of each level's distance from white kept, levels 1-3


def _toward_white(img: np.ndarray, keep: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``img`` with ``keep`` (a number, or an array that broadcasts to it) of each level's distance
    from 255 kept, and the sensor noise of a bright shot (sigma 2)."""
    return np.clip(255.0 - (255.0 - img) * keep + rng.normal(0.0, 2.0, img.shape),
                   0, 255).astype(np.uint8)


def washout(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Over-exposed, or veiled by glare (a whiteboard under a lamp, a page in sunlight): every
    level pulled toward white, keeping 0.4, 0.22 or 0.12 of its distance from 255 (black ink
    comes out at 153, 199 or 224 gray), with the sensor noise of a bright shot (sigma 2)."""
    return _toward_white(img, KEEP[level - 1], rng)


def glare(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """A lamp's or a window's reflection on a glossy board: :func:`washout` in a soft spot, a
    Gaussian of radius a third of the diagonal about a random point, keeping 0.4, 0.22 or 0.12
    of each level's distance from white at its centre and all of it far away."""
    h, w = img.shape[:2]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    r = np.hypot(h, w) / 3
    ys, xs = np.ogrid[:h, :w]
    spot = np.exp(-(((ys - cy) ** 2 + (xs - cx) ** 2) / r**2))[..., None]
    return _toward_white(img, 1.0 - (1.0 - KEEP[level - 1]) * spot, rng)


def lowres(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """A small sensor or a digital zoom: shrunk 2, 3 or 4 times and enlarged back."""
    h, w = img.shape[:2]
    f = (2, 3, 4)[level - 1]
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


CORRUPTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "defocus": defocus, "motion": motion, "jpeg": jpeg, "noise": noise, "dark": dark,
    "lowres": lowres, "washout": washout, "glare": glare}


def corrupt(img: np.ndarray, name: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """``img (H, W, 3) uint8`` under the corruption ``name`` (a key of :data:`CORRUPTIONS`) at
    ``level`` (1-3); ``ValueError`` for an unknown name, a level out of range or a bad image."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}: one of {', '.join(CORRUPTIONS)}")
    if level not in LEVELS:
        raise ValueError(f"corruption level must be 1, 2 or 3, got {level}")
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.shape} {img.dtype}")
    return CORRUPTIONS[name](img, level, rng)
