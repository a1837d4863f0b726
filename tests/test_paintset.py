"""The paint-program check: digits' skeletons redrawn with a brush on a big canvas."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet import mnist
from digitdet.paintset import main as paint_main
from digitdet.paintset import paint_canvas, paint_glyphs

from conftest import make_onnx, write_mnist, yolo_output


def bar28() -> np.ndarray:
    """A '1': one vertical bar, 3 px wide and 20 px tall, as MNIST would have it."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 13:16] = 255
    return img


# (case, brush, invert, stroke width in px at mid-height, background, ink)
PAINT_CASES = [
    ("hairline, black on white", 3.0, True, (2, 5), 255, 0),
    ("hairline, white on black", 3.0, False, (2, 5), 0, 255),
    ("fat brush: 12 % of 700 px", 0.12, True, (80, 88), 255, 0),
]


@pytest.mark.parametrize("case, pen, invert, width, bg, ink", PAINT_CASES, ids=[c[0] for c in PAINT_CASES])
def test_paint_canvas(case: str, pen: float, invert: bool, width: tuple[int, int], bg: int,
                      ink: int) -> None:
    glyphs, labels = paint_glyphs(bar28()[None], np.array([1]))
    img = paint_canvas(glyphs[0], pen, invert)
    assert img.shape == (960, 1280, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [bg] * 3 and (img[..., 0] == ink).any()
    inked = np.nonzero(np.abs(img[480, :, 0].astype(int) - bg) > 127)[0]  # the stroke at mid-height
    assert width[0] <= len(inked) <= width[1] and abs(inked.mean() - 640) < 8
    # up to 700 px tall (a skeleton ends a little inside the digit's ends; the brush adds caps)
    rows = np.nonzero((img[:, inked, 0] != bg).any(1))[0]
    assert 0.8 * 700 <= rows.max() - rows.min() <= 700 + width[1]


def test_paint_glyphs_leave_out_digits_whose_loop_is_lost() -> None:
    ring = np.zeros((28, 28), np.uint8)
    cv2.circle(ring, (14, 14), 8, 255, 3)
    # the ring is a 0 with its loop, and a bar is a fine 1, but a bar labelled 0 has no loop
    glyphs, labels = paint_glyphs(np.stack([ring, bar28(), bar28()]), np.array([0, 1, 0]))
    assert labels.tolist() == [0, 1] and [g.label for g in glyphs] == [0, 1]


@pytest.mark.parametrize("args, message", [
    (["--canvas", "1280"], "--canvas takes WIDTHxHEIGHT"),          # no height
    (["--canvas", "0x960"], "--canvas takes WIDTHxHEIGHT"),         # zero width
    (["--height", "1000"], "canvas height 960, got 1000"),          # taller than the canvas
    (["--pen", "0"], "--pen must be positive, got 0"),              # no brush
    (["--limit", "0"], "between 1 and 5000, got 0"),                # no digits
    (["--conf-thres", "1"], "between 0 and 1, got 1"),              # confidence out of range
    (["--mnist-dir", "MISSING"], "does not exist"),                 # no MNIST there
    (["--mnist-dir", "SMALL"], "the held-out ones start at 5000"),  # MNIST without t10k 5000+
    (["--tile", "10"], "at least 64 pixels, got 10"),               # a tile too small
])
def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                       message: str) -> None:
    small = write_mnist(tmp_path / "small", n_train=10, n_test=20)
    args = [{"MISSING": str(tmp_path / "none"), "SMALL": str(small)}.get(a, a) for a in args]
    assert paint_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.paintset: error: ") and message in err and "\n" not in err


def test_cli_reports_both_polarities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a model that always answers "1" at 0.9: top-1 is the share of 1s among the kept digits
    folder = write_mnist(tmp_path / "m", n_train=10, n_test=5020)
    onnx = make_onnx(tmp_path / "one.onnx", yolo_output([(100, 100, 50, 80, 1, 0.9)]))
    data = mnist.load_dir(folder)
    _, labels = paint_glyphs(data.test_images[5000:5020], data.test_labels[5000:5020])
    share = f"{(labels == 1).mean() * 100:.1f} %"
    assert paint_main(["--weights", str(onnx), "--mnist-dir", str(folder), "--canvas", "640x480",
                       "--height", "300", "--pen", "0.05", "--limit", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{len(labels)} held-out MNIST digits, 300 px tall, 15-px brush, "
                             "640x480 canvas")
    assert out[1:] == [f"black on white: top-1 {share}, found above 0.25 {share}",
                       f"white on black: top-1 {share}, found above 0.25 {share}"]
