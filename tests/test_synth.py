"""The scene synthesizer: determinism, tight boxes, no mirroring, balance, distractors, files."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from digitdet import mnist
from digitdet.decode import box_area, box_intersection
from digitdet.errors import UserError
from digitdet.synth import scene as scene_mod
from digitdet.synth.config import SynthConfig, load_synth_config, read_synth_settings
from digitdet.synth.dataset import build_pool, iter_scenes, pool_indices, write_dataset
from digitdet.synth.glyphs import (
    FONT_HEIGHT,
    HERSHEY_FONTS,
    OPEN_LOOP,
    OPEN_LOOP_PX,
    count_holes,
    count_loops,
    font_glyph,
    hershey_glyph,
    make_glyph,
    render_natural,
    render_stroke,
    resolve_fonts,
    zhang_suen,
)

from conftest import copy_dejavu, write_mnist

SMALL = {"sizes": [[320, 240]], "size_weights": [1.0], "digit_height": [14.0, 80.0],
         "scenes": {"train": 6, "val": 2, "test": 2},
         "pools": {"train": ["train[0:50]"], "val": ["train[50:60]"], "test": ["t10k[20:40]"]}}


@pytest.fixture
def data(tmp_path: Path) -> mnist.Mnist:
    return mnist.load_dir(write_mnist(tmp_path / "m", n_train=60, n_test=40))


def clean_cfg(**kw: object) -> SynthConfig:
    """Digital white canvases only: no lighting, perspective or camera effects."""
    return SynthConfig(**{**SMALL, "surfaces": {"canvas_white": 1.0}, **kw})  # type: ignore[arg-type]


def test_same_seed_gives_identical_files_whatever_the_workers(tmp_path: Path,
                                                              data: mnist.Mnist) -> None:
    cfg = SynthConfig(**SMALL)  # type: ignore[arg-type]
    a = tmp_path / "a"
    b = tmp_path / "b"
    write_dataset(data, cfg, a, tmp_path / "a.yaml", workers=1, progress=False)
    write_dataset(data, cfg, b, tmp_path / "b.yaml", workers=2, progress=False)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name != "synth.json")
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name != "synth.json")
    assert files_a == files_b and len(files_a) == 2 * 10 + 3
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_different_seed_gives_different_images(data: mnist.Mnist) -> None:
    pool = build_pool(["train[0:60]"], data)
    a = next(iter_scenes(pool, SynthConfig(**SMALL, seed=1), "train", 1))  # type: ignore[arg-type]
    b = next(iter_scenes(pool, SynthConfig(**SMALL, seed=2), "train", 1))  # type: ignore[arg-type]
    assert a.image.shape != b.image.shape or not np.array_equal(a.image, b.image)


def test_boxes_inside_image_and_touch_ink_on_all_four_sides(data: mnist.Mnist) -> None:
    cfg = clean_cfg()
    pool = build_pool(["train[0:60]"], data)
    checked = 0
    for scene in iter_scenes(pool, cfg, "train", 12):
        h, w = scene.image.shape[:2]
        ink = scene.image.min(axis=2) < 250  # the white canvas is exactly 255
        for x1, y1, x2, y2 in scene.boxes:
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            xa, ya, xb, yb = int(x1), int(y1), int(np.ceil(x2)), int(np.ceil(y2))
            box = ink[ya:yb, xa:xb]
            assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()
            checked += 1
    assert checked > 30


@pytest.mark.parametrize("label", [2, 3, 4, 5, 7])  # digits whose mirror image is not the digit
def test_glyphs_are_never_mirrored(data: mnist.Mnist, label: int) -> None:
    idx = int(np.flatnonzero(data.train_labels == label)[0])
    glyph = make_glyph(data.train_images[idx], label)
    h, w = glyph.crop.shape
    ref = glyph.crop.astype(np.float32)
    for mask in (render_natural(glyph, h, w), render_stroke(glyph, h, w, pen=3.0)):
        same = float(np.corrcoef(mask.ravel(), ref.ravel())[0, 1])
        mirrored = float(np.corrcoef(mask[:, ::-1].ravel(), ref.ravel())[0, 1])
        assert same > mirrored + 0.05


def test_class_balance_within_20_percent(data: mnist.Mnist) -> None:
    pool = build_pool(["train[0:60]"], data)
    cfg = clean_cfg(single_prob=0.0)  # pages of numbers: plenty of digits to count
    classes = np.concatenate([s.classes for s in iter_scenes(pool, cfg, "train", 200)])
    counts = np.bincount(classes, minlength=10)
    assert counts.sum() > 2000
    assert counts.max() <= 1.2 * counts.mean() and counts.min() >= 0.8 * counts.mean()


@pytest.mark.timeout(60)
def test_layout_always_terminates(data: mnist.Mnist) -> None:
    # every scene a drawing pad with big digits, on every canvas shape: must finish quickly
    # (a narrow, tall canvas where a big digit often cannot fit used to loop forever)
    cfg = SynthConfig(**{**SMALL, "single_prob": 1.0, "sizes": [[64, 200], [160, 120]],
                         "size_weights": [1, 1]})  # type: ignore[arg-type]
    pool = build_pool(["train[0:60]"], data)
    scenes = list(iter_scenes(pool, cfg, "train", 100))
    assert sum(len(s.classes) > 0 for s in scenes) > 50


@pytest.mark.parametrize("above, below, width, clash", [
    ((100, 0.0, 20), (147, 0.0, 20), 640, 0.0),     # level lines 47 px apart: 20 + 0.35 * 20 = 27 needed
    ((100, 0.0, 20), (120, 0.0, 20), 640, 7.0),     # 20 apart: 7 px short all along
    ((100, 0.05, 20), (147, -0.05, 20), 640, 44.0),  # they cross: 47 - 0.1 * 640 = -17 at the right end
    ((100, -0.05, 20), (147, 0.05, 20), 640, 0.0),   # they part: closest at the left end, 47
    ((100, 0.0, 40), (130, 0.0, 20), 640, 4.0),     # room counts in the line above's height: 20 + 14
])
def test_line_clash(above: tuple[float, float, float], below: tuple[float, float, float], width: float,
                    clash: float) -> None:
    a, b = (scene_mod._Line(base, slope, h, 0.0) for base, slope, h in (above, below))
    assert scene_mod.line_clash(a, b, width) == pytest.approx(clash)


def test_lines_never_write_numbers_into_each_other(data: mnist.Mnist) -> None:
    # many small lines of writing on a wide page: each line's own slope used to let two lines meet
    # across it (15 of 300 test-split scenes), numbers written over numbers
    cfg = SynthConfig(**{**SMALL, "sizes": [[640, 480]], "digit_height": [14.0, 20.0],
                         "surfaces": {"white": 1.0}, "single_prob": 0.0})  # type: ignore[arg-type]
    pool = build_pool(["train[0:60]"], data)
    scenes = list(iter_scenes(pool, cfg, "train", 30))
    for scene in scenes:
        b = np.array([[*scene.boxes[n][:, :2].min(0), *scene.boxes[n][:, 2:].max(0)] for n in scene.numbers])
        area = box_area(b)
        share = box_intersection(b, b) / np.minimum(area[:, None], area[None])
        np.fill_diagonal(share, 0)
        assert share.max(initial=0) <= 0.3  # no number half inside another
    assert sum(len(s.numbers) for s in scenes) > 30 * 10  # dense pages, many lines each


@pytest.mark.parametrize("kw", [
    # printed text, tables and scribbles together
    {"text_prob": 1.0, "table_prob": 1.0, "scribble_prob": 1.0},
    # handwriting-like words alone, in the digits' own pens
    {"text_prob": 0.0, "table_prob": 0.0, "scribble_prob": 0.0, "words_prob": 1.0},
    # ... in a handwriting font (here DejaVu Sans, copied)
    {"text_prob": 0.0, "table_prob": 0.0, "scribble_prob": 0.0, "words_prob": 1.0,
     "word_font_prob": 1.0},
])
def test_distractors_get_no_box(tmp_path: Path, data: mnist.Mnist, kw: dict[str, float]) -> None:
    # no digits allowed, but the distractors are still drawn: dark ink, zero labels
    fonts = [copy_dejavu(tmp_path / "hand.ttf")]
    cfg = SynthConfig(**{**SMALL, "surfaces": {"white": 1.0}, "max_digits": 0, "single_prob": 0.0,
                         "camera_prob": 0.0, "fonts": fonts, **kw})  # type: ignore[arg-type]
    pool = build_pool(["train[0:60]"], data)
    for scene in iter_scenes(pool, cfg, "train", 4):
        assert len(scene.boxes) == 0 and scene.numbers == []
        assert (scene.image.min(axis=2) < 120).sum() > 50  # dark printed/drawn strokes exist


@pytest.mark.parametrize("font_prob", [
    0.0,  # the words before the numbers in script or italic Hershey fonts
    1.0,  # ... in a handwriting font
])
def test_words_before_numbers_are_ink_never_labels(tmp_path: Path, data: mnist.Mnist,
                                                   font_prob: float) -> None:
    # numbers alone on a white page, no decoration: the only ink outside the digits' boxes is
    # the word written before a number ("Total 42"), and only when label_prob asks for it
    fonts = [copy_dejavu(tmp_path / "hand.ttf")]
    quiet = {"surfaces": {"white": 1.0}, "camera_prob": 0.0, "single_prob": 0.0, "text_prob": 0.0,
             "table_prob": 0.0, "scribble_prob": 0.0, "separator_prob": 0.0, "underline_prob": 0.0,
             "box_prob": 0.0, "comb_prob": 0.0, "perspective_prob": 0.0, "page_edge_prob": 0.0,
             "fonts": fonts, "word_font_prob": font_prob}
    pool = build_pool(["train[0:60]"], data)

    def outside(label_prob: float) -> list[int]:
        cfg = SynthConfig(**{**SMALL, **quiet, "label_prob": label_prob})  # type: ignore[arg-type]
        counts = []
        for scene in iter_scenes(pool, cfg, "train", 4):
            ink = scene.image.min(axis=2) < 100
            for x1, y1, x2, y2 in scene.boxes.astype(int):
                ink[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2] = False
            counts.append(int(ink.sum()))
            assert all(0 <= c <= 9 for c in scene.classes)
        return counts

    plain, worded = outside(0.0), outside(1.0)
    # no words asked for: little but digits (a leading minus sign, a digit cut by the edge)
    assert max(plain) < 150
    assert min(worded) > 300 and sum(worded) > 10 * sum(plain)  # words on every page, unlabelled


def test_words_are_deterministic(tmp_path: Path, data: mnist.Mnist) -> None:
    # the same seed gives the same words, fonts and digits
    fonts = [copy_dejavu(tmp_path / "hand.ttf")]
    cfg = clean_cfg(label_prob=1.0, words_prob=1.0, word_font_prob=0.5, fonts=fonts)
    pool = build_pool(["train[0:60]"], data)
    a, b = (list(iter_scenes(pool, cfg, "train", 3)) for _ in range(2))
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes)


def test_separators_split_numbers_and_are_not_digits(data: mnist.Mnist) -> None:
    cfg = clean_cfg(separator_prob=1.0, touch_prob=0.0)
    pool = build_pool(["train[0:60]"], data)
    for scene in iter_scenes(pool, cfg, "train", 6):
        in_numbers = sorted(i for num in scene.numbers for i in num)
        assert in_numbers == list(range(len(scene.classes)))  # every label in exactly one number
        for num in scene.numbers:
            b = scene.boxes[num]
            h = float(np.median(b[:, 3] - b[:, 1]))
            gaps = b[1:, 0] - b[:-1, 2]
            assert (gaps < 0.5 * h).all()  # digits inside a number stay close together


def test_numbers_jsonl_matches_label_files(tmp_path: Path, data: mnist.Mnist) -> None:
    out = tmp_path / "ds"
    write_dataset(data, SynthConfig(**SMALL), out, tmp_path / "d.yaml", workers=1,  # type: ignore[arg-type]
                  progress=False)
    records = [json.loads(line) for line in (out / "train" / "numbers.jsonl").read_text().splitlines()]
    assert len(records) == 6
    for rec in records:
        label = out / "labels" / "train" / (Path(rec["image"]).stem + ".txt")
        rows = np.array([[float(v) for v in ln.split()] for ln in label.read_text().split("\n")
                         if ln.strip()]).reshape(-1, 5)
        w, h = rec["width"], rec["height"]
        xyxy = np.stack([(rows[:, 1] - rows[:, 3] / 2) * w, (rows[:, 2] - rows[:, 4] / 2) * h,
                         (rows[:, 1] + rows[:, 3] / 2) * w, (rows[:, 2] + rows[:, 4] / 2) * h], 1)
        assert sorted(i for n in rec["numbers"] for i in n["digits"]) == list(range(len(rows)))
        for num in rec["numbers"]:
            d = num["digits"]
            assert num["text"] == "".join(str(int(c)) for c in rows[d, 0])
            union = [xyxy[d, 0].min(), xyxy[d, 1].min(), xyxy[d, 2].max(), xyxy[d, 3].max()]
            assert np.allclose(num["box"], union, atol=1.0)


def test_data_yaml_accepted_by_ultralytics(tmp_path: Path, data: mnist.Mnist) -> None:
    from ultralytics.data.utils import check_det_dataset

    out, yml = tmp_path / "ds", tmp_path / "data" / "digits.yaml"
    write_dataset(data, SynthConfig(**SMALL), out, yml, workers=1, progress=False)  # type: ignore[arg-type]
    info = check_det_dataset(str(yml))
    assert info["nc"] == 10 and [info["names"][i] for i in range(10)] == [str(i) for i in range(10)]
    assert yaml.safe_load(yml.read_text())["test"] == "images/test"


def test_test_split_uses_only_held_out_digits(tmp_path: Path, data: mnist.Mnist) -> None:
    cfg = SynthConfig()
    src, idx = pool_indices(cfg.pools["test"][0], data)
    assert src == "t10k" and cfg.pools["test"] == ["t10k[5000:10000]"]
    for split in ("train", "val"):
        for spec in cfg.pools[split]:
            src, idx = pool_indices(spec, mnist.Mnist(*(np.zeros((10000, 28, 28), np.uint8),
                                                        np.zeros(10000, np.uint8)) * 2))
            assert src == "train" or idx.max() < 5000
    meta = tmp_path / "ds"
    write_dataset(data, SynthConfig(**SMALL), meta, tmp_path / "d.yaml", workers=1,  # type: ignore[arg-type]
                  progress=False)
    recorded = json.loads((meta / "synth.json").read_text())["config"]["pools"]
    assert recorded["test"] == ["t10k[20:40]"]  # which digits fed which split is recorded


@pytest.mark.parametrize("weights", [
    [1, 1, 1],                        # not one weight a digit
    [1, -1, 1, 1, 1, 1, 1, 1, 1, 1],  # a negative weight
    [0] * 10,                         # nothing to draw
])
def test_bad_class_weights(weights: list[float]) -> None:
    with pytest.raises(UserError, match="class_weights must be 10 weights >= 0"):
        SynthConfig(class_weights=weights).validate()


@pytest.mark.parametrize("motion_max, ok", [
    (7, True),    # synth.yaml's
    (17, True),   # synth-blur.yaml's
    (3, True),    # the shortest albumentations takes
    (8, False),   # even: a motion kernel needs a centre
    (1, False),   # no motion at all: set blur_prob instead
])
def test_motion_max_is_checked(motion_max: int, ok: bool) -> None:
    cfg = SynthConfig(motion_max=motion_max)
    if ok:
        assert cfg.validate().motion_max == motion_max
    else:
        with pytest.raises(UserError, match=f"motion_max must be odd and at least 3, got {motion_max}"):
            cfg.validate()


def test_blur_knobs_blur_the_scenes() -> None:
    from digitdet.synth.camera import apply_camera

    bars = np.full((120, 160, 3), 230, np.uint8)
    for x in range(10, 150, 20):
        bars[20:100, x:x + 4] = 20

    def edge(blur_prob: float, motion_max: int) -> float:  # median steepest step over 40 seeds
        steps = [np.percentile(np.abs(np.diff(cv2.cvtColor(apply_camera(
            np.random.default_rng(s), bars, blur_prob, motion_max), cv2.COLOR_BGR2GRAY)
            .astype(np.float32), axis=1)), 99) for s in range(40)]
        return float(np.median(steps))

    never, default, blur = edge(0.0, 7), edge(0.35, 7), edge(0.8, 17)
    assert never > 150 and default > 150  # a third blurred: most edges stay sharp
    assert blur < 0.5 * default           # synth-blur.yaml's: most smeared


def test_blur_config_is_synth_with_more_blur() -> None:
    plain = load_synth_config(ROOT / "configs" / "synth.yaml")
    blur = load_synth_config(ROOT / "configs" / "synth-blur.yaml")
    assert (plain.blur_prob, plain.motion_max) == (0.35, 7)  # the test split's, unchanged
    assert (blur.blur_prob, blur.motion_max, blur.camera_prob) == (0.8, 17, 0.95)
    assert dataclasses.replace(blur, blur_prob=0.35, motion_max=7, camera_prob=0.8) == plain


def test_roll_config_is_synth_with_every_photo_turned() -> None:
    plain = load_synth_config(ROOT / "configs" / "synth.yaml")
    roll = load_synth_config(ROOT / "configs" / "synth-roll.yaml")
    assert plain.roll_prob == 0.0  # the test split is never turned
    assert (roll.roll_prob, roll.roll) == (1.0, 15.0)
    assert dataclasses.replace(roll, roll_prob=0.0) == plain


def test_slant_config_is_synth_with_every_photo_warped_more() -> None:
    plain = load_synth_config(ROOT / "configs" / "synth.yaml")
    slant = load_synth_config(ROOT / "configs" / "synth-slant.yaml")
    assert (plain.perspective_prob, plain.perspective) == (0.4, 0.06)  # the test split's
    assert (slant.perspective_prob, slant.perspective) == (1.0, 0.15)
    assert dataclasses.replace(slant, perspective_prob=0.4, perspective=0.06) == plain


@pytest.mark.parametrize("weights, classes", [
    ([0, 1, 0, 0, 0, 0, 0, 0, 0, 0], {1}),        # only 1s
    ([0, 0, 0, 0, 0, 0, 0, 2, 0, 1], {7, 9}),     # only 7s and 9s
])
def test_class_weights_pick_the_digits(data: mnist.Mnist, weights: list[float], classes: set[int]) -> None:
    pool = build_pool(["train[0:60]"], data)
    cfg = SynthConfig(**SMALL, seed=2, class_weights=weights)  # type: ignore[arg-type]
    drawn = {int(c) for scene in iter_scenes(pool, cfg, "train", 4) for c in scene.classes}
    assert drawn == classes


@pytest.mark.parametrize("key, message", [
    ("sceens", "did you mean 'scenes'"),     # typo gets a suggestion
    ("colour", "unknown synthesis setting"),  # nothing close: still named
])
def test_unknown_config_key(tmp_path: Path, key: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"{key}: 1\n")
    with pytest.raises(UserError, match=message):
        load_synth_config(path)



@pytest.mark.parametrize("files, expected", [
    # one base: the child's keys win, the rest is the base's
    ({"a.yaml": "base: b.yaml\nseed: 5", "b.yaml": "seed: 1\nhershey_prob: 0.3"},
     {"seed": 5, "hershey_prob": 0.3}),
    # a chain of two, each file over its own base
    ({"a.yaml": "base: b.yaml\nshort_prob: 0.1", "b.yaml": "base: c.yaml\nseed: 2",
      "c.yaml": "seed: 1\nshort_prob: 0.5\ntext_prob: 0.2"},
     {"seed": 2, "short_prob": 0.1, "text_prob": 0.2}),
    # a mapping is replaced whole, not merged with the base's
    ({"a.yaml": "base: b.yaml\nsurfaces: {white: 1.0}", "b.yaml": "surfaces: {white: 2.0, form: 1.0}"},
     {"surfaces": {"white": 1.0}}),
    # a base in a subfolder, named relative to the file that names it
    ({"a.yaml": "base: sub/b.yaml", "sub/b.yaml": "seed: 3"}, {"seed": 3}),
])
def test_synth_config_base_chain(tmp_path: Path, files: dict[str, str],
                                 expected: dict[str, object]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert read_synth_settings(tmp_path / "a.yaml") == expected


@pytest.mark.parametrize("files, message", [
    ({"a.yaml": "base: b.yaml"}, r"b.yaml not found \(base of .*a.yaml\)"),  # a missing base
    ({"a.yaml": "base: b.yaml", "b.yaml": "base: a.yaml"}, "base chain loops back"),  # a loop
    ({"a.yaml": "base: a.yaml"}, "base chain loops back"),                 # its own base
    ({"a.yaml": "base: [b.yaml]"}, "base must be a file name"),           # not a name
    ({"a.yaml": "base: b.yaml", "b.yaml": "sceens: 1"}, "did you mean 'scenes'"),  # a base's typo
])
def test_synth_config_bad_base(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    with pytest.raises(UserError, match=message):
        load_synth_config(tmp_path / "a.yaml")

@pytest.mark.parametrize("points, edges, loops", [
    (3, [(0, 1), (1, 2)], 0),                          # a path: no loop
    (4, [(0, 1), (1, 2), (2, 3), (3, 0)], 1),          # a ring
    (6, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)], 2),  # two separate rings
    (5, [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 2)], 2),  # a figure eight
])
def test_count_loops(points: int, edges: list[tuple[int, int]], loops: int) -> None:
    assert count_loops(points, np.array(edges, np.int32).reshape(-1, 2)) == loops


def test_filled_loop_is_drawn_natural_not_as_a_stroke() -> None:
    ring = np.zeros((28, 28), np.uint8)
    cv2.circle(ring, (14, 14), 9, 255, 3)
    blob = np.zeros((28, 28), np.uint8)
    cv2.circle(blob, (14, 14), 9, 255, -1)  # a '0' with its hole filled in
    assert make_glyph(ring, 0).stroke_ok
    assert not make_glyph(blob, 0).stroke_ok  # its skeleton would lose the loop


def _eight(top: tuple[int, int] | None) -> np.ndarray:
    img = np.zeros((64, 48), np.uint8)
    cv2.circle(img, (24, 44), 14, 255, 4)  # the lower loop
    if top is None:
        cv2.ellipse(img, (24, 22), (6, 5), 0, 180, 360, 255, 3)  # an open upper arc: no hole
    else:
        cv2.ellipse(img, (24, 28 - top[1] - 1), top, 0, 0, 360, 255, 3)
    return img


@pytest.mark.parametrize("draw, holes", [
    (lambda m: cv2.circle(m, (16, 16), 9, 1, 3), 1),                                   # a ring
    (lambda m: cv2.circle(m, (16, 16), 9, 1, -1), 0),                                  # a blob
    (lambda m: (cv2.circle(m, (16, 10), 6, 1, 2), cv2.circle(m, (16, 23), 7, 1, 2)), 2),  # an 8
    (lambda m: cv2.ellipse(m, (16, 16), (9, 9), 0, 0, 300, 1, 2), 0),                  # an open c
    (lambda m: cv2.rectangle(m, (10, 10), (12, 12), 1, 1), 1),                         # a 1-px hole
])
def test_count_holes(draw: Callable[[np.ndarray], object], holes: int) -> None:
    mask = np.zeros((32, 32), np.uint8)
    draw(mask)
    assert count_holes(mask.astype(bool)) == holes


@pytest.mark.parametrize("min_area, holes", [
    (0, 2),    # both holes of an 8 whose top hole is 3x3 px and bottom one about 13 px across
    (9, 2),    # the top hole's outline encloses 4x4 = 16 px >= 9
    (20, 1),   # only the bottom hole is that big
    (1000, 0), # neither
])
def test_count_holes_min_area(min_area: float, holes: int) -> None:
    mask = np.zeros((48, 32), np.uint8)
    cv2.rectangle(mask, (11, 3), (17, 9), 1, 2)    # top: a 3x3 hole
    cv2.circle(mask, (16, 30), 9, 1, 2)           # bottom
    assert count_holes(mask.astype(bool), min_area) == holes


@pytest.mark.parametrize("height, pen, narrowed", [
    (64, 4.0, False),   # a thin pen: both loops of the 8 show, drawn with the pen asked for
    (64, 14.0, True),   # a fat pen fills the small top loop (the 8 would read 6 or 9): narrowed
    (64, 24.0, True),   # fatter still: narrowed further, never a blob
    (32, 4.0, True),    # a small digit: 4 % of 32 px is 1.3 px, yet each hole must be 2 px across
])
def test_a_fat_pen_keeps_the_loops_open(height: int, pen: float, narrowed: bool) -> None:
    g = make_glyph(_eight((5, 4)), 8)
    assert g.loops == 2
    w = round(height * g.aspect + pen)
    mask = render_stroke(g, height, w, pen)
    as_asked = render_stroke(dataclasses.replace(g, loops=0), height, w, pen)
    min_hole = max(OPEN_LOOP * height, OPEN_LOOP_PX) ** 2
    assert count_holes(mask > 0.5, min_hole) == 2
    assert (count_holes(as_asked > 0.5, min_hole) < 2) == narrowed  # as asked: a blob
    assert (not np.array_equal(mask, as_asked)) == narrowed


@pytest.mark.parametrize("label, loops", [
    (1, 0),   # no loop to keep: a fat 1 stays as fat as asked
    (0, 1),   # a 0's ring
    (8, 2),   # an 8's two loops (its ink has both holes)
])
def test_glyph_loops_by_label(label: int, loops: int) -> None:
    img = np.zeros((64, 48), np.uint8)
    if label == 1:
        cv2.line(img, (24, 6), (24, 58), 255, 4)
    elif label == 0:
        cv2.ellipse(img, (24, 32), (14, 24), 0, 0, 360, 255, 4)
    else:
        img = _eight((5, 4))
    g = make_glyph(img, label)
    assert g.loops == loops
    if not loops:  # drawn at the pen asked for: its width is the bar's plus the pen
        mask = render_stroke(g, 64, 32, 14.0)
        assert (mask > 0.5).any(axis=0).sum() >= 12


@pytest.mark.parametrize("top, stroke_ok, loops", [
    ((3, 3), False, None),  # a small upper hole, filled before thinning: the skeleton reads 6
    ((4, 3), False, None),  # the same, a little wider
    ((5, 4), True, 2),      # an upper hole big enough to thin into a loop: redrawn as an 8
    (None, True, 1),        # an 8 written with its top open has one loop in the ink and keeps it
])
def test_an_eight_keeps_the_loops_of_its_ink(top: tuple[int, int] | None, stroke_ok: bool,
                                             loops: int | None) -> None:
    g = make_glyph(_eight(top), 8)
    assert g.stroke_ok == stroke_ok
    if loops is not None:
        assert count_loops(len(g.points), g.edges) == loops


def _bar(label: int) -> object:
    img = np.zeros((28, 28), np.uint8)
    cv2.line(img, (14, 4), (14, 23), 255, 3)  # a bare vertical stroke, like most MNIST ones
    return make_glyph(img, label)


@pytest.mark.parametrize("label, prob, flagged", [
    (1, 1.0, True),    # a '1' always flagged
    (1, 0.0, False),   # the default: MNIST's own ones
    (7, 1.0, False),   # only ones get a flag
])
def test_flagged_one(label: int, prob: float, flagged: bool) -> None:
    from digitdet.synth.scene import _digit_mask, _ink_bbox, _Pen

    pen = _Pen(np.zeros(3, np.float32), 0.1, natural=True, texture="")
    mask = _digit_mask(np.random.default_rng(0), _bar(label), pen, 100.0, 0.0, 0.0,  # type: ignore[arg-type]
                       one_flag_prob=prob)
    x0, y0, x1, y1 = _ink_bbox(mask)  # type: ignore[misc]
    # the bare bar is ~20 px wide at height 100; a flag reaches 11-33 px further left
    assert (x1 - x0 > 28) == flagged
    assert y1 - y0 == pytest.approx(100, abs=3)  # the flag stays within the digit's height


@pytest.mark.parametrize("seed", range(6))
def test_flag_is_short_and_steep_not_a_seven_bar(seed: int) -> None:
    from digitdet.synth.scene import _digit_mask, _ink_bbox, _Pen

    pen = _Pen(np.zeros(3, np.float32), 0.1, natural=True, texture="")
    mask = _digit_mask(np.random.default_rng(seed), _bar(1), pen, 100.0, 0.0, 0.0,  # type: ignore[arg-type]
                       one_flag_prob=1.0)
    y0 = _ink_bbox(mask)[1]  # type: ignore[index]
    ys, xs = np.nonzero(mask > 0.5)
    bar_left = xs[(ys > y0 + 40) & (ys < y0 + 60)].min()  # mid-height: only the stem
    top = ys < y0 + 50
    tip = xs[top].min()
    reach, drop = bar_left - tip, ys[top][xs[top] == tip].mean() - y0
    assert 8 <= reach <= 36                 # short: at most about a third of the height
    assert 0.45 <= drop / reach <= 1.8      # 30-55 degrees down (a 7's bar is nearly flat)


@pytest.mark.parametrize("width_rel, natural, wide_px, peak", [
    (0.05, False, (3, 9), (0.98, 1.0)),     # a 5 px pen: a stroke about 5 px wide, full ink
    (0.15, False, (13, 19), (0.98, 1.0)),   # a fat 15 px pen
    (0.05, True, (8, 13), (0.98, 1.0)),     # a natural pen: MNIST's stroke, a tenth of the height
    (-0.6, False, (1, 4), (0.3, 0.6)),      # a 0.6 px hairline: one faint pixel column (or two)
])
def test_stick_one_is_a_plain_upright_stroke(width_rel: float, natural: bool, wide_px: tuple[int, int],
                                             peak: tuple[float, float]) -> None:
    from digitdet.synth.scene import _digit_mask, _ink_bbox, _Pen

    pen = _Pen(np.zeros(3, np.float32), width_rel, natural=natural, texture="")
    mask = _digit_mask(np.random.default_rng(0), _bar(1), pen, 100.0, 0.0, 0.0,  # type: ignore[arg-type]
                       stick=True)
    x0, y0, x1, y1 = _ink_bbox(mask)  # type: ignore[misc]
    assert y1 - y0 == pytest.approx(100, abs=2)     # the digit's whole height
    assert wide_px[0] <= x1 - x0 <= wide_px[1]      # as wide as the pen, no flag, no MNIST shape
    assert abs((x0 + x1) / 2 - mask.shape[1] / 2) < 3  # down the middle of its cell
    assert peak[0] <= float(mask.max()) <= peak[1]


@pytest.mark.parametrize("key, digit", [
    ("stick_one_prob", 1),     # 1s redrawn as plain sticks
    ("cross_seven_prob", 7),   # 7s crossed
])
def test_style_prob_redraws_its_digit_and_keeps_old_scenes(data: mnist.Mnist, key: str, digit: int) -> None:
    pool = build_pool(["train[0:60]"], data)

    def scenes(**extra: float) -> list[scene_mod.Scene]:
        return list(iter_scenes(pool, SynthConfig(**SMALL, seed=4, **extra), "train", 6))  # type: ignore[arg-type]

    a, b, c = scenes(), scenes(**{key: 0.0}), scenes(**{key: 1.0})
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))  # 0: as before
    having = [k for k, x in enumerate(a) if (x.classes == digit).any()]
    assert having  # some scenes have the digit to redraw ...
    assert all(not np.array_equal(a[k].image, c[k].image) for k in having)  # ... and 1 redraws them all


def _seven() -> object:
    img = np.zeros((28, 28), np.uint8)
    cv2.line(img, (6, 4), (21, 4), 255, 3)    # the top bar
    cv2.line(img, (21, 4), (12, 23), 255, 3)  # the stem, slanting down-left
    return make_glyph(img, 7)


@pytest.mark.parametrize("label, prob, width_rel, natural, crossed", [
    (7, 1.0, 0.1, True, True),     # a 7 in MNIST's own stroke always crossed
    (7, 1.0, 0.05, False, True),   # ... redrawn with a 5 px pen
    (7, 1.0, -0.6, False, True),   # ... by a faint bar under a 0.6 px hairline pen too
    (7, 0.0, 0.1, True, False),    # the default: MNIST's own 7s
    (1, 1.0, 0.1, True, False),    # only 7s get a bar
])
def test_crossed_seven(label: int, prob: float, width_rel: float, natural: bool, crossed: bool) -> None:
    from digitdet.synth.scene import _digit_mask, _Pen

    pen = _Pen(np.zeros(3, np.float32), width_rel, natural=natural, texture="")
    glyph = _seven() if label == 7 else _bar(1)
    plain = _digit_mask(np.random.default_rng(0), glyph, pen, 100.0, 0.0, 0.0)  # type: ignore[arg-type]
    mask = _digit_mask(np.random.default_rng(0), glyph, pen, 100.0, 0.0, 0.0,  # type: ignore[arg-type]
                       cross_seven_prob=prob)
    peak = float(plain.max())

    def widest(m: np.ndarray) -> int:  # the widest run of ink in the middle rows (40-65 % down)
        ys, xs = np.nonzero(m[40:66] >= 0.5 * peak)
        return max(int(np.ptp(xs[ys == r])) + 1 for r in np.unique(ys))

    if crossed:  # a bar wider than the stem there, at most half the digit's height long
        assert 10 <= widest(mask) - widest(plain) <= 50
        assert mask.shape[0] == plain.shape[0]  # within the digit's height
    else:
        assert np.array_equal(mask, plain)


def test_zhang_suen_thins_a_bar_to_one_pixel() -> None:
    bar = np.zeros((9, 30), bool)
    bar[2:7, 3:27] = True
    skel = zhang_suen(bar)
    assert skel.sum(axis=0)[6:24].max() == 1 and skel[:, 6:24].any(axis=0).all()


def test_synth_cli_preview_and_bad_config(tmp_path: Path, mnist_dir: Path) -> None:
    from digitdet.synth.__main__ import main

    out = tmp_path / "p.png"
    assert main(["--mnist-dir", str(mnist_dir), "--preview", "4", "--preview-out", str(out),
                 "--config", str(tmp_path / "none.yaml")]) == 2
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    assert main(["--mnist-dir", str(mnist_dir), "--preview", "4", "--preview-out", str(out),
                 "--config", str(cfg)]) == 0
    import cv2

    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape == (400, 1600, 3)  # 4 cells of 400 px in one row


@pytest.mark.parametrize("argv, written", [
    ([], "data/digits.yaml"),                                       # the default dataset's
    (["--out", "datasets/digits-roll"], "data/digits-roll.yaml"),   # another folder: its own YAML
    (["--out", "datasets/x", "--data", "my.yaml"], "my.yaml"),      # --data names it
])
def test_synth_cli_data_yaml(tmp_path: Path, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch,
                             argv: list[str], written: str) -> None:
    from digitdet.synth.__main__ import main

    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    assert main(["--mnist-dir", str(mnist_dir), "--config", str(cfg), "--scenes", "train=1", "val=0",
                 "test=0", *argv]) == 0
    yamls = sorted(str(f.relative_to(tmp_path)) for f in tmp_path.rglob("*.yaml") if f != cfg)
    assert yamls == [written]
    out = argv[argv.index("--out") + 1] if "--out" in argv else "datasets/digits"
    assert yaml.safe_load((tmp_path / written).read_text())["path"] == out


@pytest.mark.parametrize("flag", [
    "--out",          # the dataset folder
    "--preview-out",  # the contact sheet
])
def test_synth_cli_unwritable_output_is_one_line(tmp_path: Path, mnist_dir: Path, flag: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from digitdet.synth.__main__ import main

    (tmp_path / "taken").write_text("a file where a folder would go")
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    bad = str(tmp_path / "taken" / "x")
    extra = ["--preview", "2", "--preview-out", bad + "/p.png"] if flag == "--preview-out" else \
        ["--out", bad, "--data", str(tmp_path / "d.yaml"), "--scenes", "train=1", "val=0", "test=0"]
    assert main(["--mnist-dir", str(mnist_dir), "--config", str(cfg), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"digitdet.synth: error: {bad}") and err.endswith(": Not a directory")
    assert "\n" not in err


@pytest.mark.parametrize("font", HERSHEY_FONTS)
def test_hershey_glyphs_look_like_mnist_digits(font: int) -> None:
    loops = {0: 1, 6: 1, 8: 2, 9: 1}  # the loops a redrawn skeleton must keep
    for label in range(10):
        g = hershey_glyph(label, font)
        assert g.label == label and g.crop.shape[0] == 20  # MNIST's 20-px digit height
        assert 0.15 < g.aspect < 1.2, (label, g.aspect)  # a digit, not a bar or a blob
        assert count_loops(len(g.points), g.edges) >= loops.get(label, 0), label


@pytest.mark.parametrize("knob, prob, same_as_mnist_only", [
    # off: the generator draws exactly as before, so old datasets are unchanged
    ("hershey_prob", 0.0, True),
    ("font_prob", 0.0, True),
    # every digit from a Hershey font / from the font file: the same seed gives another image
    ("hershey_prob", 1.0, False),
    ("font_prob", 1.0, False),
])
def test_digit_source_prob(tmp_path: Path, data: mnist.Mnist, knob: str, prob: float,
                           same_as_mnist_only: bool) -> None:
    pool = build_pool(["train[0:60]"], data)
    settings = {knob: prob, **({"fonts": [dejavu(tmp_path, "f/a.ttf")]} if knob == "font_prob" else {})}
    base = next(iter_scenes(pool, clean_cfg(seed=5), "train", 1))
    a = next(iter_scenes(pool, clean_cfg(seed=5, **settings), "train", 1))
    b = next(iter_scenes(pool, clean_cfg(seed=5, **settings), "train", 1))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)  # same seed, same scene
    assert np.array_equal(a.image, base.image) == same_as_mnist_only
    assert len(a.classes) > 0


def dejavu(tmp_path: Path, rel: str) -> str:
    return copy_dejavu(tmp_path / rel)


def test_font_glyphs_keep_the_fonts_strokes(tmp_path: Path) -> None:
    path = dejavu(tmp_path, "f/a.ttf")
    loops = {0: 1, 6: 1, 8: 2, 9: 1}
    for label in range(10):
        g = font_glyph(path, label)
        assert g.label == label and g.crop.shape[0] == FONT_HEIGHT  # not shrunk to MNIST's 20 px
        assert g.stroke_ok, label  # the skeleton keeps the digit's loops
        assert 0.15 < g.aspect < 1.2, (label, g.aspect)
        assert count_loops(len(g.points), g.edges) >= loops.get(label, 0), label


# (case, files to make, patterns (under tmp_path), expected file names or error)
FONT_CASES = [
    ("a file", ["f/a.ttf"], ["f/a.ttf"], ["a.ttf"]),
    ("a glob, sorted", ["f/b.ttf", "f/a.ttf"], ["f/*.ttf"], ["a.ttf", "b.ttf"]),
    ("no repeats", ["f/a.ttf"], ["f/a.ttf", "f/*.ttf"], ["a.ttf"]),
    ("nothing found", ["f/a.ttf"], ["f/z*.ttf"], "no font file matches"),
    # a font val --fonts holds out may never be trained on
    ("held-out font", ["fifthhorseman/dkgBd.ttf"], ["fifthhorseman/*.ttf"], "held-out font"),
    # so may a held-out npm font, caught by a wide glob; a training npm font loads (.woff too)
    ("held-out npm font", ["fontsource/zeyada-latin-400-normal.woff"], ["fontsource/*.woff"],
     "held-out font"),
    ("npm training font", ["fontsource/caveat-latin-400-normal.woff"], ["fontsource/*.woff"],
     ["caveat-latin-400-normal.woff"]),
]


@pytest.mark.parametrize("case, files, patterns, expected", FONT_CASES, ids=[c[0] for c in FONT_CASES])
def test_resolve_fonts(tmp_path: Path, case: str, files: list[str], patterns: list[str],
                       expected: list[str] | str) -> None:
    for rel in files:
        dejavu(tmp_path, rel)
    full = tuple(str(tmp_path / p) for p in patterns)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            resolve_fonts(full)
    else:
        assert [Path(p).name for p in resolve_fonts(full)] == expected


@pytest.mark.parametrize("scale", [0.55, 1.5])  # the ends of the default condense_range
def test_width_scale_narrows_or_widens_a_digit(scale: float) -> None:
    from digitdet.synth.scene import _digit_mask, _ink_bbox, _Pen

    pen = _Pen(np.zeros(3, np.float32), 0.1, natural=True, texture="")
    ring = np.zeros((28, 28), np.uint8)
    cv2.ellipse(ring, (14, 14), (7, 10), 0, 0, 360, 255, 2)  # a 0
    widths, heights = [], []
    for k in (1.0, scale):
        x0, y0, x1, y1 = _ink_bbox(_digit_mask(np.random.default_rng(0), make_glyph(ring, 0), pen,
                                               100.0, 0.0, 0.0, width_scale=k))  # type: ignore[misc]
        widths.append(x1 - x0)
        heights.append(y1 - y0)
    assert widths[1] / widths[0] == pytest.approx(scale, rel=0.08)  # the same draw, k times as wide
    assert heights[1] == heights[0]                                  # and just as tall


# a page of many small digits, not a drawing pad's one big digit
PAGE: dict[str, object] = {"single_prob": 0.0, "digit_height": [30.0, 31.0]}


@pytest.mark.parametrize("knob", ["condense_prob", "short_prob", "round_zero_prob", "italic_prob",
                                  "cell_prob"])
def test_shape_knobs_off_draw_as_before_on_change_the_scene(data: mnist.Mnist, knob: str) -> None:
    pool = build_pool(["train[0:60]"], data)
    # seed 0's page has 0s among its digits
    base = next(iter_scenes(pool, clean_cfg(seed=0, **PAGE), "train", 1))
    off = next(iter_scenes(pool, clean_cfg(seed=0, **PAGE, **{knob: 0.0}), "train", 1))
    on = next(iter_scenes(pool, clean_cfg(seed=0, **PAGE, **{knob: 1.0}), "train", 1))
    # off: no extra random draws, so the test split and old datasets stay byte-identical
    assert np.array_equal(off.image, base.image) and np.array_equal(off.boxes, base.boxes)
    assert 0 in base.classes  # this scene has a 0, so round_zero_prob has something to change
    assert not np.array_equal(on.image, base.image) and len(on.classes) > 0


def page_boxes(data: mnist.Mnist, n: int, **settings: object) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` and classes ``(N,)`` of ``n`` seed-2 pages drawn with ``settings``."""
    pool = build_pool(["train[0:60]"], data)
    cfg = clean_cfg(seed=2, **{**PAGE, "scenes": {"train": n}, **settings})
    scenes = list(iter_scenes(pool, cfg, "train", n))
    return (np.concatenate([sc.boxes for sc in scenes]),
            np.concatenate([sc.classes for sc in scenes]))


def heights(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, 3] - boxes[:, 1]


def aspects(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) / heights(boxes)


def test_short_digits_are_shorter_than_their_line(data: mnist.Mnist) -> None:
    h = {p: float(np.median(heights(page_boxes(data, 6, short_prob=p)[0]))) for p in (0.0, 1.0)}
    # every digit 60-85 % of the height it would have had: the median falls by about a quarter
    assert 0.6 < h[1.0] / h[0.0] < 0.85


def test_round_zeros_are_short_and_round(data: mnist.Mnist) -> None:
    shape = {}
    for prob in (0.0, 1.0):
        boxes, cls = page_boxes(data, 8, round_zero_prob=prob)
        h, aspect = heights(boxes), aspects(boxes)
        shape[prob] = (float(np.median(h[cls == 0])), float(np.median(aspect[cls == 0])),
                       float(np.median(h[cls != 0])))
    # every 0 drawn at 45-70 % of its height and 1.25-1.6x as wide for it: an o, not an oval
    assert 0.45 < shape[1.0][0] / shape[0.0][0] < 0.75
    assert shape[1.0][1] > 1.15 * shape[0.0][1]
    # the other digits keep their size
    assert shape[1.0][2] == pytest.approx(shape[0.0][2], rel=0.1)


@pytest.mark.parametrize("seed, n_digits", [
    (0, 5),  # a five-box field
    (1, 3),  # three boxes, another box width and ink
    (2, 1),  # a single box
])
def test_cells_centre_each_digit_in_its_printed_box(data: mnist.Mnist, seed: int, n_digits: int) -> None:
    pool = build_pool(["train[0:60]"], data)
    canvas = scene_mod._Canvas(120, 400)
    pen = scene_mod._Pen(np.zeros(3, np.float32), 0.1, False, "")
    line = scene_mod._Line(80.0, 0.0, 40.0, 0.0)
    numbers, right = scene_mod._write_cells(np.random.default_rng(seed), clean_cfg(), pool, canvas,
                                            pen, line, 20.0, n_digits, 1.0, 0.0)
    assert numbers == [list(range(n_digits))] and len(canvas.printed) == 1
    printed = canvas.printed[0][1]
    rows = np.flatnonzero(printed.max(1) > 0.5)
    # the sides: columns inked from the top line to the bottom one, a box's width apart
    sides = np.flatnonzero((printed[rows[0]:rows[-1] + 1] > 0.5).mean(0) > 0.95)
    starts = sides[np.r_[True, np.diff(sides) > 1]]
    assert len(starts) == n_digits + 1
    cell = (right - 20.0) / n_digits
    assert 0.9 * 40 <= cell <= 1.45 * 40 and np.allclose(np.diff(starts), cell, atol=1.5)
    for k, pts in enumerate(canvas.ink_points):  # each digit's ink centred in its own box
        centre = (pts[:, 0].min() + pts[:, 0].max() + 1) / 2
        assert abs(centre - (20.0 + (k + 0.5) * cell)) <= scene_mod.CELL_OFF * cell + 1.0
    assert [p for p, _ in canvas.layers] == [pen]  # the boxes are printed, not the digits' pen
    assert printed[:, :starts[0] - 2].max() == 0 and printed.max() == 1.0


def test_italic_numbers_lean_right(data: mnist.Mnist) -> None:
    aspect = {p: float(np.median(aspects(page_boxes(data, 6, italic_prob=p)[0]))) for p in (0.0, 1.0)}
    # an italic hand shears every digit by 0.2-0.45 of its height: its box widens by up to that
    # (a 1 by all of it, a round digit by less); the median digit by 0.1-0.45 of its height
    assert 0.1 < aspect[1.0] - aspect[0.0] < 0.45


@pytest.mark.parametrize("char, lean, grows", [
    ("/", 0.0, 0.0),   # upright: the slash as before
    ("/", 0.3, 0.3),   # italic: its top moves right by lean x height
    (":", 0.3, 0.135),  # a colon's dots move right by lean x their height: 0.21 h and 0.075 h
])
def test_separator_leans_with_an_italic_hand(char: str, lean: float, grows: float) -> None:
    from digitdet.synth.scene import _Canvas, _ink_bbox, _Pen, _separator

    h = 100.0
    pen = _Pen(np.zeros(3, np.float32), 0.05, natural=True, texture="")
    widths = []
    for k in (0.0, lean):
        canvas = _Canvas(200, 300)
        _separator(canvas, pen, char, 50.0, 150.0, h, k)
        x0, _, x1, _ = _ink_bbox(canvas.layers[0][1])  # type: ignore[misc]
        widths.append(x1 - x0)
    assert widths[1] - widths[0] == pytest.approx(grows * h, abs=2)


@pytest.mark.parametrize("setting, message", [
    ("hershey_prob: 1.5", "hershey_prob must be in"),             # a probability above 1
    ("condense_range: [1.5, 0.55]", "condense_range must be"),    # min above max
    ("condense_range: [0.0, 1.0]", "condense_range must be"),     # a zero-width digit
    ("condense_range: [0.5]", "condense_range must be"),          # not a [min, max] pair
    ("digit_height: [30]", "digit_height must be"),               # not a [min, max] pair
    ("digit_height: [30, 20]", "digit_height must be"),           # min above max
    ("pen_rel: [0.03]", "pen_rel must be"),                       # would draw up to 1.0 silently
    ("touch_gap: [0.05, -0.1]", "touch_gap must be"),             # min above max
    ("touch_gap: [-0.8, 0.0]", "touch_gap must be"),              # a digit drawn over most of the last
    ("font_prob: 0.3", "font_prob > 0 needs fonts"),              # fonts to draw from not named
    ("{font_prob: 0.3, fonts: [/nowhere/*.ttf]}", "no font file matches"),  # a glob that finds none
])
def test_synth_setting_out_of_range(tmp_path: Path, setting: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(setting + "\n")
    with pytest.raises(UserError, match=message):
        load_synth_config(path)


def test_condense_range_sets_the_width_factor(data: mnist.Mnist) -> None:
    # every number drawn at exactly k times its own width
    width = {k: float(np.median(aspects(page_boxes(data, 4, condense_prob=1.0,
                                                   condense_range=[k, k])[0])))
             for k in (0.4, 1.0)}
    # the ink narrows with k; the pen's own width does not, so the ratio is a little above k
    assert 0.4 < width[0.4] / width[1.0] < 0.6


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, hershey, digit_height", [
    ("synth.yaml", 0.0, (24.0, 220.0)),          # the test split's config: MNIST digits only
    ("synth-hershey.yaml", 0.3, (24.0, 220.0)),  # stage-7 plain scenes: 30 % Hershey digits
    ("synth-hard.yaml", 0.3, (18.0, 160.0)),     # stage-7 hard scenes: smaller digits too
    ("synth-style.yaml", 0.3, (24.0, 220.0)),    # stage-9 scenes: narrow, wide and short digits
    ("synth-cells.yaml", 0.0, (24.0, 220.0)),    # synth.yaml's, numbers in printed comb fields
])
def test_shipped_synth_configs_load_and_keep_the_held_out_pool(
        name: str, hershey: float, digit_height: tuple[float, float]) -> None:
    cfg = load_synth_config(ROOT / "configs" / name)
    assert cfg.hershey_prob == hershey
    assert tuple(cfg.digit_height) == digit_height
    # every config keeps t10k 5000-9999 for the test split only, so no stage trains on it
    assert cfg.pools["test"] == ["t10k[5000:10000]"]
    assert not any(spec.startswith("t10k[5") for spec in cfg.pools["train"] + cfg.pools["val"])


@pytest.mark.parametrize("name, single_prob, thinnest_pen", [
    ("synth-fonts.yaml", 0.3, 0.03),   # the style scenes with font digits
    ("synth-paint.yaml", 0.85, 0.006),  # drawing-pad scenes, brushes far thinner than 3 % too
    ("synth-narrow.yaml", 0.3, 0.03),   # the font scenes with most numbers condensed
    ("synth-npmfonts.yaml", 0.3, 0.03),  # the font scenes with 36 npm fonts more
])
def test_font_configs_train_on_no_held_out_font(name: str, single_prob: float,
                                                thinnest_pen: float) -> None:
    from digitdet.fontset import FONT_DIR, held_out_glob

    path = ROOT / "configs" / name
    raw = read_synth_settings(path)  # the settings with the base chain resolved
    assert (raw["single_prob"], raw["pen_rel"][0]) == (single_prob, thinnest_pen)
    assert raw["font_prob"] > 0 and raw["fonts"]
    # no font pattern could name a font val --fonts measures (its files need not be installed here)
    assert not [p for p in raw["fonts"] if held_out_glob(f"{FONT_DIR}/{p}")]
    cfg = load_synth_config(path, {"font_prob": 0.0})  # the rest loads without the fonts installed
    assert cfg.pools["test"] == ["t10k[5000:10000]"] and cfg.hershey_prob == 0.3


def _canvas_with_one_digit(layers: int, digit_layer: int) -> scene_mod._Canvas:
    """A 20x20 canvas with ``layers`` pens and one digit on ``digit_layer``: ink at x 4-11 of row
    10 (8 pixels)."""
    canvas = scene_mod._Canvas(20, 20)
    for k in range(layers):
        canvas.layer(scene_mod._Pen(np.zeros(3, np.float32), 0.1, False, f"pen{k}"))
    canvas.ink_points = [np.stack([np.arange(4, 12), np.full(8, 10)], 1).astype(np.float32)]
    canvas.classes = [7]
    canvas.digit_layers = [digit_layer]
    return canvas


@pytest.mark.parametrize("clutter_layer, x1, alpha, share", [
    (None, 0, 0.0, 0.0),  # no scribble anywhere
    (1, 8, 1.0, 0.5),     # a scribble on the digit's own layer over its left half (x 4-7)
    (1, 20, 0.4, 0.0),    # faint ink (alpha below 0.5) covers nothing
    (2, 20, 1.0, 1.0),    # a later layer is composited over the digit: all of it covered
    (0, 20, 1.0, 0.0),    # an earlier layer lies under the digit: the digit stays visible
])
def test_covered_share(clutter_layer: int | None, x1: int, alpha: float, share: float) -> None:
    canvas = _canvas_with_one_digit(3, 1)
    if clutter_layer is not None:
        canvas.clutter[clutter_layer] = np.zeros((20, 20), np.float32)
        canvas.clutter[clutter_layer][:, :x1] = alpha
    assert scene_mod.covered_share(canvas).tolist() == [share]


@pytest.mark.parametrize("numbers, drop, kept, expected", [
    # nothing dropped: the numbers as they were
    ([[0, 1, 2], [3]], [0, 0, 0, 0], [0, 1, 2, 3], [[0, 1, 2], [3]]),
    # the middle digit of a number: split there, the rest renumbered
    ([[0, 1, 2], [3]], [0, 1, 0, 0], [0, 2, 3], [[0], [1], [2]]),
    # a number's first digit, and a one-digit number that goes whole
    ([[0, 1, 2], [3]], [1, 0, 0, 1], [1, 2], [[0, 1]]),
    # every digit
    ([[0, 1]], [1, 1], [], []),
])
def test_drop_digits(numbers: list[list[int]], drop: list[int], kept: list[int],
                     expected: list[list[int]]) -> None:
    canvas = scene_mod._Canvas(8, 8)
    canvas.classes = list(range(len(drop)))  # class k for digit k, to see which ones stay
    canvas.ink_points = [np.full((1, 2), k, np.float32) for k in range(len(drop))]
    canvas.digit_layers = [0] * len(drop)
    assert scene_mod.drop_digits(canvas, numbers, np.array(drop, bool)) == expected
    assert canvas.classes == kept
    assert [int(p[0, 0]) for p in canvas.ink_points] == kept and len(canvas.digit_layers) == len(kept)


def test_covered_digits_lose_their_labels_not_their_ink(data: mnist.Mnist,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # fat scribbles on every scene: with the rule, the same pixels and fewer labels
    cfg = clean_cfg(scribble_prob=1.0, pen_rel=(0.3, 0.4), hairline_prob=0.0, single_prob=0.0)
    pool = build_pool(["train[0:60]"], data)
    monkeypatch.setattr(scene_mod, "COVERED_SHARE", 1.01)  # never met: every digit labeled
    before = list(iter_scenes(pool, cfg, "train", 12))
    monkeypatch.setattr(scene_mod, "COVERED_SHARE", 0.5)
    after = list(iter_scenes(pool, cfg, "train", 12))
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a.image, b.image)
        assert sorted(i for num in b.numbers for i in num) == list(range(len(b.classes)))
    dropped = sum(len(a.classes) - len(b.classes) for a, b in zip(before, after, strict=True))
    assert dropped > 0 and all(len(a.classes) >= len(b.classes) for a, b in zip(before, after, strict=True))


def _neighbour_overlap(scenes: list[scene_mod.Scene]) -> np.ndarray:
    """How far each digit's box reaches over its right neighbour's in a number, as a share of
    the taller box's height (below 0: a gap)."""
    out = []
    for sc in scenes:
        for num in sc.numbers:
            for i, j in zip(num[:-1], num[1:], strict=True):
                a, b = sc.boxes[i], sc.boxes[j]
                out.append((a[2] - b[0]) / max(a[3] - a[1], b[3] - b[1]))
    return np.array(out)


def test_touch_gap_sets_how_far_touching_digits_overlap(data: mnist.Mnist) -> None:
    pool = build_pool(["train[0:60]"], data)

    def scenes(**extra: object) -> list[scene_mod.Scene]:
        return list(iter_scenes(pool, SynthConfig(**SMALL, seed=5, **extra), "train", 12))  # type: ignore[arg-type]

    a, b = scenes(), scenes(touch_gap=[-0.12, 0.02])
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))  # the default: as before
    deep = _neighbour_overlap(scenes(touch_prob=1.0, touch_gap=[-0.3, -0.25]))
    apart = _neighbour_overlap(scenes(touch_prob=0.0))
    assert len(deep) > 5 and len(apart) > 5
    assert np.median(deep) > 0.15   # inks overlapping by a quarter of the line's height
    assert np.median(apart) < 0.0   # a gap between the inks


@pytest.mark.parametrize("seed, degrees", [  # the turn each seed draws from up to 15 either way
    (0, 4.11),    # a little counter-clockwise
    (1, 0.35),    # hardly turned
    (3, -12.43),  # clockwise
    (4, 13.29),   # near the most
])
def test_roll_turns_the_ink_and_its_points_together(seed: int, degrees: float) -> None:
    img = np.ones((120, 160, 3), np.float32)
    img[30:90, 70:82] = 0.0  # an upright bar of ink, 12 x 60 px
    canvas = scene_mod._Canvas(120, 160)
    ys, xs = np.mgrid[30:90, 70:82]
    canvas.ink_points.append(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32))
    cfg = SynthConfig(roll=15.0)
    out = scene_mod._roll(np.random.default_rng(seed), cfg, img, canvas)
    ys, xs = np.nonzero(out.min(axis=2) < 0.5)  # the turned ink, half covered or more
    pts = canvas.ink_points[0]
    got = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max() + 1, pts[:, 1].max() + 1]
    want = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert np.abs(np.subtract(got, want)).max() <= 1.5  # the label's box is the ink's box
    a = np.radians(abs(degrees))  # turned: the 12 x 60 bar spans 12 cos + 60 sin columns
    assert xs.max() - xs.min() + 1 == pytest.approx(12 * np.cos(a) + 60 * np.sin(a), abs=1.5)


@pytest.mark.parametrize("points, share", [
    ([[5, 5], [10, 10]], 0.0),      # all inside a 20 x 30 (h x w) image
    ([[5, 5], [35, 5]], 0.5),       # one past the right edge
    ([[-1, 5], [5, 20], [29.5, 19.5]], 2 / 3),  # left of x 0, below y 20 (h); the last just inside
    ([], 1.0),                      # no ink at all: nothing of it to see
])
def test_outside_share(points: list[list[float]], share: float) -> None:
    canvas = scene_mod._Canvas(20, 30)
    canvas.ink_points.append(np.asarray(points, np.float32).reshape(-1, 2))
    assert scene_mod.outside_share(canvas, 20, 30)[0] == pytest.approx(share)


def test_roll_prob_turns_photos_and_keeps_old_scenes(data: mnist.Mnist) -> None:
    pool = build_pool(["train[0:60]"], data)

    def scenes(**extra: float) -> list[scene_mod.Scene]:
        return list(iter_scenes(pool, SynthConfig(**SMALL, seed=5, **extra), "train", 6))  # type: ignore[arg-type]

    a, b, c = scenes(), scenes(roll_prob=0.0, roll=30.0), scenes(roll_prob=1.0, roll=30.0)
    for x, y in zip(a, b, strict=True):  # 0: no draw, so the same images and labels as before
        assert np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes)
    photos = [k for k, x in enumerate(a) if x.surface not in ("canvas_white", "canvas_black")]
    assert photos and all(not np.array_equal(a[k].image, c[k].image) for k in photos)
    for s in c:
        h, w = s.image.shape[:2]
        assert len(s.boxes) == len(s.classes) == sum(len(n) for n in s.numbers)
        assert ((s.boxes[:, 2] > s.boxes[:, 0]) & (s.boxes[:, 3] > s.boxes[:, 1])).all()
        assert (s.boxes >= 0).all() and (s.boxes[:, [0, 2]] <= w).all() and (s.boxes[:, [1, 3]] <= h).all()


@pytest.mark.parametrize("roll, ok", [(0.0, True), (15.0, True), (45.0, True), (46.0, False), (-1.0, False)])
def test_roll_is_checked(roll: float, ok: bool) -> None:
    cfg = SynthConfig(roll=roll)
    if ok:
        assert cfg.validate() is cfg
    else:
        with pytest.raises(UserError, match=f"roll must be 0-45 degrees, got {roll}"):
            cfg.validate()
