"""Detector API, sources, video writing and the detect CLI, with a hand-made ONNX model."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet import detect
from digitdet.backends import ModelInfo
from digitdet.detector import DigitDetector, merge_zoomed
from digitdet.errors import UserError
from digitdet.results import Detections, Number, Prediction
from digitdet.sources import Frame, open_source, resolve, safe_fps
from digitdet.video import VideoWriter

from conftest import FakeCapture, make_onnx, yolo_output

# In letterboxed pixels of a 640x480 (or 64x48) frame at imgsz 320 (top padding 8):
# a '4' and a '2' side by side, and a lone '7' far to the right.
ROWS = [(100, 108, 20, 40, 4, 0.9), (126, 108, 20, 40, 2, 0.8), (280, 200, 20, 40, 7, 0.7)]


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return make_onnx(tmp_path / "fake.onnx", yolo_output(ROWS))


def write_image(path: Path, w: int = 640, h: int = 480) -> Path:
    cv2.imwrite(str(path), np.full((h, w, 3), 200, np.uint8))
    return path


def write_video(path: Path, n: int = 7, fps: float = 12.0) -> Path:
    with VideoWriter(path, fps) as vw:
        for i in range(n):
            vw.write(np.full((48, 64, 3), i * 20, np.uint8))
    return path


def cli(tmp_path: Path, weights: Path, *extra: str) -> list[str]:
    return ["--weights", str(weights), "--project", str(tmp_path / "runs"), *extra]


# ---------------------------------------------------------------- detector API

def test_detector_maps_boxes_to_original_pixels(weights: Path) -> None:
    pred = DigitDetector(weights).predict(np.zeros((480, 640, 3), np.uint8))
    assert pred.detections.class_id.tolist() == [4, 2, 7]
    assert np.allclose(pred.detections.xyxy[0], [180, 160, 220, 240], atol=0.5)
    assert [n.text for n in pred.numbers] == ["42", "7"]
    assert (pred.width, pred.height) == (640, 480)


@pytest.mark.parametrize("name, as_path, message", [
    ("a.png", str, None),                       # a path as a string, as ultralytics takes it
    ("a.png", Path, None),                      # a pathlib.Path
    ("ü é.jpg", str, None),                     # non-ASCII names too (read through numpy)
    ("missing.png", str, "image {} not found"),
    ("bad.png", Path, "image {} cannot be read"),  # a file that is not an image
])
def test_detector_reads_image_paths(tmp_path: Path, weights: Path, name: str,
                                    as_path: Callable[[Path], str | Path], message: str | None) -> None:
    path = tmp_path / name
    if name == "bad.png":
        path.write_bytes(b"not a png")
    elif name != "missing.png":
        cv2.imencode(path.suffix, np.zeros((240, 320, 3), np.uint8))[1].tofile(str(path))
    det = DigitDetector(weights)
    if message is not None:
        with pytest.raises(UserError, match=re.escape(message.format(path))):
            det.predict(as_path(path))
        return
    pred = det.predict(as_path(path))
    assert (pred.width, pred.height) == (320, 240) and len(pred.detections) == 3
    many = list(det.predict_many([as_path(path)] * 3, workers=2))
    assert [p.detections.class_id.tolist() for p in many] == [pred.detections.class_id.tolist()] * 3


@pytest.mark.parametrize("img", [
    np.zeros((480, 640), np.uint8),            # grayscale
    np.zeros((480, 640, 4), np.uint8),         # BGRA
    np.zeros((480, 640, 3), np.uint16),        # 16-bit
    np.zeros((16, 16, 3), np.uint8),           # smallest supported size
])
def test_detector_accepts_any_image_kind(weights: Path, img: np.ndarray) -> None:
    pred = DigitDetector(weights).predict(img)
    assert len(pred.detections) == 3 and (pred.height, pred.width) == img.shape[:2]
    assert (pred.detections.xyxy[:, [0, 2]] <= img.shape[1]).all()  # clipped to the image


@pytest.mark.parametrize("conf, classes, expected", [
    (0.75, None, [4, 2]),  # confidence threshold
    (0.25, [7], [7]),      # class filter
])
def test_detector_options(weights: Path, conf: float, classes: list[int] | None,
                          expected: list[int]) -> None:
    det = DigitDetector(weights, conf=conf, classes=classes).predict(np.zeros((480, 640, 3),
                                                                            np.uint8)).detections
    assert det.class_id.tolist() == expected


class Spy:
    """A backend that records the blob shapes it is given and finds nothing."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        self.shapes.append(blob.shape)
        return np.zeros((1, 14, 0), np.float32)


@pytest.mark.parametrize("hw, scaleup, blob_hw", [
    ((160, 160), False, (160, 160)),  # default: a small canvas is not enlarged
    ((160, 160), True, (320, 320)),   # ultralytics' habit: enlarged to imgsz
    ((480, 640), False, (256, 320)),  # big frames shrink to imgsz either way
])
def test_small_images_are_not_enlarged(weights: Path, hw: tuple[int, int], scaleup: bool,
                                       blob_hw: tuple[int, int]) -> None:
    det = DigitDetector(weights, scaleup=scaleup)
    det.backend = spy = Spy(det.backend.info)
    det.predict(np.zeros((*hw, 3), np.uint8))
    assert spy.shapes == [(1, 3, *blob_hw)]


def dets(*rows: tuple[float, float, float, float, int, float]) -> Detections:
    if not rows:
        return Detections.empty()
    a = np.array(rows, np.float32)
    return Detections(a[:, :4], a[:, 5], a[:, 4].astype(int))


# boxes (x1, y1, x2, y2, class, score) in image pixels; digits taller than 100 px are "big"
@pytest.mark.parametrize("full, zoomed, expected", [
    ([(0, 0, 20, 30, 4, .9)], [(0, 0, 20, 30, 1, .8)], [4]),            # small: full pass wins
    ([(0, 0, 200, 300, 3, .6)], [(2, 2, 198, 300, 5, .9)], [5]),        # big: zoomed pass wins
    ([(0, 0, 200, 300, 3, .6)], [], [3]),                               # big, zoomed missed it: kept
    ([], [(0, 0, 200, 300, 7, .5)], [7]),                               # big, full missed it: added
    ([(0, 0, 20, 30, 4, .9), (50, 0, 250, 300, 3, .6)],
     [(50, 0, 250, 300, 8, .7)], [4, 8]),                               # a small and a big digit
    ([], [], []),                                                       # nothing anywhere
])
def test_merge_zoomed(full: list, zoomed: list, expected: list[int]) -> None:
    merged = merge_zoomed(dets(*full), dets(*zoomed), big_px=100, iou=0.45)
    assert sorted(merged.class_id.tolist()) == sorted(expected)


def test_augment_adds_a_half_size_pass(weights: Path) -> None:
    det = DigitDetector(weights, augment=True)
    det.backend = spy = Spy(det.backend.info)
    det.predict(np.zeros((480, 640, 3), np.uint8))
    assert spy.shapes == [(1, 3, 256, 320), (1, 3, 128, 160)]


SIZES = [(640, 480), (64, 48), (101, 99), (480, 640), (320, 320), (17, 900), (640, 480)]


@pytest.mark.parametrize("workers, n", [
    (None, 7),  # default: one session per core
    (1, 7),     # one worker: plain predict, image by image
    (3, 7),     # more workers than cores, more images than workers * 2 read-ahead
    (2, 0),     # nothing to read
])
def test_predict_many_equals_predict_in_order(weights: Path, workers: int | None, n: int) -> None:
    # The fake model's boxes depend only on the image size, so order mix-ups change the boxes.
    images = [np.zeros((h, w, 3), np.uint8) for w, h in SIZES[:n]]
    det = DigitDetector(weights)
    many = list(det.predict_many(iter(images), workers=workers))
    assert [(p.width, p.height) for p in many] == SIZES[:n]
    for pred, img in zip(many, images, strict=True):
        one = det.predict(img)
        assert np.array_equal(pred.detections.xyxy, one.detections.xyxy)
        assert [x.text for x in pred.numbers] == [x.text for x in one.numbers]


def test_predict_many_reads_ahead_a_bounded_number_and_stops_early(weights: Path) -> None:
    pulled = []

    def images():  # an endless stream, like a long video
        while True:
            pulled.append(1)
            yield np.zeros((48, 64, 3), np.uint8)

    stream = DigitDetector(weights).predict_many(images(), workers=2)
    first = [next(stream) for _ in range(3)]
    stream.close()  # what a `break` in the caller does
    assert len(first) == 3 and len(pulled) <= 3 + 2 * 2  # read-ahead is 2 * workers


def test_onnx_on_a_gpu_device_is_refused(weights: Path) -> None:
    with pytest.raises(UserError, match="ONNX weights run on the CPU"):
        DigitDetector(weights, device="0")


@pytest.mark.parametrize("kwargs, message", [
    ({"imgsz": 0}, "imgsz must be a positive"),         # 0 px would silently mean "the default"
    ({"imgsz": -5}, "imgsz must be a positive"),        # negative size
    ({"conf": 2.0}, "conf threshold must be between"),  # a percentage typed as a number
    ({"conf": -0.1}, "conf threshold must be between"),
    ({"iou": 5.0}, "iou threshold must be between"),
    ({"max_det": 0}, "max_det must be at least 1"),     # would return nothing, always
    ({"classes": [1, -2]}, "classes are class ids \\(0 or more\\), got -2"),  # no model has them
])
def test_detector_settings_out_of_range(tmp_path: Path, kwargs: dict[str, object],
                                        message: str) -> None:
    # checked before the weights load: a missing file is not what gets reported
    with pytest.raises(UserError, match=message):
        DigitDetector(tmp_path / "missing.onnx", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("names, classes, message", [
    ({0: "a", 1: "b", 2: "c"}, [3], "class ids 0-2, got 3"),  # a 3-class model: 3 is past its last id
    ({0: "a", 1: "b", 2: "c"}, [2], None),                    # its last id is fine
    ({0: "a", 2: "c"}, [1], "class ids 0, 2, got 1"),         # ids with a gap are listed
])
def test_classes_are_checked_against_the_model(tmp_path: Path, names: dict[int, str],
                                               classes: list[int], message: str | None) -> None:
    path = make_onnx(tmp_path / "m.onnx", np.zeros((1, 4 + len(names), 5), np.float32), names)
    if message is None:
        assert DigitDetector(path, classes=classes).classes == classes
    else:
        with pytest.raises(UserError, match=message):
            DigitDetector(path, classes=classes)


@pytest.mark.parametrize("flags, message", [
    (["--imgsz", "0"], "imgsz must be a positive number of pixels, got 0"),
    (["--conf-thres", "25"], "conf threshold must be between 0 and 1, got 25.0"),
    (["--classes", "10"], "classes are this model's class ids 0-9, got 10"),  # the model's names
    (["--line-thickness", "0"], "--line-thickness must be >= 1, got 0"),  # 0 would mean "auto"
    (["--tile", "8"], "tile must be auto, 0 (read whole) or at least 64 pixels, got 8"),  # small
    (["--tile", "all"], "tile must be auto, 0 (read whole) or at least 64 pixels, got 'all'"),
])
def test_bad_setting_is_one_line_exit_2(tmp_path: Path, weights: Path, flags: list[str],
                                        message: str, capsys: pytest.CaptureFixture[str]) -> None:
    img = write_image(tmp_path / "a.jpg")
    assert detect.main(cli(tmp_path, weights, "--source", str(img), *flags)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"digitdet.detect: error: {message}"
    assert not (tmp_path / "runs").exists()  # nothing written before the check


@pytest.mark.parametrize("name, content, message", [
    ("missing.onnx", None, "not found"),
    ("bad.onnx", b"not a model", "cannot load weights"),
    ("model.h5", b"x", "expected a .onnx or .pt"),
])
def test_bad_weights(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        DigitDetector(path)


# ---------------------------------------------------------------- sources

def test_every_source_kind(tmp_path: Path) -> None:
    img = write_image(tmp_path / "a.png", 64, 48)
    vid = write_video(tmp_path / "v.mp4", n=4)
    folder = tmp_path / "f"
    folder.mkdir()
    write_image(folder / "b.jpg", 64, 48)
    write_image(folder / "c.png", 64, 48)
    (tmp_path / "list.txt").write_text(f"{img}\n# comment\n{vid}\n{folder / '*.png'}\n")
    fake = lambda t: FakeCapture(t, n=3)  # noqa: E731
    cases = [  # spec, kind, frames
        (str(img), "images", 1),
        (str(folder), "images", 2),
        (str(folder / "*.png"), "images", 1),
        (str(vid), "video", 4),
        ("0", "camera", 3),
        ("rtsp://127.0.0.1/live", "stream", 3),
        (str(tmp_path / "list.txt"), "list", 1 + 4 + 1),  # image, video, glob
    ]
    for spec, kind, n in cases:
        assert resolve(spec).kind == kind, spec
        capture = fake if kind in ("camera", "stream") else cv2.VideoCapture
        with open_source(spec, capture) as frames:
            got = list(frames)
        assert len(got) == n, spec
        assert all(f.image.ndim == 3 and f.image.dtype == np.uint8 for f in got)


def quadrant_frame(h: int = 48, w: int = 64) -> np.ndarray:
    """``(h, w, 3) uint8``: four flat quadrants (black, white / red, blue), so a turn shows."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, w // 2:] = 255
    img[h // 2:, : w // 2] = (0, 0, 255)
    img[h // 2:, w // 2:] = (255, 0, 0)
    return img


def sideways_video(path: Path, frame: np.ndarray, degrees: int, n: int = 3) -> Path:
    """An MP4 of ``frame`` whose track says "turn me ``degrees`` clockwise to show me", as a
    phone writes a video filmed in portrait: the display matrix of its ``tkhd`` box (version 0:
    the matrix is 40 bytes after the box type, nine big-endian 16.16 / 2.30 fixed numbers)."""
    with VideoWriter(path, 10.0) as vw:
        for _ in range(n):
            vw.write(frame)
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd") + 4 + 40
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    data[at:at + 36] = struct.pack(">9i", cos << 16, sin << 16, 0, -sin << 16, cos << 16, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("degrees", [
    0,    # stored upright: read as stored
    90,   # a phone held upright, its sensor sideways (the usual portrait video)
    180,  # filmed upside down
    270,  # portrait, held the other way
])
def test_sideways_video_is_read_upright(tmp_path: Path, weights: Path, degrees: int) -> None:
    stored = quadrant_frame()
    shown = np.rot90(stored, k=-degrees // 90)  # clockwise
    vid = sideways_video(tmp_path / "phone.mp4", stored, degrees)
    with open_source(str(vid)) as frames:
        got = [f.image for f in frames]
    assert len(got) == 3 and got[0].shape == shown.shape
    assert np.abs(got[0].astype(int) - shown).mean() < 8  # the codec's loss, not a turn (~120)
    assert detect.main(cli(tmp_path, weights, "--source", str(vid))) == 0
    cap = cv2.VideoCapture(str(tmp_path / "runs" / "exp" / "phone.mp4"))
    size = (cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    cap.release()
    assert size == shown.shape[:2]  # the annotated video is written as it is shown


def test_bad_entry_in_list_is_skipped_and_reported(tmp_path: Path) -> None:
    img = write_image(tmp_path / "a.png", 64, 48)
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'gone.jpg'}\n{img}\n")
    skipped: list[str] = []
    with open_source(str(tmp_path / "list.txt"), on_skip=lambda item, why: skipped.append(why)) as f:
        assert [fr.source for fr in f] == [str(img)]
    assert len(skipped) == 1 and "not found" in skipped[0]


def test_camera_frames_carry_fps_and_release(tmp_path: Path) -> None:
    caps: list[FakeCapture] = []

    def factory(target: object) -> FakeCapture:
        caps.append(FakeCapture(target, n=6, fps=30.0))
        return caps[-1]

    with open_source("0", factory, vid_stride=2) as frames:
        got = list(frames)
    assert caps[0].target == 0 and caps[0].released
    assert [f.index for f in got] == [0, 2, 4] and got[0].fps == 15.0 and got[0].source == "0"


@pytest.mark.parametrize("value, expected", [(25.0, 25.0), (0.0, 30.0), (float("nan"), 30.0),
                                             (None, 30.0), (29.97, 29.97), (1e6, 30.0)])
def test_safe_fps(value: object, expected: float) -> None:
    assert safe_fps(value) == pytest.approx(expected)  # type: ignore[arg-type]


def test_video_writer_raises_when_it_cannot_open(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError), VideoWriter(blocker / "out.mp4", 25) as vw:
        vw.write(np.zeros((48, 64, 3), np.uint8))


# ---------------------------------------------------------------- CLI

def test_image_run_saves_annotated_image_and_increments(tmp_path: Path, weights: Path) -> None:
    img = write_image(tmp_path / "photo.jpg")
    assert detect.main(cli(tmp_path, weights, "--source", str(img))) == 0
    assert detect.main(cli(tmp_path, weights, "--source", str(img))) == 0
    out1, out2 = tmp_path / "runs" / "exp" / "photo.jpg", tmp_path / "runs" / "exp2" / "photo.jpg"
    assert out1.is_file() and out2.is_file()
    drawn, original = cv2.imread(str(out1)), cv2.imread(str(img))
    assert drawn is not None and original is not None and drawn.shape == (480, 640, 3)
    assert not np.array_equal(drawn, original)  # boxes were drawn


def test_save_json_txt_crop(tmp_path: Path, weights: Path) -> None:
    img = write_image(tmp_path / "photo.png")
    assert detect.main(cli(tmp_path, weights, "--source", str(img), "--save-json", "--save-txt",
                           "--save-conf", "--save-crop", "--nosave")) == 0
    out = tmp_path / "runs" / "exp"
    (rec,) = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert set(rec) == {"source", "frame", "width", "height", "tiles", "detections", "numbers"}
    assert rec["source"] == str(img) and rec["frame"] == 0 and rec["width"] == 640
    assert rec["detections"][0] == {"box": [180.0, 160.0, 220.0, 240.0], "cls": 4, "conf": 0.9}
    assert rec["numbers"][0]["text"] == "42" and rec["numbers"][0]["digits"] == [0, 1]
    assert rec["numbers"][0]["box"] == [180.0, 160.0, 272.0, 240.0]
    lines = (out / "labels" / "photo.txt").read_text().splitlines()
    assert lines[0] == "4 0.312500 0.416667 0.062500 0.166667 0.9000"
    assert sorted(p.parent.name for p in (out / "crops").rglob("*.jpg")) == ["2", "4", "7"]
    assert not (out / "photo.png").exists()  # --nosave


def test_video_output_frame_count_and_fps(tmp_path: Path, weights: Path) -> None:
    vid = write_video(tmp_path / "clip.mp4", n=9, fps=12.0)
    assert detect.main(cli(tmp_path, weights, "--source", str(vid), "--save-json")) == 0
    cap = cv2.VideoCapture(str(tmp_path / "runs" / "exp" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 9
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    cap.release()
    recs = (tmp_path / "runs" / "exp" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(r)["frame"] for r in recs] == list(range(9))


def test_camera_via_injected_capture(tmp_path: Path, weights: Path) -> None:
    args = detect.parse_args(cli(tmp_path, weights, "--source", "0", "--save-json"))
    fake = lambda t: FakeCapture(t, n=5, fps=20.0)  # noqa: E731
    assert detect.run(args, capture=fake) == 0
    out = tmp_path / "runs" / "exp"
    cap = cv2.VideoCapture(str(out / "camera0.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    cap.release()
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 5


def test_corrupt_image_in_folder_is_skipped(tmp_path: Path, weights: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"\xff\xd8garbage")
    write_image(folder / "c.jpg")
    assert detect.main(cli(tmp_path, weights, "--source", str(folder))) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "exp").glob("*.jpg")) == ["a.jpg", "c.jpg"]
    err = capsys.readouterr().err
    assert "skipped" in err and "b.jpg" in err and "2 image(s)" in err


def test_heic_photo_is_read_and_saved_as_jpeg(tmp_path: Path, weights: Path) -> None:
    from test_core import heic_bytes

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "IMG_0001.HEIC").write_bytes(heic_bytes(np.full((48, 64, 3), 200, np.uint8)))
    assert detect.main(cli(tmp_path, weights, "--source", str(folder), "--save-json")) == 0
    out = tmp_path / "runs" / "exp"
    # OpenCV cannot write HEIC: the annotated copy is a JPEG of the same name
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0001.jpg", "predictions.jsonl"]
    record = json.loads((out / "predictions.jsonl").read_text())
    assert record["source"].endswith("IMG_0001.HEIC") and (record["width"], record["height"]) == (64, 48)


def test_ctrl_c_leaves_playable_video_and_valid_jsonl(tmp_path: Path, weights: Path) -> None:
    class Interrupting(FakeCapture):
        def grab(self) -> bool:
            if self.i == 6:
                raise KeyboardInterrupt
            return super().grab()

    args = detect.parse_args(cli(tmp_path, weights, "--source", "rtsp://127.0.0.1/cam",
                                 "--save-json"))
    assert detect.run(args, capture=lambda t: Interrupting(t, n=100)) == 130
    out = tmp_path / "runs" / "exp"
    recs = [json.loads(r) for r in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in recs] == list(range(6))
    (video,) = out.glob("*.mp4")
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = cap.read()
    assert ok and frame.shape == (48, 64, 3)
    cap.release()


@pytest.mark.parametrize("make, message", [
    (lambda p: str(p / "nope.jpg"), "not found"),                        # missing path
    (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no images"),  # empty folder
    (lambda p: str(p / "*.png"), "no images or videos match"),           # glob matching nothing
    (lambda p: (p / "bad.mp4").write_bytes(b"\x00" * 64) and str(p / "bad.mp4"),
     "cannot open video"),                                               # unreadable video
    (lambda p: (p / "bad.png").write_bytes(b"png?") and str(p / "bad.png"),
     "cannot read image"),                                               # corrupt single image
    (lambda p: (p / "x.doc").write_bytes(b"x") and str(p / "x.doc"), "unsupported file type"),
    (lambda p: "", "source is empty"),                                   # --source '' (not the cwd)
    (lambda p: "  ", "source is empty"),                                 # blanks only, as from a script
])
def test_bad_source_is_one_line_exit_2(tmp_path: Path, weights: Path, make: Callable[[Path], str],
                                       message: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = make(tmp_path)
    assert detect.main(cli(tmp_path, weights, "--source", src)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("source", [
    "bad.mp4",   # FFmpeg prints its own "moov atom not found" unless told to be quiet
    "99",        # a camera index with no camera: OpenCV logs an error line of its own
])
def test_native_libraries_add_no_stderr_lines(tmp_path: Path, weights: Path, source: str) -> None:
    (tmp_path / "bad.mp4").write_bytes(b"junk")
    # a fresh process: FFmpeg reads its log level once, on first use
    run = subprocess.run([sys.executable, "-m", "digitdet.detect", *cli(tmp_path, weights,
                          "--source", source)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("digitdet.detect: error: cannot open ")


def test_output_folder_that_cannot_be_made(tmp_path: Path, weights: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    img = write_image(tmp_path / "a.jpg")
    (tmp_path / "taken").write_text("a file where the project folder would go")
    argv = cli(tmp_path, weights, "--source", str(img), "--project", str(tmp_path / "taken"))
    assert detect.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"digitdet.detect: error: cannot create output folder {tmp_path}")
    assert "\n" not in err and "Errno" not in err


def test_camera_that_wont_open(tmp_path: Path, weights: Path) -> None:
    args = detect.parse_args(cli(tmp_path, weights, "--source", "3"))
    with pytest.raises(UserError, match="cannot open camera 3"):
        detect.run(args, capture=lambda t: FakeCapture(t, opened=False))


def test_bad_weights_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = write_image(tmp_path / "a.jpg")
    bad = tmp_path / "w.onnx"
    bad.write_bytes(b"junk")
    assert detect.main(["--source", str(img), "--weights", str(bad), "--project",
                        str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.detect: error: cannot load weights") and "\n" not in err


def test_view_img_without_display_still_saves(tmp_path: Path, weights: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    img = write_image(tmp_path / "a.jpg")
    assert detect.main(cli(tmp_path, weights, "--source", str(img), "--view-img")) == 0
    assert (tmp_path / "runs" / "exp" / "a.jpg").is_file()
    assert "--view-img ignored" in capsys.readouterr().err


def _pred(texts: list[str], n: int, ms: tuple[float, float, float] = (1.0, 4.0, 1.5)) -> Prediction:
    det = Detections(np.tile([[0.0, 0.0, 8.0, 8.0]], (n, 1)), np.full(n, 0.9), np.zeros(n, int))
    numbers = [Number(t, (0.0, 0.0, 8.0, 8.0), 0.9, ()) for t in texts]
    return Prediction(det, numbers, 640, 480, ms)


@pytest.mark.parametrize("frame, pred, item, items, expected", [
    # an image of a folder of six: its numbers in reading order, the total time
    (Frame(np.zeros(1), 0, "imgs/a.png", 0.0, 1), _pred(["42", "7"], 3), 2, 6,
     "image 2/6 imgs/a.png: 640x480, 3 digits, 2 numbers: 42 7, 6.5ms"),
    # one digit, one number: singular; the count of a .txt list's files is not known
    (Frame(np.zeros(1), 0, "b.jpg", 0.0, 1), _pred(["5"], 1), 3, None,
     "image 3 b.jpg: 640x480, 1 digit, 1 number: 5, 6.5ms"),
    # nothing read
    (Frame(np.zeros(1), 0, "c.jpg", 0.0, 1), _pred([], 0, (0.0, 0.0, 0.0)), 1, 1,
     "image 1/1 c.jpg: 640x480, no digits, 0.0ms"),
    # a video's frame, counted from 1 as yolov5 does, of a known number of frames
    (Frame(np.zeros(1), 2, "clip.mp4", 25.0, 120), _pred(["2024"], 4), 1, 2,
     "video 1/2 (frame 3/120) clip.mp4: 640x480, 4 digits, 1 number: 2024, 6.5ms"),
    # a video whose frame count the container does not give
    (Frame(np.zeros(1), 0, "clip.webm", 25.0, 0), _pred([], 0), 1, 1,
     "video 1/1 (frame 1) clip.webm: 640x480, no digits, 6.5ms"),
    # a webcam: its index and the frame number
    (Frame(np.zeros(1), 17, "0", 30.0, 0), _pred(["31"], 2), 1, 1,
     "camera 0 frame 17: 640x480, 2 digits, 1 number: 31, 6.5ms"),
    # a stream: its URL
    (Frame(np.zeros(1), 4, "rtsp://host/cam", 30.0, 0), _pred([], 0), 1, 1,
     "rtsp://host/cam frame 4: 640x480, no digits, 6.5ms"),
])
def test_frame_line(frame: Frame, pred: Prediction, item: int, items: int | None,
                    expected: str) -> None:
    assert detect.frame_line(frame, pred, item, items) == expected


def test_each_frame_is_printed_on_stdout(tmp_path: Path, weights: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "a.jpg")
    write_video(folder / "b.mp4", n=2)
    write_image(folder / "c.jpg")
    assert detect.main(cli(tmp_path, weights, "--source", str(folder), "--nosave")) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # the fake model's 4, 2 and 7 at 640x480: "42" and "7"; the video's 64x48 frames likewise
    assert lines[0] == f"image 1/3 {folder / 'a.jpg'}: 640x480, 3 digits, 2 numbers: 42 7, " \
        + lines[0].rsplit(", ", 1)[1]
    assert [ln.split(":")[0] for ln in lines] == [
        f"image 1/3 {folder / 'a.jpg'}", f"video 2/3 (frame 1/2) {folder / 'b.mp4'}",
        f"video 2/3 (frame 2/2) {folder / 'b.mp4'}", f"image 3/3 {folder / 'c.jpg'}"]
    assert re.fullmatch(r"\d+\.\dms", lines[0].rsplit(", ", 1)[1])
    assert "2 image(s), 2 video/stream frame(s)" in err and "image 1/3" not in err


def test_usage_lists_every_source_form() -> None:
    doc = detect.__doc__ or ""
    for form in ("--source 0", "img.jpg", "folder/", "'imgs/*.png'", "video.mp4", "rtsp://",
                 "list.txt"):
        assert form in doc


@pytest.mark.parametrize("extra, key, value", [
    ((), "context", True),                     # context lifting is on by default
    (("--no-context",), "context", False),     # --no-context turns it off
    ((), "deskew", None),                      # the default: a rolled photo read again level
    (("--no-deskew",), "deskew", False),       # --no-deskew reads it once, as it is
    ((), "brighten", None),                    # the default: an under-exposed page brightened
    (("--no-brighten",), "brighten", False),   # --no-brighten reads it as it is
    ((), "blur_recognizer", None),             # the recognizer's blur member: its default
    (("--no-blur-recognizer",), "blur_recognizer", False),       # turned off
    (("--blur-recognizer", "b.onnx"), "blur_recognizer", "b.onnx"),  # another one
    (("--no-recognizer",), "recognizer", False),  # the detector's own classes
    ((), "tile", "auto"),                      # big images with small digits: tiles too
    (("--tile", "640"), "tile", 640),          # --tile PX reads big ones in tiles too
    (("--tile", "0"), "tile", 0),              # --tile 0 reads every image whole
])
def test_flags_reach_the_detector(tmp_path: Path, weights: Path, extra: tuple[str, ...],
                                  key: str, value: object) -> None:
    seen: dict[str, object] = {}

    def factory(**kwargs: object) -> object:
        seen.update(kwargs)
        raise UserError("stop here")  # the settings are all this test needs

    args = detect.parse_args(cli(tmp_path, weights, "--source", "0", *extra))
    with pytest.raises(UserError, match="stop here"):
        detect.run(args, capture=lambda t: FakeCapture(t, n=1), detector_factory=factory)
    assert seen[key] == value


@pytest.mark.parametrize("size, small, extra, tiled", [
    ((2000, 1500), True, (), True),               # big, a digit 6 model px tall: tiles too
    ((2000, 1500), True, ("--tile", "0"), False),  # ... unless told to read whole
    ((640, 480), True, (), False),                # a frame: never
    ((2000, 1500), False, (), False),             # big, digits 40 model px tall: read fine
])
def test_big_images_with_small_digits_are_tiled(tmp_path: Path, weights: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                size: tuple[int, int], small: bool,
                                                extra: tuple[str, ...], tiled: bool) -> None:
    model = make_onnx(tmp_path / "small.onnx", yolo_output([(100, 100, 4, 6, 3, 0.9)])) \
        if small else weights
    img = tmp_path / "scan.png"
    page = np.full((size[1], size[0], 3), 200, np.uint8)
    page[100:130, 100:110] = 0  # a mark: a blank tile is not read (tiles.inked)
    cv2.imwrite(str(img), page)
    assert detect.main(cli(tmp_path, model, "--source", str(img), "--save-json", *extra)) == 0
    assert ("frame(s), 1 read in tiles too;" in capsys.readouterr().err) is tiled
    record = json.loads((tmp_path / "runs" / "exp" / "predictions.jsonl").read_text())
    assert (record["tiles"] > 0) is tiled
