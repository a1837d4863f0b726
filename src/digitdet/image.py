"""Bring any image to the 8-bit, 3-channel BGR the model expects; read image files and
``WxH`` image sizes."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np

from digitdet.errors import UserError

ImageLike = np.ndarray | str | os.PathLike[str]  # an image array, or the path of an image file


def to_bgr8(img: np.ndarray, rgb: bool = False) -> np.ndarray:
    """Grayscale, BGR/RGB, BGRA/RGBA, 8- or 16-bit or float in [0, 1] -> ``uint8 (H, W, 3)`` BGR.

    Raises ``ValueError`` for shapes that are not images.
    """
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
        shape = getattr(img, "shape", None)
        raise ValueError(f"expected an image array (H, W) or (H, W, C), got shape {shape}")
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected 1, 3 or 4 channels, got shape {img.shape}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        img = flatten_alpha(img)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if rgb else img


def flatten_alpha(img: np.ndarray) -> np.ndarray:
    """``(H, W, 4) uint8`` colour and alpha -> ``(H, W, 3) uint8`` colour over a plain
    background, as a viewer shows it: white, or black when what is opaque is light on average
    (white chalk or ink drawn on a transparent canvas), so the ink stays visible. The channel
    order is kept."""
    alpha = img[..., 3:].astype(np.float32) / 255
    color = img[..., :3]
    if alpha.min() == 1.0:  # fully opaque
        return np.ascontiguousarray(color)
    opaque = alpha[..., 0] > 0.5
    light = bool(opaque.any()) and float(color[opaque].mean()) > 127.5
    back = 0.0 if light else 255.0
    return (color * alpha + back * (1 - alpha) + 0.5).astype(np.uint8)


def decode_image(data: np.ndarray) -> np.ndarray | None:
    """Encoded image bytes ``(N,) uint8`` -> ``(H, W, 3) uint8`` BGR as a viewer shows it, or
    None when they are not an image: a JPEG turned upright by its EXIF orientation (a phone
    photo taken in portrait is stored on its side; OpenCV applies the tag in its colour mode
    only, which a JPEG, 8-bit and with no alpha, loses nothing to); a HEIC photo (an iPhone's)
    upright through pillow-heif (:func:`decode_heif`); other formats as stored,
    transparency flattened (:func:`flatten_alpha`), gray and 16-bit converted (:func:`to_bgr8`)."""
    if not data.size:
        return None
    if data[:3].tobytes() == JPEG_MAGIC:
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    if is_heif(data):
        return decode_heif(data)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return None if img is None or img.size == 0 else to_bgr8(img)  # BGR uint8 passes unchanged


JPEG_MAGIC = b"\xff\xd8\xff"
# an ISO media file's "ftyp" box brands that hold a HEIF still image (HEIC: an iPhone's photos)
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def is_heif(data: np.ndarray) -> bool:
    """Whether the bytes ``(N,) uint8`` start as a HEIF/HEIC image file (OpenCV reads none)."""
    return data[4:8].tobytes() == b"ftyp" and data[8:12].tobytes() in HEIF_BRANDS


def decode_heif(data: np.ndarray) -> np.ndarray | None:
    """A HEIF/HEIC file's bytes ``(N,) uint8`` -> ``(H, W, 3) uint8`` BGR, turned upright by its
    orientation; None when it does not decode. Needs pillow-heif (the ``heic`` extra): without
    it, a :class:`UserError` that says so."""
    try:
        import pillow_heif
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise UserError("HEIC/HEIF images need pillow-heif: pip install 'digitdet[heic]'") from None
    pillow_heif.register_heif_opener()
    try:
        with Image.open(io.BytesIO(data.tobytes())) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError):  # a corrupt or truncated file
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def read_image_file(path: str | os.PathLike[str]) -> np.ndarray | None:
    """The image at ``path`` as ``(H, W, 3) uint8`` BGR, upright and flattened as
    :func:`decode_image` makes it (any path, non-ASCII too), or None when it is missing or not an
    image."""
    try:
        data = np.fromfile(os.fspath(path), np.uint8)
    except OSError:
        return None
    return decode_image(data)


def as_bgr8(image: ImageLike, rgb: bool = False) -> np.ndarray:
    """:func:`to_bgr8` of an image array, or the file at a path read as BGR (``rgb`` ignored);
    a path that is missing or not an image raises :class:`UserError`."""
    if isinstance(image, (str, os.PathLike)):
        img = read_image_file(image)
        if img is None:
            missing = not os.path.exists(image)
            raise UserError(f"image {os.fspath(image)} " + ("not found" if missing else "cannot be read"))
        return img
    return to_bgr8(image, rgb)


def parse_size(text: str, flag: str) -> tuple[int, int]:
    """``'WxH'`` (e.g. ``'1280x960'``) to ``(w, h)`` ints; :class:`UserError` naming ``flag``
    otherwise."""
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise UserError(f"{flag} takes WIDTHxHEIGHT in pixels, e.g. 1280x960, got '{text}'")
    return int(w), int(h)
