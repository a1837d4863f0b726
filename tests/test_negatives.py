"""Background scenes from photos with no digits (digitdet.negatives): shapes, determinism, layout, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from digitdet.errors import UserError
from digitdet.negatives import MIN_SIDE, main, negative_scene, photo_paths, read_photos, write_negatives


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A random colour 'photo' of ``h x w`` pixels."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def save(folder: Path, name: str, img: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), img)
    return folder / name


@pytest.mark.parametrize("shape", [
    (MIN_SIDE, MIN_SIDE),   # the smallest photo allowed: every crop is the whole photo
    (101, 99),              # odd sides
    (480, 640),             # a landscape camera frame
    (1200, 300),            # a tall narrow photo
])
def test_scene_is_a_landscape_or_portrait_frame(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    sizes = set()
    for _ in range(40):
        scene, quality = negative_scene([photo(*shape)], rng)
        assert scene.dtype == np.uint8 and scene.shape[2] == 3
        sizes.add(scene.shape[:2])
        assert 60 <= quality <= 94
    assert sizes == {(480, 640), (640, 480)}  # 40 draws at 3:1 give both


def test_gray_scenes_have_equal_channels() -> None:
    rng = np.random.default_rng(1)
    scenes = [negative_scene([photo(64, 64)], rng)[0] for _ in range(60)]
    gray = [s for s in scenes if (s[..., 0] == s[..., 1]).all() and (s[..., 1] == s[..., 2]).all()]
    assert 5 <= len(gray) <= 35  # about a third of 60 turned gray; a random colour photo never is


def test_same_seed_same_files(tmp_path: Path) -> None:
    photos = [photo(90, 120, 1), photo(200, 150, 2)]
    a = write_negatives(photos, tmp_path / "a", 6, np.random.default_rng(5))
    b = write_negatives(photos, tmp_path / "b", 6, np.random.default_rng(5))
    write_negatives(photos, tmp_path / "c", 6, np.random.default_rng(6))
    assert a == b
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    differ = [(tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes()
              for f in files if f.suffix == ".jpg"]
    assert any(differ)  # another seed draws other scenes


def test_layout_matches_synth(tmp_path: Path) -> None:
    records = write_negatives([photo(100, 100)], tmp_path, 3, np.random.default_rng(0))
    images = sorted((tmp_path / "images" / "train").iterdir())
    labels = sorted((tmp_path / "labels" / "train").iterdir())
    assert [p.name for p in images] == ["neg_00000.jpg", "neg_00001.jpg", "neg_00002.jpg"]
    assert [p.name for p in labels] == ["neg_00000.txt", "neg_00001.txt", "neg_00002.txt"]
    assert all(p.read_text() == "" for p in labels)  # no digit anywhere: empty labels
    lines = (tmp_path / "train" / "numbers.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records
    for r, p in zip(records, images, strict=True):
        img = cv2.imread(str(p))
        assert img is not None
        assert r["numbers"] == [] and (r["height"], r["width"]) == img.shape[:2]


@pytest.mark.parametrize("specs, expected", [
    (["one.png"], ["one.png"]),                     # a file
    (["dir"], ["dir/a.jpg", "dir/b.png"]),          # a folder: its images sorted, not its notes
    (["dir/*.png", "one.png"], ["dir/b.png", "one.png"]),  # a glob, then a file, in that order
])
def test_photo_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: list[str],
                     expected: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    save(tmp_path, "one.png", photo(20, 20))
    save(tmp_path / "dir", "b.png", photo(20, 20))
    save(tmp_path / "dir", "a.jpg", photo(20, 20))
    (tmp_path / "dir" / "notes.txt").write_text("not a photo")
    assert photo_paths(specs) == [Path(e) for e in expected]


def test_read_photos_rejects_small_and_unreadable(tmp_path: Path) -> None:
    small = save(tmp_path, "small.png", photo(MIN_SIDE - 1, 40))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="at least 16 px"):
        read_photos([small])
    with pytest.raises(UserError, match="cannot read image"):
        read_photos([broken])


def test_cli_writes_scenes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(tmp_path / "photos", "p.png", photo(60, 80))
    assert main(["--photos", str(tmp_path / "photos"), "--out", str(tmp_path / "neg"),
                 "--scenes", "4"]) == 0
    assert len(list((tmp_path / "neg" / "images" / "train").glob("*.jpg"))) == 4
    assert "wrote 4 background scenes from 1 photos" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--photos", "missing/"], "no images at missing/"),          # nothing there
    (["--photos", "empty"], "no images at empty"),                # a folder with no images
    (["--photos", "small.png"], "must be at least 16 px"),         # too small to crop
    (["--photos", "ok.png", "--scenes", "0"], "--scenes must be at least 1"),  # nothing to write
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], args: list[str],
                                          message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    save(tmp_path, "small.png", photo(8, 8))
    save(tmp_path, "ok.png", photo(32, 32))
    assert main([*args, "--out", "neg"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
    assert not (tmp_path / "neg").exists()  # nothing written on bad input
