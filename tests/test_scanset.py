"""The scanned-page check: A4 pages at 300 dpi of held-out numbers, read whole and in tiles."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from digitdet.results import Detections, Prediction
from digitdet.scanset import A4_300DPI, SCALES, evaluate_scans, scan_page
from digitdet.scanset import main as scan_main
from digitdet.stickset import StickPage
from test_stickset import digits28

from conftest import write_mnist


def page(scale: float, seed: int = 0) -> StickPage:
    images, labels = digits28()
    return scan_page(np.random.default_rng(seed), images, labels, scale)


@pytest.mark.parametrize("scale, blocks", [
    (1.0, 3 * 6),  # 640x480 blocks: 3 across, 6 down
    (1.5, 2 * 4),  # enlarged by 1.5: 2 across, 4 down
    (2.0, 1 * 3),  # by 2: 1 across, 3 down
])
def test_scan_page_layout(scale: float, blocks: int) -> None:
    sp = page(scale)
    assert sp.image.shape == (A4_300DPI[1], A4_300DPI[0], 3) and sp.image.dtype == np.uint8
    assert len(sp.numbers) == 4 * blocks  # four numbers a block
    assert "".join(n["text"] for n in sp.numbers) == "".join(map(str, sp.classes.tolist()))
    gray = sp.image[..., 0]
    for x1, y1, x2, y2 in sp.boxes.round().astype(int):
        assert gray[y1:y2, x1:x2].min() < 64  # the digit's ink is in its box
    # digits28's ink is 20 of 28 rows, drawn 30-50 px a side on a block, then scaled
    heights = sp.boxes[:, 3] - sp.boxes[:, 1]
    assert heights.min() >= 21 * scale - 1 and heights.max() <= 36 * scale + 1
    ink = (gray < 128).sum()
    boxed = sum(int((gray[y1:y2, x1:x2] < 128).sum()) for x1, y1, x2, y2 in sp.boxes.round().astype(int))
    assert boxed == pytest.approx(ink, rel=0.02)  # no ink outside the boxes


def test_same_seed_same_page() -> None:
    a, b, c = page(1.5, seed=3), page(1.5, seed=3), page(1.5, seed=4)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.image, c.image)


class Truth:
    """Answers each page with its ground truth at ``score``, keeping every ``keep``-th digit."""

    def __init__(self, pages: int, score: float = 0.9, keep: int = 1) -> None:
        images, labels = digits28()
        rng = np.random.default_rng(0)
        self.pages = [scan_page(rng, images, labels, SCALES[k % 3]) for k in range(pages)]
        self.score, self.keep = score, keep

    def predict(self, image: np.ndarray, tile: object = None) -> Prediction:
        sp = self.pages.pop(0)
        assert np.array_equal(sp.image, image)
        k = np.arange(len(sp.classes)) % self.keep == 0
        return Prediction(Detections(sp.boxes[k], np.full(int(k.sum()), self.score, np.float32),
                                     sp.classes[k]))


@pytest.mark.parametrize("detector, numbers, digits", [
    (Truth(3), 1.0, 1.0),             # reads every page right
    (Truth(3, score=0.2), 0.0, 0.0),  # right boxes, under the confidence
    (Truth(3, keep=2), 0.0, 0.5),     # every other digit: no number whole (all have 3-5 digits)
])
def test_evaluate_scans(detector: Truth, numbers: float, digits: float) -> None:
    images, labels = digits28()
    r = evaluate_scans(detector, images, labels, pages=3, seed=0)
    assert r["pages"] == 3 and r["numbers"] == 4 * (18 + 8 + 3)
    assert r["number_accuracy"] == numbers
    assert r["number_accuracy_by_scale"] == {1.0: numbers, 1.5: numbers, 2.0: numbers}
    assert r["digits_read"] == pytest.approx(digits, abs=0.01)
    assert r["seconds_per_page"] >= 0
    assert r["pages_tiled"] == 0 and r["tiles_per_page"] == 0  # the fake reads every page whole


@pytest.mark.parametrize("args, message", [
    (["--pages", "0"], "--pages must lie between 1 and 1000, got 0"),  # no pages
    (["--conf-thres", "1"], "between 0 and 1, got 1"),                 # confidence out of range
    (["--tile", "10"], "tile must be auto, 0 (read whole) or at least 64 pixels, got 10"),  # too small
    (["--tile", "0"], "--tile 0 reads whole, as the first line does"),  # nothing to compare
    (["--mnist-dir", "MISSING"], "does not exist"),                    # no MNIST there
])
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                       message: str) -> None:
    args = [{"MISSING": str(tmp_path / "none")}.get(a, a) for a in args]
    assert scan_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.scanset: error: ") and message in err and "\n" not in err


def test_cli_reports_whole_and_tiled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import make_onnx, yolo_output

    weights = make_onnx(tmp_path / "m.onnx", yolo_output([]))  # finds nothing
    mnist = write_mnist(tmp_path / "mnist", n_train=10, n_test=5100)
    assert scan_main(["--weights", str(weights), "--mnist-dir", str(mnist), "--pages", "1"]) == 0
    out = capsys.readouterr().out
    # an A4 page where the model finds nothing whole: the default reads it in tiles too
    assert "read whole: numbers read 0.0 % of 72, digits read 0.0 % of 291, 0 of 1 pages in tiles " \
        "(0.0 tiles read a page)" in out
    assert "auto (default): numbers read 0.0 % of 72, digits read 0.0 % of 291, 1 of 1 pages in tiles" in out
    assert "tiles of 640 px: numbers read 0.0 % of 72, digits read 0.0 % of 291, 1 of 1 pages in tiles" in out
    # the page is cut into 5 x 7 tiles of 640 px; its blank margins are not read
    read = re.search(r"tiles of 640 px: .* in tiles \(([0-9.]+) tiles read a page\)", out)
    assert read and 0 < float(read[1]) < 35


@pytest.fixture(scope="module")
def scene_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthesized test split of 640x480 scenes, with some 320x240 ones among them."""
    from digitdet import mnist
    from digitdet.synth.config import SynthConfig
    from digitdet.synth.dataset import write_dataset

    tmp = tmp_path_factory.mktemp("scenes")
    data = mnist.load_dir(write_mnist(tmp / "m"))
    cfg = SynthConfig(sizes=[[640, 480], [320, 240]], size_weights=[0.85, 0.15],
                      digit_height=[16.0, 60.0], scenes={"test": 36},
                      pools={"test": ["t10k[0:40]"]}, touch_prob=0.0)
    write_dataset(data, cfg, tmp / "ds", tmp / "d.yaml", workers=1, progress=False)
    return tmp / "ds"


def test_scene_blocks_are_the_640x480_scenes_with_their_labels(scene_split: Path) -> None:
    from digitdet.labels import split_records
    from digitdet.scanset import scene_blocks

    records = split_records(scene_split, "test")
    blocks = list(scene_blocks(scene_split, "test"))
    full = [r for r in records if (r["width"], r["height"]) == (640, 480)]
    assert 0 < len(full) < len(records)  # the fixture has both sizes: the small ones are left out
    assert len(blocks) == len(full)
    for b, r in zip(blocks, full, strict=True):
        assert b.image.shape == (480, 640, 3) and b.numbers == r["numbers"]
        assert len(b.boxes) == len(b.classes) == sum(len(n["text"]) for n in r["numbers"])


def test_scene_pages_place_the_scenes_in_order(scene_split: Path) -> None:
    from digitdet.scanset import scene_pages

    pages, alone = scene_pages(scene_split, "test", 2)
    assert [s for s, _ in pages] == [1.0, 1.5]
    assert len(alone) == 18 + 8  # 3 x 6 blocks at scale 1, 2 x 4 at 1.5
    for scale, page in pages:
        mine = [b for s, b in alone if s == scale]
        assert [n["text"] for b in mine for n in b.numbers] == [n["text"] for n in page.numbers]
        assert len(page.boxes) == sum(len(b.boxes) for b in mine)
        first = mine[0].boxes[:1] * scale + 60  # the first block's first digit, moved to (60, 60)
        assert np.allclose(page.boxes[:1], first)


def test_scene_pages_need_enough_scenes(scene_split: Path) -> None:
    from digitdet.errors import UserError
    from digitdet.scanset import scene_pages

    with pytest.raises(UserError, match="too few 640x480 scenes for 4 pages"):
        scene_pages(scene_split, "test", 4)  # 18 + 8 + 3 + 18 scenes wanted, about 31 there


class PageTruth:
    """Answers any page or scene it is given with that page's own labels."""

    def __init__(self, pages: list) -> None:
        self.by_id = {id(p.image): p for _, p in pages}

    def predict(self, image: np.ndarray, tile: object = None) -> Prediction:
        p = self.by_id[id(image)]
        return Prediction(Detections(p.boxes, np.full(len(p.classes), 0.9, np.float32), p.classes))


def test_evaluate_pages_of_scenes(scene_split: Path) -> None:
    from digitdet.scanset import evaluate_pages, scene_pages

    pages, alone = scene_pages(scene_split, "test", 2)
    page, scenes = evaluate_pages(PageTruth(pages), pages), evaluate_pages(PageTruth(alone), alone)
    # every digit found; the numbers read from the labels' own boxes (not all of a synthesized
    # scene's numbers are read back from its digit boxes) the same on the page as alone
    assert page["digits_read"] == scenes["digits_read"] == 1.0
    assert page["numbers"] == scenes["numbers"] == sum(len(b.numbers) for _, b in alone)
    assert page["number_accuracy"] == scenes["number_accuracy"] > 0.8
    assert page["number_accuracy_by_scale"] == scenes["number_accuracy_by_scale"]


def test_cli_dataset_mode(tmp_path: Path, scene_split: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import make_onnx, yolo_output

    weights = make_onnx(tmp_path / "m.onnx", yolo_output([]))  # finds nothing
    assert scan_main(["--weights", str(weights), "--dataset", str(scene_split), "--pages", "1"]) == 0
    out = capsys.readouterr().out
    for line in ("scenes alone: numbers read 0.0 %", "read whole: numbers read 0.0 %",
                 "auto (default): numbers read 0.0 %",
                 "tiles of 640 px: numbers read 0.0 %"):
        assert line in out
    assert "numbers by page scale: x1 0.0 %" in out
    assert scan_main(["--dataset", str(tmp_path / "none"), "--pages", "1"]) == 2
    assert "none/test/numbers.jsonl not found" in capsys.readouterr().err
