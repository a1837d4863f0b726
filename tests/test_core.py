"""Pure pieces of detection: results type, letterbox, decoder, NMS, image conversion."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pytest

from digitdet.decode import decode, nms, xywh2xyxy
from digitdet.errors import UserError
from digitdet.image import decode_image, flatten_alpha, read_image_file, tiff_orientation, to_bgr8
from digitdet.letterbox import block_average, letterbox, unletterbox_boxes
from digitdet.results import Detections


@pytest.mark.parametrize("h, w, size, scaleup, shape", [
    (99, 101, 320, True, (320, 320)),   # odd, nearly square: 317 rounds up to 320
    (480, 640, 320, True, (256, 320)),  # landscape VGA: 240 rows padded to 256
    (640, 480, 320, True, (320, 256)),  # portrait
    (16, 16, 320, True, (320, 320)),    # tiny input is upscaled
    (1080, 1920, 640, True, (384, 640)),  # full HD
    (99, 101, 320, False, (128, 128)),  # no scale-up: kept at 99x101, padded to the stride
    (160, 160, 320, False, (160, 160)),  # a small drawing canvas stays as drawn
    (480, 640, 320, False, (256, 320)),  # larger than size: shrunk either way
    (5000, 3, 480, True, (480, 32)),    # a strip 3 px wide: 1 px once shrunk, not 0
    (3, 5000, 480, True, (32, 480)),    # ... lying down
])
def test_letterbox_shapes_and_round_trip(h: int, w: int, size: int, scaleup: bool,
                                         shape: tuple[int, int]) -> None:
    img = np.zeros((h, w, 3), np.uint8)
    out, info = letterbox(img, size, scaleup=scaleup)
    assert out.shape[:2] == shape and info.shape == shape
    assert isinstance(info.left, int) and isinstance(info.top, int)
    boxes = np.array([[0, 0, w, h], [w * 0.25, h * 0.5, w * 0.75, h * 0.9]], np.float32)
    fwd = boxes.copy()
    fwd[:, [0, 2]] = fwd[:, [0, 2]] * info.scale_x + info.left
    fwd[:, [1, 3]] = fwd[:, [1, 3]] * info.scale_y + info.top
    assert np.allclose(unletterbox_boxes(fwd, info), boxes, atol=1e-3)


@pytest.mark.parametrize("h, w, size, block", [
    (480, 640, 480, 0),       # 0.75x: bilinear, exactly as ultralytics resizes a VGA frame
    (960, 1280, 640, 0),      # exactly 0.5x: still bilinear
    (720, 1280, 480, 2),      # 0.375x, an HD webcam frame: 2x2 blocks averaged, then bilinear
    (960, 1280, 480, 2),      # 0.375x, a paint program's canvas: the same
    (3024, 4032, 480, 8),     # 0.12x, a phone photo: 8x8 blocks, then bilinear
    (3023, 4031, 480, 8),     # odd sizes: the blocks at the edges are partial
    (5000, 7, 480, 7),        # a strip shrunk to 1 px wide: 7x7 blocks (10x would leave none)
    (5000, 3, 480, 3),        # ... 3 px wide: 3x3
    (2000, 1, 480, 0),        # ... 1 px wide already: bilinear
])
def test_letterbox_interpolation(h: int, w: int, size: int, block: int) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out, info = letterbox(img, size, auto=False)
    nh, nw = round(h * info.scale_y), round(w * info.scale_x)
    want = block_average(img, block) if block else img
    want = cv2.resize(want, (nw, nh), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out[info.top:info.top + nh, info.left:info.left + nw], want)


@pytest.mark.parametrize("h, w, k, shape", [
    (64, 96, 2, (32, 48)),    # one 2x pass
    (64, 96, 8, (8, 12)),     # three 2x passes
    (60, 90, 6, (10, 15)),    # a 2x pass, then 3x
    (63, 81, 3, (21, 27)),    # odd k: one 3x pass
    (67, 99, 4, (17, 25)),    # odd sizes: partial blocks at the edges, whole ones checked
])
def test_block_average_is_the_block_mean(h: int, w: int, k: int, shape: tuple[int, int]) -> None:
    img = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = block_average(img, k)
    assert out.shape == (*shape, 3) and out.dtype == np.uint8
    bh, bw = h // k, w // k  # the whole blocks
    exact = img[:bh * k, :bw * k].reshape(bh, k, bw, k, 3).mean(axis=(1, 3))
    assert np.abs(out[:bh, :bw] - exact).max() <= 1.5


@pytest.mark.parametrize("h, w", [
    (3023, 4031),   # odd phone-photo size: partial blocks must not shift the image
    (721, 1281),    # odd HD frame
    (2000, 3000),   # 6x6 blocks
])
def test_letterbox_averaging_keeps_geometry(h: int, w: int) -> None:
    # a black square maps to where LetterboxInfo says, within a pixel, after averaging
    img = np.full((h, w, 3), 255, np.uint8)
    y0, y1, x0, x1 = h // 4, h // 2, w // 3, w // 2
    img[y0:y1, x0:x1] = 0
    out, info = letterbox(img, 480)
    dark = np.argwhere(out[..., 0] < 100)  # mostly covered pixels (the grey padding is 114)
    (ty0, tx0), (ty1, tx1) = dark.min(0), dark.max(0) + 1
    want = [y0 * info.scale_y + info.top, x0 * info.scale_x + info.left,
            y1 * info.scale_y + info.top, x1 * info.scale_x + info.left]
    assert np.abs(np.array([ty0, tx0, ty1, tx1]) - want).max() <= 1.0


def test_letterbox_keeps_a_hairline_on_a_big_image() -> None:
    # a 3-px dark line on a 4032x3024 white photo is 0.36 px at 480: averaged, every row of it
    # stays visibly darker than the paper; sampled bilinearly, most rows would miss it
    img = np.full((3024, 4032, 3), 255, np.uint8)
    img[:, 2000:2003] = 0
    out, info = letterbox(img, 480, auto=False)
    rows = out[info.top:info.top + round(3024 * info.scale_y)]
    assert (rows.min(axis=1).max(axis=1) < 200).all()


def test_letterbox_pads_with_grey_and_centres() -> None:
    img = np.full((480, 640, 3), 255, np.uint8)
    out, info = letterbox(img, 320)
    assert (info.top, info.left) == (8, 0)
    assert (out[:8] == 114).all() and (out[-8:] == 114).all() and (out[8:248] == 255).all()


def test_letterbox_square_mode() -> None:
    out, info = letterbox(np.zeros((480, 640, 3), np.uint8), 320, auto=False)
    assert out.shape == (320, 320, 3) and info.top == 40


def test_unletterbox_clips_to_image() -> None:
    _, info = letterbox(np.zeros((100, 200, 3), np.uint8), 64)
    out = unletterbox_boxes(np.array([[-50, -50, 500, 500]], np.float32), info)
    assert out.tolist() == [[0, 0, 200, 100]]


def test_decode_hand_made_output() -> None:
    # YOLOv5u layout (1, 4+nc, N): column k = cx, cy, w, h, then nc class scores
    nc, n = 10, 6
    out = np.zeros((1, 4 + nc, n), np.float32)
    out[0, :4, 0] = (50, 40, 20, 30)
    out[0, 4 + 7, 0] = 0.9  # a 7 at (40, 25)-(60, 55)
    out[0, :4, 1] = (51, 41, 20, 30)
    out[0, 4 + 7, 1] = 0.8  # duplicate of the 7: suppressed by NMS
    out[0, :4, 2] = (51, 41, 20, 30)
    out[0, 4 + 1, 2] = 0.7  # same place, other class: kept (class-wise NMS)
    out[0, :4, 3] = (200, 100, 10, 10)
    out[0, 4 + 3, 3] = 0.2  # under the confidence threshold
    out[0, :4, 4] = (120, 100, 10, 20)
    out[0, 4 + 0, 4] = 0.6
    out[0, 4 + 5, 4] = 0.3  # second-best class ignored: one label per box
    boxes, conf, cls = decode(out, conf_thres=0.25, iou_thres=0.45)
    assert cls.tolist() == [7, 1, 0]
    assert np.allclose(conf, [0.9, 0.7, 0.6])
    assert np.allclose(boxes[0], [40, 25, 60, 55])
    assert np.allclose(boxes[2], [115, 90, 125, 110])
    assert decode(out, 0.25, 0.45, agnostic=True)[2].tolist() == [7, 0]  # the 1 under the 7 goes


@pytest.mark.parametrize("kwargs, expected", [
    ({"classes": [0, 1]}, [1, 0]),  # class filter
    ({"max_det": 1}, [7]),          # cap on detections
    ({"conf_thres": 0.65}, [7, 1]),  # stricter confidence
    ({"conf_thres": 0.95}, []),      # nothing above the threshold
    ({"classes": [4]}, []),          # the filter leaves nothing
    ({"classes": [9]}, [9]),         # 2 and 9 tie on the 4th box: it is a 2 (the lower id)
    ({"classes": [2]}, [2]),         # ... so the 2 filter keeps it and the 9 filter the 5th box
])
def test_decode_options(kwargs: dict, expected: list[int]) -> None:
    out = np.zeros((14, 5), np.float32)
    out[:4] = [[10, 50, 90, 130, 170], [10] * 5, [8] * 5, [8] * 5]
    out[4 + 7, 0], out[4 + 1, 1], out[4 + 0, 2] = 0.9, 0.7, 0.6
    out[4 + 2, 3], out[4 + 9, 3], out[4 + 9, 4] = 0.5, 0.5, 0.4
    assert decode(out, **kwargs)[2].tolist() == expected


def test_decode_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"\(1, 3\)"):
        decode(np.zeros((1, 3)))


def test_nms_table() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.5, 0.9, 0.8, 0.4], np.float32)
    # box 1 wins, suppresses 0 (IoU 0.68) and 3; box 2 does not overlap
    assert nms(boxes, scores, 0.45).tolist() == [1, 2]
    # at a high IoU threshold nothing is suppressed except box 3 vs box 0 (IoU 0.9)
    assert nms(boxes, scores, 0.85).tolist() == [1, 2, 0]


@pytest.mark.parametrize("n, iou, seed", [
    (1, 0.45, 0),      # a single box is kept
    (60, 0.45, 1),     # a frame's worth of candidates at the default threshold
    (300, 0.45, 2),    # crowded: most boxes suppressed
    (300, 0.0, 3),     # any overlap suppresses
    (300, 0.95, 4),    # almost nothing suppressed
])
def test_nms_matches_torchvision(n: int, iou: float, seed: int) -> None:
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2), np.float32) * 200
    boxes = np.concatenate([xy, xy + 5 + rng.random((n, 2), np.float32) * 60], 1)
    scores = rng.random(n, np.float32)
    want = ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
    assert nms(boxes, scores, iou).tolist() == want.tolist()


def test_xywh2xyxy() -> None:
    assert xywh2xyxy(np.array([[10, 20, 4, 6]], np.float32)).tolist() == [[8, 17, 12, 23]]


def test_detections_validation_and_indexing() -> None:
    det = Detections(np.array([[0, 0, 1, 1], [2, 2, 3, 3]]), np.array([0.9, 0.4]), np.array([3, 8]))
    assert det.xyxy.dtype == np.float32 and det.class_id.dtype == np.int64
    sub = det[det.confidence > 0.5]
    assert len(sub) == 1 and sub.class_id.tolist() == [3]
    assert det[1].class_id.tolist() == [8]
    assert len(Detections.empty()) == 0
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        Detections(np.zeros((2, 3)), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"confidence must have shape \(2,\), got \(3,\)"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))


@pytest.mark.parametrize("img, shape", [
    (np.zeros((20, 30), np.uint8), (20, 30, 3)),           # grayscale
    (np.zeros((20, 30, 1), np.uint8), (20, 30, 3)),        # grayscale with channel axis
    (np.zeros((20, 30, 4), np.uint8), (20, 30, 3)),        # BGRA
    (np.full((20, 30, 3), 65535, np.uint16), (20, 30, 3)),  # 16-bit
    (np.ones((20, 30, 3), np.float32), (20, 30, 3)),        # float in [0, 1]
])
def test_to_bgr8(img: np.ndarray, shape: tuple[int, int, int]) -> None:
    out = to_bgr8(img)
    assert out.shape == shape and out.dtype == np.uint8


def test_to_bgr8_values() -> None:
    assert to_bgr8(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    assert to_bgr8(rgb, rgb=True)[0, 0].tolist() == [0, 0, 200]
    with pytest.raises(ValueError, match=r"\(5, 5, 2\)"):
        to_bgr8(np.zeros((5, 5, 2), np.uint8))


def stroke_on_clear(ink: int) -> np.ndarray:
    """A 20x30 BGRA canvas, transparent (colour 0) but for an opaque stroke of gray ``ink`` in
    columns 10-12, half transparent in column 13."""
    img = np.zeros((20, 30, 4), np.uint8)
    img[:, 10:14, :3] = ink
    img[:, 10:13, 3] = 255
    img[:, 13, 3] = 128
    return img


@pytest.mark.parametrize("img, stroke, paper, edge", [
    # black ink drawn on a transparent canvas (a paint program's or a browser's export):
    # over white, as a viewer shows it, not black on black
    (stroke_on_clear(0), 0, 255, 127),
    # white chalk on a transparent canvas: over black, or it would vanish on white
    (stroke_on_clear(255), 255, 0, 128),
    # a fully opaque image: the colours as they are
    (np.dstack([np.full((20, 30, 3), 77, np.uint8), np.full((20, 30), 255, np.uint8)]), 77, 77, 77),
])
def test_flatten_alpha(img: np.ndarray, stroke: int, paper: int, edge: int) -> None:
    out = flatten_alpha(img)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert (out[:, 10:13] == stroke).all() and (out[:, :10] == paper).all()
    assert (out[:, 13] == edge).all()  # half transparent: half way between ink and paper


def exif_jpeg(img: np.ndarray, orientation: int) -> bytes:
    """``img`` as a JPEG carrying an EXIF orientation tag, as a phone writes a photo it took
    held sideways: an APP1 segment (big-endian TIFF, one IFD entry 0x0112) after the SOI."""
    jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    app1 = b"Exif\x00\x00" + exif_tiff(orientation)
    return jpeg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + jpeg[2:]


def exif_tiff(orientation: int, order: Literal["little", "big"] = "big", kind: int = 3) -> bytes:
    """An EXIF block: a TIFF header and one IFD with one entry, tag 0x0112 (orientation) of
    type ``kind`` (3: SHORT, as the standard has it)."""
    mark = b"MM\x00\x2a" if order == "big" else b"II\x2a\x00"
    return (mark + (8).to_bytes(4, order) + (1).to_bytes(2, order)  # IFD0 at 8: one entry
            + (0x0112).to_bytes(2, order) + kind.to_bytes(2, order) + (1).to_bytes(4, order)
            + orientation.to_bytes(2, order) + b"\x00\x00" + b"\x00\x00\x00\x00")  # no next IFD


def exif_png(img: np.ndarray, orientation: int, prefix: bytes = b"") -> bytes:
    """``img`` as a PNG with an ``eXIf`` chunk (EXIF orientation) before its image data, the
    EXIF block after ``prefix`` (some writers keep a JPEG segment's ``Exif\\0\\0``)."""
    png = cv2.imencode(".png", img)[1].tobytes()
    tiff = prefix + exif_tiff(orientation, "little")
    chunk = (len(tiff).to_bytes(4, "big") + b"eXIf" + tiff
             + zlib.crc32(b"eXIf" + tiff).to_bytes(4, "big"))
    at = png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


def pil_file(img: np.ndarray, fmt: str, orientation: int = 1, **save: Any) -> bytes:
    """``img (H, W, 3)`` BGR as a ``fmt`` file written by Pillow (installed with the train and
    heic extras) with EXIF ``orientation``; ``save``: Pillow's options for the format."""
    import io

    from PIL import Image

    im = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format=fmt, exif=exif.tobytes(), **save)
    return buf.getvalue()


def pil_bytes(fmt: str, **save: Any) -> Callable[[np.ndarray, int], bytes]:
    """An encoder ``(img, orientation) -> bytes`` of :func:`pil_file` for ``fmt``."""
    return lambda img, orientation: pil_file(img, fmt, orientation, **save)


def heic_bytes(img: np.ndarray, orientation: int = 1) -> bytes:
    """``img (H, W, 3)`` BGR as an iPhone-style HEIC file (pillow-heif, the ``heic`` extra)
    with EXIF ``orientation``."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return pil_file(img, "HEIF", orientation, quality=95)


@pytest.mark.parametrize("encode, name", [
    (exif_jpeg, "photo.jpg"),        # a JPEG with an EXIF segment
    (heic_bytes, "IMG_0001.HEIC"),   # an iPhone's HEIC (the heic extra)
])
@pytest.mark.parametrize("orientation, shape, white", [
    (1, (60, 100), (slice(None), slice(0, 20))),   # stored upright: as stored
    (6, (100, 60), (slice(0, 20), slice(None))),   # turn 90 degrees clockwise: the left band on top
    (8, (100, 60), (slice(80, 100), slice(None))),  # anticlockwise: at the bottom
    (3, (60, 100), (slice(None), slice(80, 100))),  # upside down: on the right
])
def test_photos_are_read_upright(tmp_path: Path, encode: Callable[[np.ndarray, int], bytes],
                                 name: str, orientation: int, shape: tuple[int, int],
                                 white: tuple) -> None:
    stored = np.zeros((60, 100, 3), np.uint8)
    stored[:, :20] = 255  # a white band on the stored image's left
    path = tmp_path / name
    path.write_bytes(encode(stored, orientation))
    img = read_image_file(path)
    assert img is not None and img.shape == (*shape, 3)
    band = np.zeros(shape, bool)
    band[white] = True
    assert (img[band] > 200).all() and (img[~band] < 50).all()


@pytest.mark.parametrize("encode", [
    exif_png,          # a PNG with an eXIf chunk (built by hand, little-endian EXIF)
    lambda img, o: exif_png(img, o, b"Exif\x00\x00"),  # the same with a JPEG segment's prefix
    pil_bytes("WEBP", lossless=True),  # a lossless WebP with an EXIF chunk (Pillow)
    pil_bytes("TIFF"),  # a TIFF with the tag in its own first IFD (Pillow; OpenCV turns it)
])
@pytest.mark.parametrize("orientation", range(1, 9))  # all eight: turns, mirrors, transposes
def test_png_webp_tiff_are_read_upright(encode: Callable[[np.ndarray, int], bytes],
                                        orientation: int) -> None:
    import io

    from PIL import Image, ImageOps

    stored = np.random.default_rng(orientation).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    data = encode(stored, orientation)
    with Image.open(io.BytesIO(data)) as im:  # Pillow's reading of the tag is the reference
        viewed = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(im).convert("RGB")), cv2.COLOR_RGB2BGR)
    assert viewed.shape == ((11, 7, 3) if orientation >= 5 else (7, 11, 3))
    img = decode_image(np.frombuffer(data, np.uint8))
    assert img is not None and img.shape == viewed.shape and (img == viewed).all()


def test_transparent_png_is_turned_and_flattened() -> None:
    img = decode_image(np.frombuffer(exif_png(stroke_on_clear(0), 6), np.uint8))
    assert img is not None and img.shape == (30, 20, 3)  # turned: 20x30 stored on its side
    assert (img[:10] == 255).all() and (img[10:13] == 0).all()  # the clear left band now on top


@pytest.mark.parametrize("block, expected", [
    (exif_tiff(6), 6),                        # big-endian, as a camera writes it
    (exif_tiff(8, "little"), 8),              # little-endian
    (exif_tiff(6, kind=4), 1),                # not a SHORT: not the orientation tag as specified
    (exif_tiff(9), 1),                        # out of range
    (exif_tiff(6)[:20], 1),                   # cut inside its only entry
    (exif_tiff(6)[:8] + b"\xff\xff", 1),       # claims 65535 entries, holds none
    (b"MM\x00\x2a\x00\x00\x10\x00", 1),        # IFD offset past the end
    (b"Exif\x00\x00" + exif_tiff(6), 1),       # not a TIFF block (the JPEG segment's prefix kept)
    (b"", 1),                                 # nothing
])
def test_tiff_orientation(block: bytes, expected: int) -> None:
    assert tiff_orientation(block) == expected


def test_heic_needs_pillow_heif(monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.frombuffer(heic_bytes(np.zeros((8, 8, 3), np.uint8)), np.uint8)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if the extra were not installed
    with pytest.raises(UserError, match=r"HEIC/HEIF images need pillow-heif: pip install 'digitdet\[heic\]'"):
        decode_image(data)


def test_corrupt_heic_is_not_an_image() -> None:
    data = np.frombuffer(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40, np.uint8)
    assert decode_image(data) is None


def test_read_image_file_flattens_transparency(tmp_path: Path) -> None:
    path = tmp_path / "drawn.png"
    cv2.imwrite(str(path), stroke_on_clear(0))  # black strokes on a transparent canvas
    img = read_image_file(path)
    assert img is not None and img.shape == (20, 30, 3)
    assert (img[:, :10] == 255).all() and (img[:, 10:13] == 0).all()


@pytest.mark.parametrize("w, h", [(640, 480), (101, 99)])  # label format round trip
def test_yolo_label_round_trip(tmp_path: Path, w: int, h: int) -> None:
    from digitdet.labels import read_yolo_labels, yolo_lines

    xyxy = np.array([[10.5, 20, 50, 80], [0, 0, w, h]], np.float32)
    lines = yolo_lines(xyxy, np.array([3, 9]), w, h, np.array([0.5, 0.25]))
    assert lines[1] == "9 0.500000 0.500000 1.000000 1.000000 0.2500"
    (tmp_path / "l.txt").write_text("\n".join(lines))
    back, cls = read_yolo_labels(tmp_path / "l.txt", w, h)
    assert cls.tolist() == [3, 9] and np.allclose(back, xyxy, atol=1e-3)
    assert read_yolo_labels(tmp_path / "missing.txt", w, h)[0].shape == (0, 4)
