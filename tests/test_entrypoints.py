"""The commands as a user runs them: python -m ... and the digitdet umbrella command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from digitdet.cli import main as cli_main


@pytest.mark.parametrize("argv, message", [
    (["-m", "digitdet.detect", "--source", "no/such/file.jpg"], "not found"),           # path
    (["-m", "digitdet.detect", "--source", "x.jpg", "--weights", "w.h5"], "not found"),  # source first
    (["-m", "digitdet.synth", "--config", "missing.yaml"], "not found"),                 # config
    (["-m", "digitdet.train", "--cfg", "missing.yaml"], "not found"),                    # profile
    (["-m", "digitdet.bench", "--onnx", "missing.onnx"], "not found"),                   # bench model
    (["-m", "digitdet.bench", "--images", "none/*.jpg"], "no images match"),             # bench frames
    (["-m", "digitdet.bench", "--n", "0"], "--n must be at least 1"),                     # bench count
    (["-m", "digitdet.bench", "--frame-size", "4032"], "--frame-size takes WIDTHxHEIGHT"),  # no height
    (["-m", "digitdet.val", "--fonts-per-font", "0"], "at least 1"),                     # font sample
    (["-m", "digitdet.bench", "--recognizer", "missing.onnx"], "not found"),             # bench 2nd stage
    (["-m", "digitdet.detect", "--source", "x.jpg", "--recognizer", "r.onnx"], "not found"),  # source first
    (["-m", "digitdet.val", "--no-mnist", "--recognizer", "r.onnx"], "recognizer weights"),  # 2nd stage
    (["-m", "digitdet.bench", "--blur-recognizer", "missing.onnx"], "not found"),        # bench blur member
    (["-m", "digitdet.val", "--no-mnist", "--blur-recognizer", "b.onnx"],
     "blur recognizer weights"),                                                         # blur member
    (["-m", "digitdet.recognize_train", "--data", "d", "--epochs", "0"], "at least 1"),  # epochs
    (["-m", "digitdet.recognize_train", "--data", "none"], "not found"),                 # no scenes
    (["-m", "digitdet.recognize_train", "--data", "d", "--augment", "-1"], "at least 0"),  # augment
    (["-m", "digitdet.recognize_train", "--data", "d", "--lines", "2"], "0 to 1"),     # lines share
    (["-m", "digitdet.recognize_ensemble", "--members", "a.onnx", "b.onnx", "--output", "e.onnx"],
     "not found"),                                                                       # members
    (["-m", "digitdet.bench", "--refiner", "missing.onnx"], "not found"),                # bench boxes
    (["-m", "digitdet.val", "--no-mnist", "--refiner", "b.onnx"], "refiner weights"),    # box refiner
    (["-m", "digitdet.refine_train", "--data", "d", "--epochs", "0"], "at least 1"),     # epochs
    (["-m", "digitdet.refine_train", "--data", "none"], "not found"),                    # no scenes
    # an output folder that cannot be made fails before minutes of training, not after
    (["-m", "digitdet.recognize_train", "--data", "d", "--output", "/proc/digitdet/r.onnx"],
     "error: /proc/digitdet: No such file or directory"),
    (["-m", "digitdet.refine_train", "--data", "d", "--output", "/proc/digitdet/r.onnx"],
     "error: /proc/digitdet: No such file or directory"),
    (["-m", "digitdet.serve", "--port", "70000"], "--port must lie between 0 and 65535"),  # port
    (["-m", "digitdet.scanset", "--tile", "8"], "or at least 64 pixels, got 8"),       # scan tiles
    (["-m", "digitdet.cli", "scanset", "--pages", "0"], "--pages must lie between 1"),  # umbrella
    (["-m", "digitdet.robustset", "--dataset", "none"], "none"),                       # no split
    (["-m", "digitdet.cli", "robustset", "--limit", "0"], "--limit must be at least 1"),  # umbrella
    (["-m", "digitdet.cli", "negatives", "--photos", "none/", "--out", "n"], "no images at none/"),  # photos
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    err = proc.stderr.strip()
    assert proc.returncode == 2, err
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),        # usage
    (["nonsense"], 2),      # unknown command
    ([], 0),                # no command: usage
])
def test_umbrella_command(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(argv) == code
    out = capsys.readouterr()
    assert "usage: digitdet {detect,serve,synth,train" in out.out + out.err


@pytest.mark.parametrize("ips, median, low, high", [
    ([80.0], 80.0, 80.0, 80.0),                # one round
    ([70.0, 90.0, 80.0], 80.0, 70.0, 90.0),    # median, not mean or best, with the range
    ([60.0, 100.0], 80.0, 60.0, 100.0),        # even count: middle of the two
])
def test_bench_reports_the_median_round(ips: list[float], median: float, low: float,
                                        high: float) -> None:
    from digitdet.bench import Timing, median_of

    t = median_of([Timing("x", v, 1.0, 10.0 + i, 2.0) for i, v in enumerate(ips)])
    assert (t.images_per_s, t.low, t.high) == (median, low, high)
    assert t.inf_ms == pytest.approx(10.0 + (len(ips) - 1) / 2)  # ms split: mean over rounds


@pytest.mark.parametrize("sizes, want, n, shape", [
    ([(640, 480), (320, 240), (640, 480)], (640, 480), 5, [(480, 640, 3)] * 2),  # only exact sizes
    ([(640, 480)] * 3, (640, 480), 2, [(480, 640, 3)] * 2),                       # at most n
    ([(640, 480), (320, 240)], (4032, 3024), 5, [(3024, 4032, 3)] * 2),          # none fit: resized
])
def test_bench_frames_have_the_asked_size(tmp_path: Path, sizes: list[tuple[int, int]],
                                          want: tuple[int, int], n: int,
                                          shape: list[tuple[int, int, int]]) -> None:
    import cv2
    import numpy as np

    from digitdet.bench import load_frames

    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((h, w, 3), 40 * i, np.uint8))
    frames = load_frames(str(tmp_path / "*.png"), n, want)
    assert [f.shape for f in frames] == shape


@pytest.mark.parametrize("name, module", [
    ("DigitDetector", "digitdet.detector"),   # the one class most users need
    ("Detections", "digitdet.results"),       # results, for type hints
    ("Prediction", "digitdet.results"),
    ("Number", "digitdet.results"),
])
def test_top_level_names_are_lazy(name: str, module: str) -> None:
    # importing the package imports nothing heavy; the name imports its module on first use
    code = ("import sys, digitdet; before = {'cv2', 'onnxruntime', 'torch'} & set(sys.modules); "
            f"obj = digitdet.{name}; import {module} as m; "
            f"print(sorted(before), obj is m.{name}, '{module}' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["[]", "True", "True"], proc.stderr


def test_unknown_top_level_name() -> None:
    import digitdet

    with pytest.raises(AttributeError, match="no attribute 'Detector'"):
        digitdet.Detector  # noqa: B018
