"""evaluate_fonts: per-font number accuracy from a scripted detector (no model, no system fonts)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from digitdet.fontset import evaluate_fonts, make_font_scene
from digitdet.results import Detections, Prediction


def _font(tmp_path: Path, name: str) -> str:
    """A copy of matplotlib's DejaVu Sans (installed with ultralytics) under another file name."""
    import matplotlib

    src = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
    dst = tmp_path / name
    shutil.copyfile(src, dst)
    return str(dst)


class _Scripted:
    """Returns, scene after scene, the detections it was given (the same rng order as evaluate_fonts)."""

    def __init__(self, answers: list[Detections]) -> None:
        self.answers = iter(answers)

    def predict(self, image: np.ndarray) -> Prediction:
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
