"""The plain-1 check: held-out numbers whose 1s are upright strokes, and the same with MNIST 1s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitdet.results import Detections, Prediction
from digitdet.stickset import StickPage, evaluate_sticks, stick_one_28, stick_page
from digitdet.stickset import main as stick_main

from conftest import write_mnist


def digits28() -> tuple[np.ndarray, np.ndarray]:
    """Two of each digit: digit c is a filled block 8+c px wide (a wide 1, unlike a stick)."""
    images = np.zeros((20, 28, 28), np.uint8)
    labels = np.repeat(np.arange(10), 2)
    for k, c in enumerate(labels):
        images[k, 4:24, 6:14 + c] = 255
    return images, labels


def pages(plain: bool, n: int = 5, seed: int = 0) -> list[StickPage]:
    images, labels = digits28()
    rng = np.random.default_rng(seed)
    return [stick_page(rng, images, labels, plain) for _ in range(n)]


def test_stick_one_28_is_an_upright_line() -> None:
    img = stick_one_28(3)
    ys, xs = np.nonzero(img > 127)
    assert img.shape == (28, 28) and img.dtype == np.uint8
    assert ys.min() <= 4 and ys.max() >= 23        # MNIST's 20 px digit height
    assert xs.min() >= 12 and xs.max() <= 16       # a 3-px stroke down the middle


def test_same_seed_same_page_and_kinds_differ_only_in_the_ones() -> None:
    plain, again, mnist_ones = pages(True), pages(True), pages(False)
    for a, b, m in zip(plain, again, mnist_ones, strict=True):
        assert np.array_equal(a.image, b.image)                     # reproducible
        assert a.classes.tolist() == m.classes.tolist()             # the same digits ...
        assert [n["text"] for n in a.numbers] == [n["text"] for n in m.numbers]
        assert all(abs(n["box"][1] - k["box"][1]) < 15 for n, k in zip(a.numbers, m.numbers, strict=True))
        ones = a.classes == 1
        # a stick is narrow (a 2-3 px line enlarged); the test's block 1s are 9 px of 28 wide
        stick_w = a.boxes[ones, 2] - a.boxes[ones, 0]
        block_w = m.boxes[ones, 2] - m.boxes[ones, 0]
        assert (stick_w < block_w).all()
    assert sum(int((p.classes == 1).sum()) for p in plain) >= 10   # about 4 in 10 digits are 1s


def test_numbers_are_the_rows_of_digits() -> None:
    for page in pages(False):
        texts = [n["text"] for n in page.numbers]
        assert "".join(texts) == "".join(map(str, page.classes.tolist()))
        assert all(3 <= len(t) <= 5 for t in texts) and len(texts) == 4
        for n in page.numbers:  # a number's box holds its digits' boxes
            x1, y1, x2, y2 = n["box"]
            assert x1 < x2 and y1 < y2 and page.image[int(y1):int(y2), int(x1):int(x2)].min() == 0


class Replay:
    """Answers each page with its ground truth at ``score``, without the 1s on plain pages when
    ``drop_plain_ones`` (pages come plain first, then MNIST, as evaluate_sticks asks)."""

    def __init__(self, n: int, score: float = 0.9, drop_plain_ones: bool = False) -> None:
        self.truth = [(p, True) for p in pages(True, n)] + [(p, False) for p in pages(False, n)]
        self.score, self.drop = score, drop_plain_ones

    def predict(self, image: np.ndarray) -> Prediction:
        page, plain = self.truth.pop(0)
        assert np.array_equal(page.image, image)
        keep = ~((page.classes == 1) & plain & self.drop)
        return Prediction(Detections(page.boxes[keep], np.full(int(keep.sum()), self.score, np.float32),
                                     page.classes[keep]))


def share_without_ones(n: int) -> float:
    texts = [t["text"] for p in pages(True, n) for t in p.numbers]
    return sum("1" not in t for t in texts) / len(texts)


def test_the_pages_have_numbers_with_and_without_ones() -> None:
    assert 0.1 < share_without_ones(5) < 0.9  # so the second case below tells the two apart


@pytest.mark.parametrize("detector, plain, ones_plain", [
    (Replay(5), 1.0, 1.0),                                  # reads every page right
    (Replay(5, drop_plain_ones=True), share_without_ones(5), 0.0),  # misses every plain 1
    (Replay(5, score=0.2), 0.0, 0.0),                      # right boxes, under the confidence
])
def test_evaluate_sticks(detector: Replay, plain: float, ones_plain: float) -> None:
    images, labels = digits28()
    r = evaluate_sticks(detector, images, labels, pages=5, seed=0)
    mnist = 0.0 if detector.score < 0.25 else 1.0
    assert r["number_accuracy_plain"] == pytest.approx(plain)
    assert r["ones_read_plain"] == ones_plain
    assert r["number_accuracy_mnist"] == mnist and r["ones_read_mnist"] == mnist
    assert r["numbers_plain"] == r["numbers_mnist"] == 20 and r["ones_plain"] == r["ones_mnist"] > 0


@pytest.mark.parametrize("args, message", [
    (["--pages", "0"], "--pages must lie between 1 and 10000, got 0"),   # no pages
    (["--conf-thres", "0"], "between 0 and 1, got 0"),                   # confidence out of range
    (["--mnist-dir", "MISSING"], "does not exist"),                      # no MNIST there
    (["--mnist-dir", "SMALL"], "the held-out ones start at 5000"),       # MNIST without t10k 5000+
])
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                       message: str) -> None:
    small = write_mnist(tmp_path / "small", n_train=10, n_test=20)
    args = [{"MISSING": str(tmp_path / "none"), "SMALL": str(small)}.get(a, a) for a in args]
    assert stick_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.stickset: error: ") and message in err and "\n" not in err
