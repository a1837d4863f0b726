"""The hand-style checks: held-out numbers whose 1s are upright strokes or whose 7s are crossed,
and the same with MNIST's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitdet import numbers
from digitdet.results import Detections, Prediction
from digitdet.stickset import (
    APART,
    COMB_INK,
    COMB_OFF,
    StickPage,
    cross_seven_28,
    evaluate_combs,
    evaluate_sticks,
    evaluate_touching,
    stick_one_28,
    stick_page,
)
from digitdet.stickset import main as stick_main

from conftest import write_mnist


def digits28() -> tuple[np.ndarray, np.ndarray]:
    """Two of each digit: digit c is a filled block 8+c px wide (a wide 1, unlike a stick), but
    a 7 is a top bar and a 2-px stem (so a bar across it shows)."""
    images = np.zeros((20, 28, 28), np.uint8)
    labels = np.repeat(np.arange(10), 2)
    for k, c in enumerate(labels):
        if c == 7:
            images[k, 4:6, 6:22] = 255
            images[k, 6:24, 13:15] = 255
        else:
            images[k, 4:24, 6:14 + c] = 255
    return images, labels


def pages(styled: bool, n: int = 5, seed: int = 0, digit: int = 1) -> list[StickPage]:
    images, labels = digits28()
    rng = np.random.default_rng(seed)
    return [stick_page(rng, images, labels, styled, digit=digit) for _ in range(n)]


def test_stick_one_28_is_an_upright_line() -> None:
    img = stick_one_28(3)
    ys, xs = np.nonzero(img > 127)
    assert img.shape == (28, 28) and img.dtype == np.uint8
    assert ys.min() <= 4 and ys.max() >= 23        # MNIST's 20 px digit height
    assert xs.min() >= 12 and xs.max() <= 16       # a 3-px stroke down the middle


@pytest.mark.parametrize("thickness, top, bar_row", [
    (2, 4, 14),     # a 7 of MNIST's height (rows 4-23): crossed at row 14
    (3, 4, 14),     # ... with a thicker pen
    (2, 12, 18),    # a short 7 (rows 12-23): crossed lower, at 55 % of its ink, clear of its top
])
def test_cross_seven_28_adds_a_level_bar_across_the_stem(thickness: int, top: int, bar_row: int) -> None:
    seven = np.zeros((28, 28), np.uint8)
    seven[top:top + 2, 6:22] = 255   # the top bar
    seven[top + 2:24, 13:15] = 255   # the stem, 2 px wide at columns 13-14, down to row 23
    crossed = cross_seven_28(seven, thickness)
    added = (crossed > 127) & ~(seven > 127)
    ys, xs = np.nonzero(added)
    assert (crossed >= seven).all() and added.any()          # ink only added
    assert ys.min() >= bar_row - 2 and ys.max() <= bar_row + 2  # level, within 2 px of its row
    assert ys.min() > top + 3                                 # never touching the top stroke
    assert xs.min() <= 10 and xs.max() >= 17                  # about 10 px long around the stem
    assert crossed[bar_row, 9] > 127 and crossed[bar_row, 18] > 127  # ink both sides of the stem
    assert np.array_equal(cross_seven_28(np.zeros((28, 28), np.uint8), thickness),
                          np.zeros((28, 28), np.uint8))       # no stem there: nothing drawn


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


def test_crossed_seven_pages_differ_from_their_twins_only_at_the_sevens() -> None:
    crossed, twins = pages(True, digit=7), pages(False, digit=7)
    for a, m in zip(crossed, twins, strict=True):
        assert a.classes.tolist() == m.classes.tolist()             # the same digits, same places
        assert np.array_equal(a.boxes, m.boxes)                     # (the bar lies inside the 7's box)
        differ = np.nonzero((a.image != m.image).any(2))
        sevens = a.boxes[a.classes == 7]
        ys, xs = differ
        in_a_seven = np.zeros(len(ys), bool)
        for x1, y1, x2, y2 in sevens:
            in_a_seven |= (xs >= x1 - 2) & (xs < x2 + 2) & (ys >= y1 - 2) & (ys < y2 + 2)
        assert len(ys) > 0 and in_a_seven.all()          # ink added at the 7s only (2 px of blur)
    assert sum(int((p.classes == 7).sum()) for p in crossed) >= 10   # about 4 in 10 digits are 7s
    with pytest.raises(ValueError, match="featured digit is one of"):
        pages(True, digit=4)


def test_numbers_are_the_rows_of_digits() -> None:
    for page in pages(False):
        texts = [n["text"] for n in page.numbers]
        assert "".join(texts) == "".join(map(str, page.classes.tolist()))
        assert all(3 <= len(t) <= 5 for t in texts) and len(texts) == 4
        for n in page.numbers:  # a number's box holds its digits' boxes
            x1, y1, x2, y2 = n["box"]
            assert x1 < x2 and y1 < y2 and page.image[int(y1):int(y2), int(x1):int(x2)].min() == 0


class Replay:
    """Answers each page featuring ``digit`` with its ground truth at ``score``, without the
    featured digits on styled pages when ``drop_styled`` (pages come styled first, then MNIST,
    as evaluate_sticks asks)."""

    def __init__(self, n: int, score: float = 0.9, drop_styled: bool = False, digit: int = 1) -> None:
        self.truth = ([(p, True) for p in pages(True, n, digit=digit)]
                      + [(p, False) for p in pages(False, n, digit=digit)])
        self.score, self.drop, self.digit = score, drop_styled, digit

    def predict(self, image: np.ndarray) -> Prediction:
        page, styled = self.truth.pop(0)
        assert np.array_equal(page.image, image)
        keep = ~((page.classes == self.digit) & styled & self.drop)
        return Prediction(Detections(page.boxes[keep], np.full(int(keep.sum()), self.score, np.float32),
                                     page.classes[keep]))


def share_without(n: int, digit: int = 1) -> float:
    texts = [t["text"] for p in pages(True, n, digit=digit) for t in p.numbers]
    return sum(str(digit) not in t for t in texts) / len(texts)


@pytest.mark.parametrize("digit", [1, 7])
def test_the_pages_have_numbers_with_and_without_the_featured_digit(digit: int) -> None:
    assert 0.0 < share_without(5, digit) < 0.9  # so the "misses" cases below tell the two apart


@pytest.mark.parametrize("detector, styled, featured_styled", [
    (Replay(5), 1.0, 1.0),                                  # reads every page right
    (Replay(5, drop_styled=True), share_without(5), 0.0),   # misses every plain 1
    (Replay(5, score=0.2), 0.0, 0.0),                      # right boxes, under the confidence
    (Replay(5, digit=7), 1.0, 1.0),                         # crossed 7s: reads every page right
    (Replay(5, drop_styled=True, digit=7), share_without(5, 7), 0.0),  # misses every crossed 7
])
def test_evaluate_sticks(detector: Replay, styled: float, featured_styled: float) -> None:
    images, labels = digits28()
    r = evaluate_sticks(detector, images, labels, pages=5, seed=0, digit=detector.digit)
    mnist = 0.0 if detector.score < 0.25 else 1.0
    assert r["digit"] == detector.digit
    assert r["number_accuracy_styled"] == pytest.approx(styled)
    assert r["featured_read_styled"] == featured_styled
    assert r["number_accuracy_mnist"] == mnist and r["featured_read_mnist"] == mnist
    assert r["numbers_styled"] == r["numbers_mnist"] == 20
    assert r["featured_styled"] == r["featured_mnist"] > 0


@pytest.mark.parametrize("args, message", [
    (["--pages", "0"], "--pages must lie between 1 and 10000, got 0"),   # no pages
    (["--conf-thres", "0"], "between 0 and 1, got 0"),                   # confidence out of range
    (["--mnist-dir", "MISSING"], "does not exist"),                      # no MNIST there
    (["--mnist-dir", "SMALL"], "the held-out ones start at 5000"),       # MNIST without t10k 5000+
    (["--touch", "0.0", "-0.1"], "--touch needs -0.5 <= LO <= HI <= 0.1"),  # LO above HI
])
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                       message: str) -> None:
    small = write_mnist(tmp_path / "small", n_train=10, n_test=20)
    args = [{"MISSING": str(tmp_path / "none"), "SMALL": str(small)}.get(a, a) for a in args]
    assert stick_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.stickset: error: ") and message in err and "\n" not in err


def touch_pages(gap: tuple[float, float], n: int = 5) -> list[StickPage]:
    images, labels = digits28()
    rng = np.random.default_rng(0)
    return [stick_page(rng, images, labels, False, gap=gap, featured=0.0) for _ in range(n)]


def overlap(page: StickPage) -> list[float]:
    """How far each digit's box reaches over the next one's in its number, share of its height."""
    out, k = [], 0
    for num in page.numbers:
        b = page.boxes[k:k + len(num["text"])]
        out += ((b[:-1, 2] - b[1:, 0]) / (b[:-1, 3] - b[:-1, 1])).tolist()
        k += len(num["text"])
    return out


@pytest.mark.parametrize("gap, lo, hi", [
    (APART, -0.35, -0.05),        # apart: a tenth to three tenths of a height between inks
    ((-0.2, -0.1), 0.05, 0.25),   # overlapping by a tenth to a fifth
])
def test_touch_pages_set_the_gap_between_inks(gap: tuple[float, float], lo: float, hi: float) -> None:
    gaps = [g for p in touch_pages(gap) for g in overlap(p)]
    assert lo <= float(np.median(gaps)) <= hi


class ReplayPages:
    """Answers ``pages`` in turn with their ground truth at ``score``."""

    def __init__(self, pages: list[StickPage], score: float) -> None:
        self.pages, self.score = pages, score

    def predict(self, image: np.ndarray) -> Prediction:
        page = self.pages.pop(0)
        assert np.array_equal(page.image, image)
        return Prediction(Detections(page.boxes, np.full(len(page.boxes), self.score, np.float32),
                                     page.classes))


@pytest.mark.parametrize("score, read", [
    (0.9, 1.0),   # every digit boxed and read: every number on both kinds of page
    (0.2, 0.0),   # the right boxes under the confidence: none
])
def test_evaluate_touching(score: float, read: float) -> None:
    images, labels = digits28()
    truth = ReplayPages(touch_pages(APART) + touch_pages((-0.1, 0.0)), score)  # apart first
    r = evaluate_touching(truth, images, labels, (-0.1, 0.0), pages=5, seed=0)
    for kind in ("apart", "touching"):
        assert r[f"number_accuracy_{kind}"] == read and r[f"digits_read_{kind}"] == read
        assert r[f"numbers_{kind}"] == 20 and r[f"digits_{kind}"] > 60


def test_evaluate_touching_without_the_pages_apart() -> None:
    # val's second gap: only its own pages are drawn (the replay fails on a page it was not given)
    images, labels = digits28()
    truth = ReplayPages(touch_pages((-0.1, 0.0)), 0.9)
    r = evaluate_touching(truth, images, labels, (-0.1, 0.0), pages=5, seed=0, apart=False)
    assert r["number_accuracy_touching"] == 1.0 and r["numbers_touching"] == 20
    assert "numbers_apart" not in r and not truth.pages


def comb_pages(n: int = 5, seed: int = 0) -> list[StickPage]:
    images, labels = digits28()
    rng, comb = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    return [stick_page(rng, images, labels, False, featured=0.0, comb=comb) for _ in range(n)]


def test_comb_pages_write_the_same_numbers_one_digit_a_box() -> None:
    apart, combs = touch_pages(APART), comb_pages()
    for a, c in zip(apart, combs, strict=True):
        assert [n["text"] for n in a.numbers] == [n["text"] for n in c.numbers]  # same draws
        assert (c.image == COMB_INK).any() and not (a.image == COMB_INK).any()  # printed boxes
        k = 0
        for num in c.numbers:  # steps between centres: one box width, each end off by COMB_OFF
            b = c.boxes[k:k + len(num["text"])]
            steps = np.diff((b[:, 0] + b[:, 2]) / 2)
            assert steps.max() / steps.min() <= (1 + 2 * COMB_OFF) / (1 - 2 * COMB_OFF) + 0.02
            k += len(num["text"])


@pytest.mark.parametrize("score, join, apart, comb", [
    # every digit boxed and read: every number apart; in the combs, the numbers join_pitch keeps
    # whole (the test glyphs' 0s and 1s are 8-9 px of 20 wide: in the widest boxes the gaps
    # beside two of them pass PITCH_GAP_LONG)
    (0.9, True, 1.0, 0.95),
    (0.9, False, 1.0, 0.3),   # without join_pitch, most combs split
    (0.2, True, 0.0, 0.0),    # the right boxes under the confidence: none
])
def test_evaluate_combs(monkeypatch: pytest.MonkeyPatch, score: float, join: bool, apart: float,
                        comb: float) -> None:
    if not join:
        monkeypatch.setattr(numbers, "join_pitch", lambda boxes, chains, **kw: chains)
    images, labels = digits28()
    replay = ReplayPages(touch_pages(APART) + comb_pages(), score)
    r = evaluate_combs(replay, images, labels, pages=5, seed=0)
    assert (r["number_accuracy_apart"], r["number_accuracy_comb"]) == (apart, comb)
    assert r["digits_read_comb"] == (1.0 if score > 0.25 else 0.0)
    assert r["numbers_apart"] == r["numbers_comb"] == 20
    assert not replay.pages  # both kinds drawn, apart first


def test_evaluate_combs_without_the_pages_apart() -> None:
    # val reads the pages apart once, with its touching pages: only the comb pages are drawn
    images, labels = digits28()
    replay = ReplayPages(comb_pages(), 0.9)
    r = evaluate_combs(replay, images, labels, pages=5, seed=0, apart=False)
    assert r["number_accuracy_comb"] == 0.95 and r["numbers_comb"] == 20
    assert "numbers_apart" not in r and not replay.pages
