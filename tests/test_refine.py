"""The second-stage box refiner: crop geometry, crops, the detector with a hand-made refiner
ONNX, mining, training and export."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet.detector import DigitDetector
from digitdet.errors import UserError
from digitdet.refine import (
    MARGIN,
    SIZE,
    Refiner,
    crop_boxes,
    crop_geometry,
    crop_square,
    from_crop,
    standardize,
    to_crop,
)

from conftest import make_crop_model, make_onnx, yolo_output

# the detector test's fake scene: a '4' and a '2' side by side, and a lone '7' (letterboxed px)
ROWS = [(100, 108, 20, 40, 4, 0.9), (126, 108, 20, 40, 2, 0.8), (280, 200, 20, 40, 7, 0.7)]


def make_refiner(path: Path, frac: list[float]) -> Path:
    """A refiner ONNX whose output is always the box ``frac`` (4 fractions of the crop)."""
    return make_crop_model(path, SIZE, "boxes", frac)


@pytest.mark.parametrize("box, geom", [
    ((10, 20, 30, 60), (-13, 7, 66)),       # tall: side from the height, 40 * 1.6 + 2
    ((0, 0, 50, 10), (-16, -36, 82)),       # wide: side from the width, 50 * 1.6 + 2
    ((5, 5, 5, 5), (4, 4, 2)),              # empty box: the 2-px floor
])
def test_crop_geometry(box: tuple[float, ...], geom: tuple[float, ...]) -> None:
    got = crop_geometry(np.array([box], np.float32))
    assert got.shape == (1, 3) and got.dtype == np.float32
    assert np.allclose(got[0], geom)


@pytest.mark.parametrize("boxes", [
    [[10, 20, 30, 60]],                         # one box
    [[0.5, 0.25, 101.5, 99.75], [3, 4, 9, 5]],  # odd sizes and fractions
])
def test_to_crop_and_back(boxes: list[list[float]]) -> None:
    xyxy = np.array(boxes, np.float32)
    geom = crop_geometry(xyxy)
    frac = to_crop(xyxy, geom)
    # a box is centred in its own crop and spans 1 / MARGIN of it (less the 2-px floor)
    assert np.allclose(frac[:, 0] + frac[:, 2], 1) and np.allclose(frac[:, 1] + frac[:, 3], 1)
    assert (frac[:, 2:] - frac[:, :2]).max(1) == pytest.approx(
        np.max(xyxy[:, 2:] - xyxy[:, :2], 1) / geom[:, 2], rel=1e-5)
    assert np.all((frac[:, 2:] - frac[:, :2]).max(1) < 1 / MARGIN)
    assert np.allclose(from_crop(frac, geom), xyxy, atol=1e-4)


def square_image() -> np.ndarray:
    """200x300 white BGR image with a black 20x40 rectangle at x 100-120, y 50-90."""
    img = np.full((200, 300, 3), 255, np.uint8)
    img[50:90, 100:120] = 0
    return img


@pytest.mark.parametrize("box, dark_middle, white_corner", [
    ((100, 50, 120, 90), True, True),     # the rectangle's own box: dark middle, paper around
    ((0, 0, 10, 10), False, True),        # paper, corner past the image edge (replicated)
    ((280, 180, 330, 230), False, True),  # partly outside: edges replicated, no black border
    ((900, 900, 950, 950), False, True),  # wholly outside: the nearest edge pixel
])
def test_crop_square(box: tuple[float, ...], dark_middle: bool, white_corner: bool) -> None:
    crop = crop_square(square_image(), *crop_geometry(np.array([box], np.float32))[0])
    assert crop.shape == (SIZE, SIZE) and crop.dtype == np.uint8
    assert (crop[SIZE // 2, SIZE // 2] < 50) == dark_middle
    assert (crop[0, 0] > 200) == white_corner


def test_crop_square_maps_edges_where_to_crop_says() -> None:
    # the rectangle's edges, as fractions of the crop, land on the crop's dark pixels
    img = square_image()
    box = np.array([[95, 45, 125, 95]], np.float32)  # the rectangle with 5 px of paper
    crop = crop_square(img, *crop_geometry(box)[0])
    frac = to_crop(np.array([[100, 50, 120, 90]], np.float32), crop_geometry(box))[0] * SIZE
    cols = np.flatnonzero(crop[SIZE // 2] < 128)
    rows = np.flatnonzero(crop[:, SIZE // 2] < 128)
    assert abs(cols[0] - frac[0]) <= 1 and abs(cols[-1] + 1 - frac[2]) <= 1
    assert abs(rows[0] - frac[1]) <= 1 and abs(rows[-1] + 1 - frac[3]) <= 1


def test_big_crop_keeps_a_hairline() -> None:
    # a 1-px line across a 600-px box: averaged in blocks, not skipped by the bilinear step
    img = np.full((800, 800), 255, np.uint8)
    img[:, 401] = 0
    crop = crop_square(img, *crop_geometry(np.array([[100, 100, 700, 700]], np.float32))[0])
    # side 962, 20 x 20 blocks: the line is a twentieth of its blocks, 255 - 255 / 20 = 242;
    # sampled bilinearly every 20th pixel it would be skipped, pure paper (255)
    assert crop.min() == pytest.approx(242, abs=2)


def test_crop_of_bgr_equals_crop_of_gray() -> None:
    img = square_image()
    img[120:140, 200:260] = (10, 200, 90)
    boxes = np.array([[100, 50, 120, 90], [190, 110, 270, 150]], np.float32)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(crop_boxes(img, boxes)[0], crop_boxes(gray, boxes)[0])


@pytest.mark.parametrize("crops", [
    np.full((2, SIZE, SIZE), 77, np.uint8),                                      # flat crops
    np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE)).astype(np.uint8),  # noise
])
def test_standardize(crops: np.ndarray) -> None:
    x = standardize(crops)
    assert x.shape == (len(crops), 1, SIZE, SIZE) and x.dtype == np.float32
    assert np.allclose(x.mean((1, 2, 3)), 0, atol=1e-4)
    assert np.all(np.abs(x) <= 255 / 8)  # spread floored at 8 gray levels


# ---------------------------------------------------------------- the refiner model

@pytest.mark.parametrize("frac, expected", [
    # the box's own place in its crop: unchanged
    ([0.5 - 20 / 130, 0.5 - 40 / 130, 0.5 + 20 / 130, 0.5 + 40 / 130], [[80, 60, 120, 140]]),
    # the crop's central quarter: a 65 x 65 square about the same centre
    ([0.25, 0.25, 0.75, 0.75], [[67.5, 67.5, 132.5, 132.5]]),
    # the crop's top-left quarter
    ([0.0, 0.0, 0.5, 0.5], [[35, 35, 100, 100]]),
    # an empty box: the detector's box kept
    ([0.6, 0.6, 0.4, 0.4], [[80, 60, 120, 140]]),
])
def test_refiner(tmp_path: Path, frac: list[float], expected: list[list[float]]) -> None:
    ref = Refiner(make_refiner(tmp_path / "box.onnx", frac))
    img = np.full((300, 300, 3), 200, np.uint8)
    box = np.array([[80, 60, 120, 140]], np.float32)  # 40 x 80: crop side 130, left and top 35
    got = ref(img, box)
    assert got.shape == (1, 4) and got.dtype == np.float32
    assert np.allclose(got, expected, atol=1e-3)
    assert ref(img, np.zeros((0, 4), np.float32)).shape == (0, 4)


def test_refiner_clips_to_the_image(tmp_path: Path) -> None:
    ref = Refiner(make_refiner(tmp_path / "box.onnx", [-1.0, -1.0, 5.0, 5.0]))  # crop: 33, 33, 34
    got = ref(np.zeros((100, 150), np.uint8), np.array([[40, 40, 60, 60]], np.float32))
    assert got.tolist() == [[0, 0, 150, 100]]


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return make_onnx(tmp_path / "fake.onnx", yolo_output(ROWS))


def test_detector_with_refiner(tmp_path: Path, weights: Path) -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    plain = DigitDetector(weights).predict(img).detections
    # a refiner that makes each box the central quarter of its crop (side 1.6 * 40 + 2 = 66):
    # 33 x 33 about the box's centre; classes, scores and order unchanged
    ref = make_refiner(tmp_path / "box.onnx", [0.25, 0.25, 0.75, 0.75])
    got = DigitDetector(weights, refiner=ref).predict(img).detections
    centre = (plain.xyxy[:, :2] + plain.xyxy[:, 2:]) / 2
    side = (np.max(plain.xyxy[:, 2:] - plain.xyxy[:, :2], 1) * MARGIN + 2)[:, None] / 2
    assert np.allclose(got.xyxy, np.hstack([centre - side / 2, centre + side / 2]), atol=1e-3)
    assert got.class_id.tolist() == plain.class_id.tolist()
    assert np.array_equal(got.confidence, plain.confidence)


@pytest.mark.parametrize("refiner, on", [
    (None, False),   # other weights than the shipped: no refiner unless asked
    (False, False),  # off
])
def test_refiner_default(weights: Path, refiner: bool | None, on: bool) -> None:
    assert (DigitDetector(weights, refiner=refiner).refiner is not None) == on


def test_shipped_defaults() -> None:
    # the shipped detector reads with the shipped recognizer and refiner; --no-recognizer
    # means the detector alone, boxes too
    assert DigitDetector().refiner is not None
    assert DigitDetector(recognizer=False).refiner is None


def test_missing_refiner_is_a_user_error(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(UserError, match="refiner weights .* not found"):
        DigitDetector(weights, refiner=tmp_path / "nope.onnx")


# ---------------------------------------------------------------- mining, training and export

class FixedDetector:
    """A detector stand-in that returns the same boxes for every image."""

    def __init__(self, xyxy: list[list[float]]) -> None:
        from digitdet.results import Detections

        n = len(xyxy)
        self.det = Detections(np.array(xyxy, np.float32).reshape(-1, 4), np.full(n, 0.9, np.float32),
                              np.zeros(n, np.int64))

    def predict(self, image: np.ndarray):  # noqa: ANN201 - a Prediction
        from digitdet.results import Prediction

        return Prediction(self.det, [], image.shape[1], image.shape[0])


def write_scene(root: Path, boxes: list[list[float]]) -> None:
    """One 100x100 train scene at ``root`` with digits '3' at ``boxes`` (pixels)."""
    import json

    from digitdet.labels import yolo_lines

    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "train").mkdir()
    cv2.imwrite(str(root / "images" / "train" / "a.png"), np.full((100, 100, 3), 255, np.uint8))
    lines = yolo_lines(np.array(boxes, np.float32), np.full(len(boxes), 3), 100, 100)
    (root / "labels" / "train" / "a.txt").write_text("\n".join(lines) + "\n")
    rec = {"image": "images/train/a.png", "width": 100, "height": 100, "numbers": []}
    (root / "train" / "numbers.jsonl").write_text(json.dumps(rec) + "\n")


@pytest.mark.parametrize("det, n_det", [
    ([[12, 10, 30, 40]], 1),                    # on the digit (IoU 0.75): refined onto it
    ([[10, 10, 30, 20]], 1),                    # its top third (IoU 0.33): still its box
    ([[60, 60, 90, 90], [10, 10, 14, 14]], 0),  # on paper, a sliver (IoU 0.03): neither
])
def test_mine_crops(tmp_path: Path, det: list[list[float]], n_det: int) -> None:
    from digitdet.refine_train import mine_crops

    gt: list[list[float]] = [[10, 10, 30, 40]]
    write_scene(tmp_path / "d", gt)
    x, t = mine_crops(FixedDetector(det), tmp_path / "d", "train", 5, np.random.default_rng(0))
    assert x.shape == (n_det + 1, SIZE, SIZE) and t.shape == (n_det + 1, 4)
    # each target is the digit's box in that crop: back in pixels, the label itself
    boxes = np.array(det[:n_det] + gt, np.float32)  # the jittered box's crop is not known here
    for k in range(n_det):
        assert np.allclose(from_crop(t[k:k + 1], crop_geometry(boxes[k:k + 1])), gt, atol=1e-3)
    # the jittered ground truth: a box within a few pixels of the digit's, same target
    assert 0.15 < t[-1, 0] < 0.35 and 0.65 < t[-1, 2] < 0.85


@pytest.mark.parametrize("skip, per, n_crops", [
    (0, 3, 1 + 2 + 3),  # all three scenes (1, 2 and 3 digits)
    (1, 1, 2),          # the second scene only
    (2, 5, 3),          # the last one: per runs past the end
    (3, 2, 0),          # every scene passed over: no crops
])
def test_mine_crops_skip(tmp_path: Path, skip: int, per: int, n_crops: int) -> None:
    import json

    from digitdet.labels import yolo_lines
    from digitdet.refine_train import mine_crops

    root = tmp_path / "d"
    for sub in ("images/train", "labels/train", "train"):
        (root / sub).mkdir(parents=True)
    recs = []
    for k in range(3):  # scene k holds k + 1 digits
        cv2.imwrite(str(root / "images" / "train" / f"{k}.png"), np.full((100, 100, 3), 255, np.uint8))
        boxes = np.array([[10 + 25 * i, 10, 30 + 25 * i, 40] for i in range(k + 1)], np.float32)
        (root / "labels" / "train" / f"{k}.txt").write_text(
            "\n".join(yolo_lines(boxes, np.full(k + 1, 3), 100, 100)) + "\n")
        recs.append(json.dumps({"image": f"images/train/{k}.png", "width": 100, "height": 100,
                                "numbers": []}))
    (root / "train" / "numbers.jsonl").write_text("\n".join(recs) + "\n")
    x, t = mine_crops(FixedDetector([]), root, "train", per, np.random.default_rng(0), skip)
    assert x.shape == (n_crops, SIZE, SIZE) and t.shape == (n_crops, 4)


@pytest.mark.parametrize("head", ["dense", "edges"])
def test_train_and_export_agree(tmp_path: Path, head: str) -> None:
    import onnxruntime as ort
    import torch

    from digitdet.refine_train import export_onnx, mean_iou, train_net

    rng = np.random.default_rng(0)
    x = rng.integers(200, 256, (64, SIZE, SIZE)).astype(np.uint8)
    t = np.tile(np.array([[0.2, 0.2, 0.8, 0.8]], np.float32), (64, 1))
    model = train_net(x, t, epochs=2, seed=0, width=4, batch=16, log=lambda *a, **k: None,
                      head=head)
    assert 0.0 < mean_iou(model, x[:8], t[:8]) <= 1.0
    path = export_onnx(model, tmp_path / "box.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    crops = standardize(x[:5])  # a batch of 5 though exported with 2
    got = sess.run(["boxes"], {"crops": crops})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(crops)).numpy()
    assert got.shape == (5, 4) and np.allclose(got, want, atol=1e-4)


def test_refine_train_without_torch(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # no torch (no train extra): one line and exit 2 before any crop is mined
    import sys

    from digitdet.refine_train import main

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert main(["--data", "no-such-folder"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs torch" in err


def test_edges_head() -> None:
    import torch

    from digitdet.refine_train import build_net

    net = build_net(4, "edges").eval()
    with torch.no_grad():
        # any crop: every edge strictly inside the crop (the mean of a distribution over pixels)
        out = net(torch.zeros(3, 1, SIZE, SIZE))
        assert out.shape == (3, 4) and bool(((out > 0) & (out < 1)).all())
        net.x_edges[-1].bias.copy_(torch.tensor([0.0, 0.0]))
        net.x_edges[-1].weight.zero_()
        net.y_edges[-1].weight.zero_()
        out = net(torch.zeros(1, 1, SIZE, SIZE))  # flat logits: each edge at the middle
    assert torch.allclose(out, torch.full((1, 4), 0.5), atol=1e-6)
    with pytest.raises(ValueError, match="head must be one of"):
        build_net(4, "bins")


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    import torch

    from digitdet.refine_train import build_net, load_checkpoint, save_checkpoint, train_net

    torch.manual_seed(5)  # not train_net's seed 0: its fresh weights would differ
    model = build_net(4, "dense").eval()
    path = save_checkpoint(model, 4, "dense", tmp_path / "sub" / "box.pt")
    width, head, size, state = load_checkpoint(path)
    assert (width, head, size) == (4, "dense", SIZE) and state.keys() == model.state_dict().keys()
    again = build_net(width, head).eval()
    again.load_state_dict(state)
    x = torch.randn(3, 1, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    # fine-tuning starts from those weights: a tiny rate moves them only a little
    crops = np.full((32, SIZE, SIZE), 255, np.uint8)
    t = np.tile(np.array([[0.2, 0.2, 0.8, 0.8]], np.float32), (32, 1))
    tuned = train_net(crops, t, epochs=1, seed=0, width=4, batch=16, log=lambda *a, **k: None,
                      init=state, lr=1e-9, head=head)
    w0, w1 = model.state_dict()["0.weight"], tuned.state_dict()["0.weight"]
    assert torch.allclose(w0, w1, atol=1e-6)


@pytest.mark.parametrize("content, message", [
    (b"not a checkpoint", "cannot read"),   # not a torch file at all
    (None, "cannot read"),                  # no such file
])
def test_bad_checkpoint(tmp_path: Path, content: bytes | None, message: str) -> None:
    from digitdet.refine_train import load_checkpoint

    path = tmp_path / "box.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_checkpoint(path)


def test_checkpoint_of_another_kind(tmp_path: Path) -> None:
    # a torch file that is not a refiner checkpoint (e.g. a bare state_dict)
    import torch

    from digitdet.refine_train import load_checkpoint

    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a refiner checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_edges_checkpoint_at_another_size(tmp_path: Path) -> None:
    import torch

    from digitdet.refine_train import build_net, load_checkpoint, resized_state, save_checkpoint, train_net

    torch.manual_seed(5)
    model = build_net(4, "edges").eval()
    path = save_checkpoint(model, 4, "edges", tmp_path / "box.pt")
    width, head, size, state = load_checkpoint(path)
    state = resized_state(state, head, size, 64)
    assert "pos" not in state
    # fine-tuned at 64 px from the 48-px weights (a tiny rate: they stay as they were)
    crops = np.full((32, 64, 64), 255, np.uint8)
    t = np.tile(np.array([[0.2, 0.2, 0.8, 0.8]], np.float32), (32, 1))
    tuned = train_net(crops, t, epochs=1, seed=0, width=4, batch=16, log=lambda *a, **k: None,
                      init=state, lr=1e-9, head=head)
    assert tuned.pos.shape == (64,)
    w0, w1 = model.state_dict()["s48.0.weight"], tuned.state_dict()["s48.0.weight"]
    assert torch.allclose(w0, w1, atol=1e-6)
    with torch.no_grad():
        out = tuned(torch.zeros(2, 1, 64, 64))
    assert out.shape == (2, 4)
    # a 64-px checkpoint says so
    path64 = save_checkpoint(tuned, 4, "edges", tmp_path / "box64.pt", 64)
    assert load_checkpoint(path64)[2] == 64


@pytest.mark.parametrize("size", [48, 64])
def test_refiner_reads_its_crop_side(tmp_path: Path, size: int) -> None:
    torch = pytest.importorskip("torch")
    from digitdet.refine_train import build_net, export_onnx

    torch.manual_seed(0)
    path = export_onnx(build_net(4, "edges", size).eval(), tmp_path / "r.onnx", size)
    r = Refiner(path)
    assert r.size == size
    img = np.full((100, 120, 3), 255, np.uint8)
    assert r(img, np.array([[10, 10, 30, 40]], np.float32)).shape == (1, 4)


def test_dense_checkpoint_keeps_its_size() -> None:
    from digitdet.refine_train import resized_state

    assert resized_state({"a": 1}, "dense", 48, 48) == {"a": 1}  # same size: as it was
    with pytest.raises(UserError, match="fits 48-px crops only"):
        resized_state({"a": 1}, "dense", 48, 64)


@pytest.mark.parametrize("argv, message", [
    (["--init", "missing.pt"], "cannot read refiner checkpoint"),  # checked before mining
    (["--lr", "0"], "--lr must be positive"),
    (["--skip", "-1"], "--skip must be at least 0"),
    (["--size", "50"], "--size must be a positive multiple of 8"),
])
def test_refine_train_bad_arguments(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from digitdet.refine_train import main

    assert main(["--data", "no-such-folder", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
