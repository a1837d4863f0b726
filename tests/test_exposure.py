"""Under-exposed and washed-out pages: when an image is brightened or stretched, by how much, and
what the detector then reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitdet import exposure
from digitdet.detector import DigitDetector
from digitdet.exposure import (
    CONTRAST,
    DIM_PAPER,
    MAX_GAIN,
    MAX_STRETCH,
    MIN_CONTRAST,
    PAPER,
    brighten,
    contrast,
    correct,
    gain,
    levels,
    stretch,
    stretch_factor,
)

from conftest import make_onnx, yolo_output


def page(paper: int, ink: int, shape: tuple[int, ...] = (120, 160, 3)) -> np.ndarray:
    """A page of level ``paper`` with a block of ``ink`` (a tenth of it) written on it."""
    img = np.full(shape, paper, np.uint8)
    img[40:64, 60:100] = ink
    return img


@pytest.mark.parametrize("img, expected", [
    (page(240, 20), 1.0),                          # a well-lit white page: as it is
    (page(36, 3), PAPER / 36),                     # a white page at 0.15 of its exposure
    (page(int(DIM_PAPER) - 1, 5), PAPER / 55),     # just under the dimmest training paper
    (page(int(DIM_PAPER), 5), 1.0),                # at it: as it is
    (page(10, 0), MAX_GAIN),                       # nearly black paper: the gain is capped
    (page(0, 255), 1.0),                           # a black canvas with white ink: meant dark
    (page(4, 40), 1.0),                            # dim ink on a black canvas: still a dark background
    (page(30, 90), 1.0),                           # light ink on a dark board (median under half the peak)
    (page(36, 3, (120, 160)), PAPER / 36),         # a gray image like a colour one
    (page(36, 3, (3, 3, 3)), PAPER / 36),          # smaller than the 4-px squares: judged whole
])
def test_gain(img: np.ndarray, expected: float) -> None:
    assert gain(img) == pytest.approx(expected)


@pytest.mark.parametrize("shape, hot, peak", [
    ((120, 160, 3), (5, 5), 36 + 219 / 16),        # one hot pixel: a 4x4 mean of it
    ((1024, 2048, 3), (5, 5), 36 + 219 / 64),      # a 2048-px image shrunk to 256 px: an 8x8 mean
    ((120, 160), (5, 5), 36 + 219 / 16),           # gray
])
def test_levels_average_out_single_pixels(shape: tuple[int, ...], hot: tuple[int, int], peak: float) -> None:
    img = np.full(shape, 36, np.uint8)
    img[hot] = 255
    assert levels(img) == (pytest.approx(peak, abs=1), 36.0)
    assert gain(img) == pytest.approx(PAPER / 36)  # a hot pixel does not make a dim page a dark board


def test_brighten_multiplies_in_place_of_each_pixel() -> None:
    img = page(36, 3)
    img[0, 0] = 80  # 80 * 128 / 36 clips to 255
    out = brighten(img)
    g = PAPER / 36
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert out[100, 10].tolist() == [round(36 * g)] * 3 and out[50, 80].tolist() == [round(3 * g)] * 3
    assert out[0, 0].tolist() == [255, 255, 255]
    assert img[100, 10, 0] == 36  # the input is left as it was


def test_brighten_returns_a_lit_image_itself() -> None:
    img = page(240, 20)
    assert brighten(img) is img


@pytest.mark.parametrize("img, expected", [
    (page(240, 20), (240.0, 220.0)),               # dark ink on white: how much darker
    (page(30, 200), (30.0, 170.0)),                # chalk on a board: how much lighter
    (page(250, 225), (250.0, 25.0)),               # a washed-out page
    (page(250, 225, (120, 160)), (250.0, 25.0)),   # gray like colour
    (page(200, 200), (200.0, 0.0)),                # blank
])
def test_contrast(img: np.ndarray, expected: tuple[float, float]) -> None:
    assert contrast(img) == expected


def test_contrast_ignores_a_few_stray_pixels() -> None:
    img = page(250, 225)
    img[0, :5] = 0  # 5 of 19,200 pixels, under the 0.05 % tail: noise, not ink
    assert contrast(img) == (250.0, 25.0)
    img[1, :20] = 0  # 25 black pixels: over the tail, ink
    assert contrast(img) == (250.0, 250.0)


def test_contrast_of_a_big_photo_keeps_thin_ink() -> None:
    img = np.full((3000, 4000, 3), 250, np.uint8)
    img[1000:2000:50, 500:3500] = 225  # 20 rules 1 px thick: shrunk 4x, a quarter as dark
    assert contrast(img) == (250.0, pytest.approx(25 / 4, abs=1))


@pytest.mark.parametrize("img, expected", [
    (page(240, 20), 1.0),                                   # a well-lit page: as it is
    (page(250, 250 - int(MIN_CONTRAST)), 1.0),              # at the bar: as it is
    (page(250, 250 - int(MIN_CONTRAST) + 1), CONTRAST / 31),  # just under it: stretched
    (page(250, 225), CONTRAST / 25),                        # washed out
    (page(250, 245), MAX_STRETCH),                          # nearly blank: the factor is capped
    (page(30, 50), CONTRAST / 20),                          # faint chalk on a board: stretched too
])
def test_stretch_factor(img: np.ndarray, expected: float) -> None:
    assert stretch_factor(img)[1] == pytest.approx(expected)


def test_stretch_moves_levels_from_the_median_in_place() -> None:
    img = page(250, 225)
    img[0, 0] = 255  # 250 + 5 * 128 / 25 clips to 255
    img[0, 1] = 120  # far darker than the ink: clips to 0, not folded back up
    f = CONTRAST / 25
    out = stretch(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert out[100, 10].tolist() == [250] * 3 and out[50, 80].tolist() == [round(250 - 25 * f)] * 3
    assert out[0, 0].tolist() == [255] * 3 and out[0, 1].tolist() == [0] * 3
    assert img[50, 80, 0] == 225  # the input is left as it was


@pytest.mark.parametrize("img, same", [
    (page(240, 20), True),   # neither dim nor washed out: the image itself
    (page(36, 3), False),    # dim: brightened
    (page(250, 225), False),  # washed out: stretched
])
def test_correct_returns_an_untouched_image_itself(img: np.ndarray, same: bool) -> None:
    assert (correct(img) is img) is same


def test_correct_brightens_then_stretches() -> None:
    # a dim page whose ink is faint too: brightened to PAPER, then still under the bar, stretched
    img = page(40, 36)
    lit = brighten(img)
    assert lit[100, 10, 0] == 128 and lit[50, 80, 0] == round(36 * PAPER / 40)
    assert correct(img).tolist() == stretch(lit).tolist() and stretch(lit) is not lit


class Spy:
    """Wraps a backend and keeps the median of each input it is given (the page, not the border),
    or of the rows and columns ``region`` of its first channel."""

    def __init__(self, backend: object, region: tuple[slice, slice] | None = None) -> None:
        self.backend = backend
        self.region = region
        self.levels: list[float] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.backend, name)

    def __call__(self, blob: np.ndarray) -> object:
        seen = blob if self.region is None else blob[(0, 0, *self.region)]
        self.levels.append(float(np.median(seen)))
        return self.backend(blob)  # type: ignore[operator]


@pytest.mark.parametrize("setting, seen", [
    (True, PAPER / 255),    # the model reads the page brightened
    (False, 36 / 255),      # --no-brighten: as it is
])
def test_detector_reads_an_under_exposed_page_brightened(tmp_path: Path, setting: bool, seen: float) -> None:
    weights = make_onnx(tmp_path / "m.onnx", yolo_output([(100, 80, 30, 40, 3, 0.9)]))
    d = DigitDetector(weights, brighten=setting)
    spy = Spy(d.backend)
    d.backend = spy  # type: ignore[assignment]
    p = d.predict(page(36, 3, (240, 320, 3)))
    assert spy.levels == [pytest.approx(seen, abs=1 / 255)]
    # the model's box comes back in the image's pixels either way (less the letterbox's 8-px top border)
    assert p.detections.xyxy.tolist() == [[85.0, 52.0, 115.0, 92.0]] and p.detections.class_id.tolist() == [3]


@pytest.mark.parametrize("setting, ink", [
    (True, 250 - CONTRAST),   # the model reads the page stretched
    (False, 225),              # --no-brighten: as it is
])
def test_detector_reads_a_washed_out_page_stretched(tmp_path: Path, setting: bool, ink: float) -> None:
    weights = make_onnx(tmp_path / "m.onnx", yolo_output([(100, 80, 30, 40, 3, 0.9)]))
    d = DigitDetector(weights, brighten=setting)
    spy = Spy(d.backend, region=(slice(45, 70), slice(70, 90)))  # inside the ink block
    d.backend = spy  # type: ignore[assignment]
    d.predict(page(250, 225, (240, 320, 3)))
    assert spy.levels == [pytest.approx(ink / 255, abs=1 / 255)]


@pytest.mark.parametrize("recognizer, setting, on", [
    (None, None, True),    # the shipped pipeline (with its recognizer)
    (None, False, False),  # --no-brighten
    (False, None, False),  # the detector alone: as ultralytics reads
    (False, True, True),   # ... unless asked
])
def test_brighten_default(recognizer: bool | None, setting: bool | None, on: bool) -> None:
    assert DigitDetector(recognizer=recognizer, brighten=setting).brighten is on


@pytest.mark.parametrize("argv, expected", [
    ([], None),                  # the detector's default
    (["--no-brighten"], False),  # turned off
])
def test_flag(argv: list[str], expected: bool | None) -> None:
    import argparse

    p = argparse.ArgumentParser()
    exposure.add_arguments(p)
    assert exposure.from_arguments(p.parse_args(argv)) is expected
