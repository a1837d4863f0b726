"""Bring any image to the 8-bit, 3-channel BGR the model expects; read image files and
``WxH`` image sizes."""

from __future__ import annotations

import io
import os
from typing import Literal

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
    upright through pillow-heif (:func:`decode_heif`); other formats decoded as stored,
    transparency flattened (:func:`flatten_alpha`), gray and 16-bit converted (:func:`to_bgr8`),
    then turned upright by the EXIF orientation a PNG or WebP may carry
    (:func:`exif_orientation`; OpenCV turns a TIFF by its own tag)."""
    if not data.size:
        return None
    if data[:3].tobytes() == JPEG_MAGIC:
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    if is_heif(data):
        return decode_heif(data)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # alpha and 16 bits kept; orientation not applied
    if img is None or img.size == 0:
        return None
    return orient(to_bgr8(img), exif_orientation(data))  # BGR uint8 passes to_bgr8 unchanged


JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# an ISO media file's "ftyp" box brands that hold a HEIF still image (HEIC: an iPhone's photos)
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def exif_orientation(data: np.ndarray) -> int:
    """The EXIF orientation (1-8; 1: stored upright) of a PNG (``eXIf`` chunk) or WebP (``EXIF``
    chunk) file's bytes ``(N,) uint8``, which OpenCV does not apply when it keeps the alpha
    channel; 1 for other formats (OpenCV turns a TIFF itself), when there is none, or when it
    cannot be read."""
    raw = data.tobytes()
    tiff = b""
    if raw.startswith(PNG_MAGIC):
        at = len(PNG_MAGIC)
        while at + 8 <= len(raw):
            size, kind = int.from_bytes(raw[at:at + 4], "big"), raw[at + 4:at + 8]
            if kind == b"eXIf":
                tiff = raw[at + 8:at + 8 + size]
                break
            if kind in (b"IDAT", b"IEND"):  # eXIf must come before the image data
                break
            at += 12 + size  # length, type, data, CRC
    elif raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        at = 12
        while at + 8 <= len(raw):
            kind, size = raw[at:at + 4], int.from_bytes(raw[at + 4:at + 8], "little")
            if kind == b"EXIF":
                tiff = raw[at + 8:at + 8 + size]
                break
            at += 8 + size + (size & 1)  # chunks are padded to an even size
    return tiff_orientation(tiff.removeprefix(b"Exif\x00\x00"))  # some writers keep a JPEG's prefix


def tiff_orientation(tiff: bytes) -> int:
    """Tag 0x0112 (orientation) of the first IFD of an EXIF block (TIFF-structured, as a PNG's
    ``eXIf`` chunk holds it), 1-8; 1 when it is missing or malformed."""
    if tiff[:2] not in (b"II", b"MM") or len(tiff) < 8:
        return 1
    order: Literal["little", "big"] = "little" if tiff[:2] == b"II" else "big"

    def num(at: int, size: int) -> int:
        return int.from_bytes(tiff[at:at + size], order)

    ifd = num(4, 4)
    if ifd + 2 > len(tiff):
        return 1
    for k in range(num(ifd, 2)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(tiff):
            break
        if num(entry, 2) == 0x0112 and num(entry + 2, 2) == 3:  # orientation, a SHORT
            value = num(entry + 8, 2)
            return value if 1 <= value <= 8 else 1
    return 1


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img (H, W, C)`` stored with EXIF ``orientation`` (1-8) -> the image as a viewer shows it
    (``(W, H, C)`` for 5-8), the transforms OpenCV applies to a JPEG."""
    if orientation in (5, 6, 7, 8):
        img = cv2.transpose(img)
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    return img if flip is None else cv2.flip(img, flip)


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
