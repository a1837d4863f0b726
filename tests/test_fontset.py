"""evaluate_fonts: per-font number accuracy from a scripted detector (no model, no system fonts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitdet.fontset import evaluate_fonts, make_font_scene
from digitdet.results import Detections, Prediction

from conftest import copy_dejavu


def _font(tmp_path: Path, name: str) -> str:
    return copy_dejavu(tmp_path / name)


class _Scripted:
    """Returns, scene after scene, the detections it was given (the same rng order as evaluate_fonts)."""

    def __init__(self, answers: list[Detections]) -> None:
        self.answers = iter(answers)
        self.conf = 0.25

    def predict(self, image: np.ndarray, conf: float | None = None) -> Prediction:
        return Prediction(next(self.answers), width=image.shape[1], height=image.shape[0])


def _truth(fonts: list[str], per_font: int, seed: int) -> tuple[list[Detections], list[int]]:
    """Each scene's ground truth as detections, and each font's number count."""
    rng = np.random.default_rng(seed)
    out, counts = [], []
    for font in fonts:
        counts.append(0)
        for _ in range(per_font):
            s = make_font_scene(rng, font)
            out.append(Detections(s.boxes, np.full(len(s.boxes), 0.9, np.float32), s.classes))
            counts[-1] += len(s.numbers)
    return out, counts


# (case, answer for font a, answer for font b, expected accuracy a, expected accuracy b)
CASES = [
    ("reads every number", "truth", "truth", 1.0, 1.0),  # the ground truth back: all numbers exact
    ("sees nothing", "empty", "empty", 0.0, 0.0),  # no detections: no number read
    ("one font blind", "truth", "empty", 1.0, 0.0),  # each font keeps its own tally
]


@pytest.mark.parametrize("case,ans_a,ans_b,acc_a,acc_b", CASES, ids=[c[0] for c in CASES])
def test_number_accuracy_by_font(tmp_path: Path, case: str, ans_a: str, ans_b: str,
                                 acc_a: float, acc_b: float) -> None:
    fonts = [_font(tmp_path, "a.ttf"), _font(tmp_path, "b.ttf")]
    truth, (n_a, n_b) = _truth(fonts, 2, seed=3)
    answers = [t if (ans_a if i < 2 else ans_b) == "truth" else Detections.empty()
               for i, t in enumerate(truth)]
    report = evaluate_fonts(_Scripted(answers), per_font=2, seed=3, fonts=fonts)
    assert report["number_accuracy_by_font"] == {"a.ttf": acc_a, "b.ttf": acc_b}
    assert report["numbers"] == n_a + n_b
    assert report["number_accuracy"] == pytest.approx((acc_a * n_a + acc_b * n_b) / (n_a + n_b))
    assert report["images"] == 4


def test_no_fonts_is_skipped() -> None:
    assert evaluate_fonts(_Scripted([]), fonts=[]) == {"skipped": "no handwriting fonts installed"}


def test_confidence_sweep_on_fonts(tmp_path: Path) -> None:
    fonts = [_font(tmp_path, "a.ttf"), _font(tmp_path, "b.ttf")]
    truth, (n_a, n_b) = _truth(fonts, 2, seed=3)
    # font a read at 0.9, font b's digits only at 0.2 (under the detector's 0.25)
    answers = [t if i < 2 else Detections(t.xyxy, np.full(len(t), 0.2, np.float32), t.class_id)
               for i, t in enumerate(truth)]
    report = evaluate_fonts(_Scripted(answers), per_font=2, seed=3, fonts=fonts, sweep=(0.1, 0.5))
    low, high = report["sweep"]
    # at 0.1 every number of both fonts; at 0.5 only font a's, with no false positive
    assert (low["conf"], low["number_accuracy"], low["recall"]) == (0.1, 1.0, 1.0)
    assert high["number_accuracy"] == pytest.approx(n_a / (n_a + n_b)) and high["precision"] == 1.0
    # the main figures are counted at the detector's own confidence (0.25): font b is not read
    assert report["number_accuracy_by_font"] == {"a.ttf": 1.0, "b.ttf": 0.0}
    assert report["number_accuracy"] == high["number_accuracy"]
    # no sweep asked: no rows
    assert evaluate_fonts(_Scripted(truth), per_font=2, seed=3, fonts=fonts)["sweep"] == []


# (case, answer for font a, answer for font b, fonts whose first misread scene is kept)
FAILURE_CASES = [
    ("all read", "truth", "truth", []),  # nothing read wrong: no failure kept
    ("one font blind", "truth", "empty", ["b.ttf"]),  # only the font that failed
    ("both blind", "empty", "empty", ["a.ttf", "b.ttf"]),  # one scene per font, not per scene
]


@pytest.mark.parametrize("case,ans_a,ans_b,expected", FAILURE_CASES, ids=[c[0] for c in FAILURE_CASES])
def test_font_failures_one_per_font(tmp_path: Path, case: str, ans_a: str, ans_b: str,
                                    expected: list[str]) -> None:
    fonts = [_font(tmp_path, "a.ttf"), _font(tmp_path, "b.ttf")]
    truth, _ = _truth(fonts, 2, seed=3)
    answers = [t if (ans_a if i < 2 else ans_b) == "truth" else Detections.empty()
               for i, t in enumerate(truth)]
    failures: list = []
    evaluate_fonts(_Scripted(answers), per_font=2, seed=3, fonts=fonts, failures=failures)
    assert [rec["font"] for _, _, rec in failures] == expected
    rng = np.random.default_rng(3)
    first = make_font_scene(rng, fonts[0])  # font a's first scene, the one kept when a fails
    for image, det, rec in failures:
        assert len(det) == 0 and rec["numbers"]  # what was read (nothing) and the truth
        if rec["font"] == "a.ttf":
            assert np.array_equal(image, first.image)


def test_npm_fonts_split() -> None:
    # tools/npm_fonts.sh fetches 55 fonts; every third by name is held out, and the npm training
    # config names exactly the other 36, so no held-out font is trained on and none is forgotten
    import re

    from digitdet.fontset import NPM_HELD_OUT
    from digitdet.synth.config import read_synth_settings

    root = Path(__file__).resolve().parents[1]
    script = (root / "tools" / "npm_fonts.sh").read_text()
    names = sorted(re.search(r'names="([^"]+)"', script).group(1).split())  # type: ignore[union-attr]
    assert len(names) == 55 and tuple(names[::3]) == NPM_HELD_OUT
    fonts = read_synth_settings(root / "configs" / "synth-npmfonts.yaml")["fonts"]
    trained = sorted(re.sub(r"-(latin-)?\*\.woff$", "", Path(p).name) for p in fonts
                     if p.startswith("truetype/fontsource/"))
    assert trained == [n for n in names if n not in NPM_HELD_OUT]


@pytest.mark.parametrize("seed", [
    3,  # numbers starting far enough in for a word before them, and some not
    11,  # another draw of fonts, sizes and inks
])
def test_words_beside_the_numbers_leave_the_digits_as_they_are(tmp_path: Path, seed: int) -> None:
    font = _font(tmp_path, "a.ttf")
    plain_rng, word_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    words = np.random.default_rng(9)
    got = numbers = 0
    for _ in range(4):
        plain = make_font_scene(plain_rng, font)
        worded = make_font_scene(word_rng, font, words=words)
        # the same digits, boxes and numbers: the words come from their own generator
        assert np.array_equal(plain.boxes, worded.boxes) and np.array_equal(plain.classes, worded.classes)
        assert plain.numbers == worded.numbers
        # every number got a word: ink outside every digit box, in each number's own rows
        differs = np.abs(plain.image.astype(int) - worded.image.astype(int)).max(2) > 40
        inside = np.zeros_like(differs)
        for x1, y1, x2, y2 in plain.boxes.astype(int):
            inside[y1:y2, x1:x2] = True
        assert not (differs & inside).any()
        for n in plain.numbers:  # a number as wide as the image may have no room for one
            y1, y2 = int(n["box"][1]), int(n["box"][3])
            got += differs[y1:y2].sum() > 30
            side = 3 * (n["box"][3] - n["box"][1])  # room for any short word ("No.", "Tel")
            room = n["box"][0] > side or n["box"][2] < 640 - side
            assert differs[y1:y2].sum() > 30 or not room
            numbers += 1
    assert got >= 0.5 * numbers  # big numbers on a 640-px page leave little room


def test_evaluate_fonts_with_words(tmp_path: Path) -> None:
    # the words draw no digit: the same truth read back is every number, as without words
    fonts = [_font(tmp_path, "a.ttf")]
    truth, (n,) = _truth(fonts, 3, seed=5)
    report = evaluate_fonts(_Scripted(truth), per_font=3, seed=5, fonts=fonts, words=True)
    assert report["number_accuracy"] == 1.0 and report["numbers"] == n
