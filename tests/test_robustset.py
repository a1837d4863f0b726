"""The robustness check: photo corruptions (digitdet.corrupt) and the split read under them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet.corrupt import CORRUPTIONS, LEVELS, corrupt
from digitdet.results import Prediction
from digitdet.robustset import evaluate_corruption
from digitdet.robustset import main as robust_main
from test_val import Oracle, tiny_split


def page() -> np.ndarray:
    """A light gray 120x160 page with a dark 30x16 bar: edges for the blurs, mid-tones for the
    noise (nothing clipped at 0 or 255 by sigma 8)."""
    img = np.full((120, 160, 3), 200, np.uint8)
    img[40:70, 60:76] = 40
    return img


def change(name: str, level: int) -> float:
    out = corrupt(page(), name, level, np.random.default_rng(0))
    return float(np.abs(out.astype(np.float32) - page()).mean())


@pytest.mark.parametrize("name", list(CORRUPTIONS))  # each one, mild to severe
def test_corruption_grows_with_its_level(name: str) -> None:
    out = corrupt(page(), name, 1, np.random.default_rng(0))
    assert out.shape == page().shape and out.dtype == np.uint8
    assert 0 < change(name, 1) < change(name, 2) < change(name, 3)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_moves_no_pixel(name: str) -> None:
    # the bar's ink stays centred where it was (labels hold): the centre of what is darker than
    # halfway between the paper and the darkest, the noise smoothed out first
    raw = corrupt(page(), name, 3, np.random.default_rng(1)).astype(np.float32)[..., 1]
    out = cv2.GaussianBlur(raw, (0, 0), 2.0)
    ys, xs = np.nonzero(out < (np.median(out) + out.min()) / 2)
    assert (ys.mean(), xs.mean()) == pytest.approx((54.5, 67.5), abs=1.0)


@pytest.mark.parametrize("name, level, check", [
    # sensor noise of sigma 16: the difference's spread
    ("noise", 2, lambda d, img: abs(float(d.std()) - 16) < 1.5),
    # under-exposed to 0.3 of its brightness: the page 200 -> about 60
    ("dark", 2, lambda d, img: abs(float(np.median(img)) - 60) <= 3),
    # washed out, keeping 0.22 of the distance from white: the bar 40 -> about 208, the page
    # 200 -> about 243
    ("washout", 2, lambda d, img: abs(float(img[55, 67].mean()) - 207.7) <= 6
     and abs(float(np.median(img)) - 242.9) <= 2),
    # a glare spot as strong as washout 3 at its centre: no paper lifted more than 200 -> 248
    # (and the noise), and the lift uneven across the page, not a uniform veil
    ("glare", 3, lambda d, img: d[page() == 200].max() <= 48.4 + 8
     and np.percentile(d[page() == 200], 95) - np.percentile(d[page() == 200], 5) > 20),
    # out of focus, sigma 1: the bar's inside untouched, its edge softened
    ("defocus", 1, lambda d, img: img[55, 67, 0] == 40 and 40 < img[55, 60, 0] < 200),
])
def test_corruption_values(name: str, level: int, check: object) -> None:
    img = corrupt(page(), name, level, np.random.default_rng(0))
    assert check(img.astype(np.float32) - page(), img)  # type: ignore[operator]


def test_corruption_is_seeded() -> None:
    a, b, c = (corrupt(page(), "noise", 1, np.random.default_rng(s)) for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("args, message", [
    (("fog", 1), "unknown corruption 'fog': one of defocus, motion"),   # not a corruption
    (("noise", 0), "corruption level must be 1, 2 or 3, got 0"),        # level out of range
    (("noise", 4), "corruption level must be 1, 2 or 3, got 4"),
])
def test_corrupt_refuses(args: tuple[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corrupt(page(), *args, np.random.default_rng(0))


def test_corrupt_needs_a_colour_image() -> None:
    with pytest.raises(ValueError, match=r"\(120, 160\) uint8"):
        corrupt(page()[..., 0], "jpeg", 1, np.random.default_rng(0))


class CleanOnly(Oracle):
    """The perfect detector, but blind to any image that is not its scene as written."""

    def __init__(self, root: Path, split: str) -> None:
        super().__init__(root, split)
        self.images = sorted((root / "images" / split).iterdir())

    def predict(self, image: np.ndarray, conf: float | None = None) -> Prediction:
        det = self.queue.pop(0)
        clean = cv2.imread(str(self.images.pop(0)))
        assert clean is not None
        return Prediction(det if np.array_equal(image, clean) else det[np.zeros(len(det), bool)])


@pytest.mark.parametrize("name, f1", [
    (None, 1.0),      # as they are: read perfectly
    ("jpeg", 0.0),    # every scene changed before it is read: nothing read
    ("dark", 0.0),
])
def test_evaluate_corruption_reads_the_changed_scenes(tmp_path: Path, name: str | None,
                                                      f1: float) -> None:
    root = tiny_split(tmp_path)
    m = evaluate_corruption(CleanOnly(root, "test"), root, "test", name, 2, None)
    assert m.images == 6 and m.f1 == f1 and m.number_accuracy == f1


@pytest.mark.parametrize("args, message", [
    (["--limit", "0"], "--limit must be at least 1, got 0"),   # no scenes
    (["--dataset", "MISSING"], "MISSING"),                      # no split there
    (["--conf-thres", "1.5"], "between 0 and 1, got 1.5"),      # confidence out of range
])
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                       message: str) -> None:
    root = tiny_split(tmp_path)
    args = [str(tmp_path / "none") if a == "MISSING" else a for a in args]
    full = ["--dataset", str(root)] + args if "--dataset" not in args else args
    assert robust_main(full) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.robustset: error: ") and "\n" not in err
    assert message.replace("MISSING", "none") in err


def test_cli_reports_each_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import make_onnx, yolo_output

    root = tiny_split(tmp_path)
    weights = make_onnx(tmp_path / "m.onnx", yolo_output([]))  # finds nothing
    assert robust_main(["--weights", str(weights), "--dataset", str(root), "--corruption", "motion",
                        "jpeg", "--levels", "1", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("6 test scenes of ")
    assert [ln.split(":")[0].strip() for ln in lines[1:]] == [
        "clean", "motion 1", "motion 3", "jpeg 1", "jpeg 3"]
    assert all("F1 0.000" in ln for ln in lines[1:])  # the fake model reads nothing


def test_levels_are_three() -> None:
    assert LEVELS == (1, 2, 3)
