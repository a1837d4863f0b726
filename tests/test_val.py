"""Validation metrics on hand-made cases and on a tiny split with an oracle detector."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet import mnist
from digitdet.labels import read_yolo_labels
from digitdet.results import Detections, Number, Prediction
from digitdet.synth.config import SynthConfig
from digitdet.synth.dataset import write_dataset
from digitdet.val import (
    ErrorCounts,
    average_precision,
    evaluate_split,
    format_sweep,
    map_scores,
    match_numbers,
    match_predictions,
    mnist_canvas,
    mnist_top1,
    write_failure_sheets,
)
from digitdet.val import main as val_main

from conftest import write_mnist


@pytest.mark.parametrize("recall, precision, expected", [
    ([1.0], [1.0], 1.0),                 # one perfect detection
    ([0.5, 1.0], [1.0, 1.0], 1.0),       # all correct, in two steps
    # half found, then a false positive: 0.5 up to recall 0.5, then the ultralytics-style
    # interpolation runs linearly from precision 0.5 down to 0 at recall 1: 0.5 + 0.125
    ([0.5, 0.5], [1.0, 0.5], 0.625),
    ([0.0], [0.0], 0.0),                 # nothing right
])
def test_average_precision(recall: list[float], precision: list[float], expected: float) -> None:
    assert average_precision(np.array(recall), np.array(precision)) == pytest.approx(expected, abs=0.01)


def test_match_predictions_iou_thresholds_and_classes() -> None:
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    gt_cls = np.array([1, 2])
    det = Detections(np.array([[0, 0, 10, 10], [20, 0, 30, 8], [0, 0, 10, 10]], np.float32),
                     np.array([0.9, 0.8, 0.7]), np.array([1, 2, 1]))
    tp = match_predictions(gt, gt_cls, det)
    assert tp[0].all()                       # exact box: right at every IoU threshold
    assert tp[1, :7].all() and not tp[1, 7:].any()  # IoU 0.8: right up to 0.80
    assert not tp[2].any()                   # duplicate of an already matched box


def test_map_scores_perfect_and_wrong_class() -> None:
    tp = np.ones((2, 10), bool)
    assert map_scores(tp, np.array([0.9, 0.8]), np.array([3, 4]), np.array([3, 4])) == (
        pytest.approx(1.0, abs=0.01), pytest.approx(1.0, abs=0.01))
    none = np.zeros((1, 10), bool)
    assert map_scores(none, np.array([0.9]), np.array([5]), np.array([3])) == (0.0, 0.0)


def test_match_numbers_needs_text_and_place() -> None:
    gt = [{"text": "42", "box": [0, 0, 50, 30]}, {"text": "7", "box": [100, 0, 120, 30]}]
    pred = [Number("42", (1, 0, 50, 30), 0.9, (0, 1)), Number("1", (100, 0, 120, 30), 0.9, (2,))]
    assert match_numbers(gt, pred) == 1
    moved = [Number("42", (300, 300, 350, 330), 0.9, (0, 1))]
    assert match_numbers(gt, moved) == 0


def test_mnist_canvas_layout() -> None:
    img = np.full((28, 28), 255, np.uint8)
    white = mnist_canvas(img, invert=False)
    assert white.shape == (160, 160, 3) and white[0, 0].tolist() == [0, 0, 0]
    assert white[80, 80].tolist() == [255, 255, 255]
    assert mnist_canvas(img, invert=True)[0, 0].tolist() == [255, 255, 255]


class Scripted:
    """Answers each canvas with the next scripted list of (class, score) detections."""

    def __init__(self, answers: list[list[tuple[int, float]]]) -> None:
        self.answers = list(answers)

    def predict(self, image: np.ndarray, conf: float | None = None) -> Prediction:
        rows = self.answers.pop(0)
        xyxy = np.tile(np.array([[0, 0, 10, 10]], np.float32), (len(rows), 1))
        return Prediction(Detections(xyxy, np.array([s for _, s in rows], np.float32),
                                     np.array([c for c, _ in rows], int)))


@pytest.mark.parametrize("answer, top1, found", [
    ([(3, 0.9)], 1.0, 1.0),             # right and confident
    ([(3, 0.1)], 1.0, 0.0),             # right but under the default confidence
    ([(5, 0.6), (3, 0.5)], 0.0, 0.0),   # a wrong class scores higher
    ([(5, 0.2), (3, 0.3)], 1.0, 1.0),   # the most confident one counts, not the first
    ([], 0.0, 0.0),                     # nothing found
])
def test_mnist_top1(answer: list[tuple[int, float]], top1: float, found: float) -> None:
    img = np.zeros((1, 28, 28), np.uint8)
    assert mnist_top1(Scripted([answer]), img, np.array([3]), invert=False) == (top1, found)


class Oracle:
    """Returns the ground-truth boxes of each scene, in order: a perfect detector."""

    def __init__(self, root: Path, split: str) -> None:
        self.conf, self.imgsz, self.scaleup = 0.25, 320, False
        recs = [json.loads(x) for x in (root / split / "numbers.jsonl").read_text().splitlines()]
        self.queue = []
        for rec in recs:
            xyxy, cls = read_yolo_labels(root / "labels" / split / (Path(rec["image"]).stem + ".txt"),
                                    rec["width"], rec["height"])
            self.queue.append(Detections(xyxy, np.full(len(cls), 0.9), cls))

    def predict(self, image: np.ndarray, conf: float | None = None) -> Prediction:
        return Prediction(self.queue.pop(0))


def tiny_split(tmp_path: Path) -> Path:
    """Six 320x240 test scenes made from the fake MNIST digits; returns the dataset root."""
    data = mnist.load_dir(write_mnist(tmp_path / "m"))
    cfg = SynthConfig(sizes=[[320, 240]], size_weights=[1.0], digit_height=[16.0, 60.0],
                      scenes={"test": 6}, pools={"test": ["t10k[0:40]"]}, touch_prob=0.0)
    write_dataset(data, cfg, tmp_path / "ds", tmp_path / "d.yaml", workers=1, progress=False)
    return tmp_path / "ds"


def test_evaluate_split_with_a_perfect_detector(tmp_path: Path) -> None:
    root = tiny_split(tmp_path)
    m = evaluate_split(Oracle(root, "test"), root, "test")
    assert m.images == 6 and m.digits > 20
    assert m.precision == 1.0 and m.recall == 1.0 and m.f1 == 1.0
    assert m.map50 == pytest.approx(1.0, abs=0.01) and m.map50_95 == pytest.approx(1.0, abs=0.01)
    assert m.number_accuracy == pytest.approx(1.0) and m.scene_accuracy == pytest.approx(1.0)
    assert m.errors["misread"] == 0 and m.errors["background_false_positives"] == 0
    assert all(v.startswith("1.000") or v.endswith("(0/0)") for v in m.errors["recall_by_height"].values())


class Doubtful(Oracle):
    """The oracle, but unsure of the first digit of every scene (confidence 0.2, others 0.9)."""

    def predict(self, image: np.ndarray, conf: float | None = None) -> Prediction:
        det = self.queue.pop(0)
        score = np.full(len(det), 0.9)
        score[0] = 0.2
        return Prediction(Detections(det.xyxy, score, det.class_id))


def test_conf_sweep(tmp_path: Path) -> None:
    root = tiny_split(tmp_path)
    m = evaluate_split(Doubtful(root, "test"), root, "test", conf=0.25, sweep=(0.1, 0.25, 0.5))
    low, same, high = m.sweep
    # at 0.1 every digit counts: everything read
    assert (low["conf"], low["precision"], low["recall"], low["number_accuracy"],
            low["scene_accuracy"]) == (0.1, 1.0, 1.0, 1.0, 1.0)
    # at 0.25 and 0.5 one digit per scene is lost: recall falls by 6 digits, precision stays
    # 1, and no scene is read whole (its first digit's number is cut short)
    for row in (same, high):
        assert row["precision"] == 1.0 and row["recall"] == pytest.approx(1 - 6 / m.digits)
        assert row["number_accuracy"] < 1.0 and row["scene_accuracy"] == 0.0
    # the sweep's row at the main confidence repeats the main figures
    assert (same["f1"], same["number_accuracy"]) == (m.f1, m.number_accuracy)
    assert m.scene_accuracy == same["scene_accuracy"]
    # no sweep asked: no rows
    assert evaluate_split(Oracle(root, "test"), root, "test").sweep == []


class Shadowed(Oracle):
    """The oracle's boxes a pixel taller (confidence 0.9), each shadowed by the exact box at 0.1."""

    def predict(self, image: np.ndarray, conf: float | None = None) -> Prediction:
        det = self.queue.pop(0)
        taller = det.xyxy + np.array([0, 0, 0, 1], np.float32)
        return Prediction(Detections(np.concatenate([taller, det.xyxy]),
                                     np.r_[np.full(len(det), 0.9), np.full(len(det), 0.1)],
                                     np.r_[det.class_id, det.class_id]))


def test_scores_at_the_confidence_match_only_the_kept_boxes(tmp_path: Path) -> None:
    # the 0.1 boxes fit better and win mAP's matching, but at 0.25 only the 0.9 ones are seen:
    # every digit is found there, and nothing else
    root = tiny_split(tmp_path)
    m = evaluate_split(Shadowed(root, "test"), root, "test", conf=0.25)
    assert (m.precision, m.recall, m.f1) == (1.0, 1.0, 1.0)
    assert m.map50 < 0.9  # mAP's matching gives each digit to its 0.1 box: ranked last


@pytest.mark.parametrize("rows, marked", [
    # F1 peaks at 0.3, numbers at 0.2: one star each, on their own rows
    ([(0.2, 0.8, 0.9), (0.3, 0.9, 0.85)], {"0.20": "numbers", "0.30": "f1"}),
    # ties go to the first (lowest) confidence
    ([(0.2, 0.9, 0.9), (0.3, 0.9, 0.9)], {"0.20": "both"}),
])
def test_format_sweep(rows: list[tuple[float, float, float]], marked: dict[str, str]) -> None:
    table = format_sweep([{"conf": c, "precision": 1.0, "recall": 1.0, "f1": f, "number_accuracy": n,
                           "scene_accuracy": 0.5} for c, f, n in rows]).splitlines()
    assert table[0].split() == ["conf", "precision", "recall", "F1", "numbers", "scenes"]
    for line in table[1:]:
        cells = line.split()
        star = {"f1": cells[3].endswith("*"), "numbers": cells[4].endswith("*")}
        want = marked.get(cells[0], "")
        assert star == {"f1": want in ("f1", "both"), "numbers": want in ("numbers", "both")}


@pytest.mark.parametrize("args, message", [
    (["--conf-sweep", "0.3", "1.5"], "between 0 and 1, got 1.5"),   # a sweep value out of range
    (["--conf-thres", "0"], "between 0 and 1, got 0.0"),            # the main one too
])
def test_cli_bad_confidence(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                            message: str) -> None:
    assert val_main(["--no-mnist", "--save-json", str(tmp_path / "m.json"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.val: error: confidence") and err.endswith(message)
    assert "\n" not in err and not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("bad, message", [
    # a missing --mnist-dir fails before any scene is read
    ("mnist", "MNIST folder {tmp}/nope does not exist"),
    # a dataset without the split fails before MNIST loads
    ("dataset", "{tmp}/none/test/numbers.jsonl not found: synthesize scenes first (make data)"),
    # so does a --save-json whose folder cannot be made (a file is in the way), not after the run
    ("save-json", "cannot create {tmp}/taken/runs: Not a directory"),
])
def test_cli_bad_paths_fail_first(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str,
                                  message: str) -> None:
    root = tiny_split(tmp_path / "d")
    (tmp_path / "taken").write_text("a file")
    args = {"--mnist-dir": str(tmp_path / ("nope" if bad == "mnist" else "d")),
            "--dataset": str(tmp_path / "none") if bad == "dataset" else str(root),
            "--save-json": str(tmp_path / ("taken/runs/m.json" if bad == "save-json" else "m.json"))}
    assert val_main([x for kv in args.items() for x in kv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "digitdet.val: error: " + message.format(tmp=tmp_path)
    assert not (tmp_path / "m.json").exists()


GT = np.array([[0, 0, 10, 10], [20, 0, 30, 30], [40, 0, 60, 60]], np.float32)  # 10, 30, 60 px tall


@pytest.mark.parametrize("boxes, classes, hits, misread, background, on_digits", [
    # all three found, right class: every height bucket full
    ([[0, 0, 10, 10], [20, 0, 30, 30], [40, 0, 60, 60]], [1, 2, 3], [1, 0, 1, 1], {}, {}, 0),
    # the 30-px 2 read as 7: a miss in 24-48 and one misread 2->7, no background error
    ([[0, 0, 10, 10], [20, 0, 30, 30]], [1, 7], [1, 0, 0, 0], {(2, 7): 1}, {}, 0),
    # a 1 on empty paper (a scribble): background false positive of class 1, nothing found
    ([[100, 100, 110, 130]], [1], [0, 0, 0, 0], {}, {1: 1}, 0),
    # two boxes on one digit: one hit, the duplicate of the same class counts as background
    ([[40, 0, 60, 60], [41, 0, 60, 60]], [3, 3], [0, 0, 0, 1], {}, {3: 1}, 1),
    # the lower loop of the 60-px 3 read as 0 (IoU 0.33): background, but on a digit
    ([[40, 40, 60, 60]], [0], [0, 0, 0, 0], {}, {0: 1}, 1),
])
def test_error_counts(boxes: list[list[int]], classes: list[int], hits: list[int],
                      misread: dict[tuple[int, int], int], background: dict[int, int],
                      on_digits: int) -> None:
    e = ErrorCounts()
    det = Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9), np.array(classes))
    e.add(GT, np.array([1, 2, 3]), det, scale=1.0)
    assert e.gt_by_height.tolist() == [1, 0, 1, 1]
    assert e.hit_by_height.tolist() == hits
    assert {(t, r): int(e.confusion[t, r]) for t, r in zip(*np.nonzero(e.confusion), strict=True)} == misread
    assert {c: int(n) for c, n in enumerate(e.background) if n} == background
    assert e.on_digits == on_digits and e.report()["background_on_digits"] == on_digits


def test_error_counts_scale_and_report() -> None:
    e = ErrorCounts()
    # the 60-px digit at scale 0.5 is 30 model pixels: bucket 24-48; nothing detected
    e.add(GT[2:], np.array([3]), Detections.empty(), scale=0.5)
    r = e.report()
    assert r["recall_by_height"]["24-48px"] == "0.000 (0/1)" and r["misread"] == 0


# (case, sheets an earlier run left, this run's cases per sheet, sheets there afterwards)
SHEET_CASES = [
    ("stale font sheet removed", ["font_failures.png"], {"failures.png": 1, "font_failures.png": 0},
     ["failures.png"]),
    ("both rewritten", ["failures.png", "font_failures.png"],
     {"failures.png": 5, "font_failures.png": 2}, ["failures.png", "font_failures.png"]),
    ("a perfect run leaves no sheet", ["failures.png"], {"failures.png": 0, "font_failures.png": 0},
     []),
]


@pytest.mark.parametrize("case, stale, counts, after", SHEET_CASES, ids=[c[0] for c in SHEET_CASES])
def test_write_failure_sheets(tmp_path: Path, case: str, stale: list[str], counts: dict[str, int],
                              after: list[str]) -> None:

    for name in stale:
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    one = (np.full((240, 320, 3), 255, np.uint8), Detections.empty(), {"numbers": [{"text": "42"}]})
    write_failure_sheets(tmp_path, {name: [one] * n for name, n in counts.items()})
    assert sorted(p.name for p in tmp_path.iterdir()) == after
    for name in after:  # four 400-px cells a row, as many rows as needed
        rows = -(-counts[name] // 4)
        sheet = cv2.imread(str(tmp_path / name))
        assert sheet is not None and sheet.shape == (400 * rows, 1600, 3)
