"""Phantom digits on photos with no digit (digitdet.photoset): counts, the CLI's report, bad input."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from digitdet.errors import UserError
from digitdet.photoset import count_boxes, main

from conftest import make_onnx, yolo_output


class Stub:
    """A detector that keeps ``counts[i]`` boxes on the i-th image it is given."""

    def __init__(self, counts: list[int]) -> None:
        self.counts = iter(counts)

    def predict(self, image: np.ndarray) -> Any:
        assert image.dtype == np.uint8 and image.ndim == 3
        return SimpleNamespace(detections=[None] * next(self.counts))


def photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"p{i}.png" for i in range(n)]
    for i, p in enumerate(paths):
        cv2.imwrite(str(p), np.full((40, 60, 3), 30 * i, np.uint8))
    return paths


@pytest.mark.parametrize("counts", [
    [0, 0],        # nothing made up
    [3, 0, 5],     # per photo, in order
])
def test_count_boxes(tmp_path: Path, counts: list[int]) -> None:
    assert count_boxes(Stub(counts), photos(tmp_path, len(counts))) == counts


def test_count_boxes_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot be read"):
        count_boxes(Stub([1]), [bad])


@pytest.mark.parametrize("dets, total", [
    ([], 0),                                                   # a model that finds nothing
    ([(160, 160, 40, 60, 1, 0.9), (60, 60, 30, 50, 0, 0.8)], 2),  # two confident boxes a photo
])
def test_cli_reports_each_photo_and_the_total(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              dets: list[tuple[float, float, float, float, int, float]],
                                              total: int) -> None:
    weights = make_onnx(tmp_path / "m.onnx", yolo_output(dets))
    photos(tmp_path / "ph", 3)
    assert main(["--photos", str(tmp_path / "ph"), "--weights", str(weights)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines[:3]] == [str(total)] * 3
    assert lines[3].startswith(f"{3 * total} boxes on 3 photos with no digits")


@pytest.mark.parametrize("argv, message", [
    (["--photos", "none/"], "no images at none/"),                    # nothing there
    (["--photos", "ph", "--conf-thres", "1.5"], "--conf-thres must lie between 0 and 1"),  # threshold
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], argv: list[str],
                                          message: str) -> None:
    monkeypatch.chdir(tmp_path)
    photos(tmp_path / "ph", 1)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("digitdet.photoset: error: ") and "\n" not in err and message in err
