"""Training and export: bad input, a 1-epoch run on tiny data, ONNX shape and metadata."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml

import digitdet.train as train
from digitdet import export, mnist
from digitdet.errors import UserError
from digitdet.synth.config import SynthConfig
from digitdet.synth.dataset import write_dataset

from conftest import write_mnist

ROOT = Path(__file__).resolve().parents[1]
MODEL_YAML = str(ROOT / "configs" / "yolov5n-digits.yaml")


@pytest.mark.parametrize("cfg, message", [
    ({"mosiac": 1.0}, "did you mean 'mosaic'"),        # typo with suggestion
    ({"fliplr": 0.5}, "would mirror digits"),           # mirroring forbidden
    ({"flipud": 0.1}, "would mirror digits"),
    ({"degrees": 45}, "too much rotation"),
])
def test_bad_training_settings(cfg: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        train.check_train_cfg(cfg)


@pytest.mark.parametrize("profile", [
    "train.yaml",          # GPU, from scratch
    "train-cpu.yaml",      # CPU, from scratch
    "finetune-cpu.yaml",   # CPU fine-tuning, stages 4-6
    "finetune-mix.yaml",   # CPU fine-tuning on scene mixes, stage 7
    "finetune-low.yaml",   # the same at lr0 0.001, stage 8
])
def test_shipped_profiles_are_digit_safe(profile: str) -> None:
    cfg = train.check_train_cfg(yaml.safe_load((ROOT / "configs" / profile).read_text()))
    assert cfg["fliplr"] == 0.0 and cfg["flipud"] == 0.0 and cfg["mosaic"] == 1.0
    assert cfg["close_mosaic"] > 0 and abs(cfg["degrees"]) <= 5


@pytest.mark.parametrize("sets, expect", [
    (["lr0=0.0005", "close_mosaic=0"], {"lr0": 0.0005, "close_mosaic": 0}),  # values parsed as YAML
    (["time=null"], {"time": None}),                                       # null clears the budget
    (["fliplr=0.5"], "would mirror digits"),       # --set (make train SET=) is checked like a profile
    (["mosaic"], "--set takes KEY=VALUE"),         # no '=': one-line error
])
def test_set_overrides(sets: list[str], expect: dict | str) -> None:
    args = train.parse_args(["--cfg", str(ROOT / "configs" / "finetune-low.yaml"), "--set", *sets])
    if isinstance(expect, str):
        with pytest.raises(UserError, match=expect):
            train.build_overrides(args)
        return
    cfg = train.build_overrides(args)
    assert {k: cfg[k] for k in expect} == expect
    assert cfg["lrf"] == 0.1 and cfg["fliplr"] == 0.0  # the rest still comes from the profile


@pytest.mark.parametrize("content, message", [
    (None, "not found"),                                         # missing file
    ("train: [unclosed", "malformed YAML"),                      # bad YAML
    ("train: images/train\nnames: ['0']\n", "no 'val' key"),     # key missing
    ("train: a\nval: b\nnc: 3\nnames: ['0']\n", "nc=3 but 1 names"),
    ("train: imgs\nval: b\nnames: ['0']\n", r"training images .*imgs not found"),  # absent folder
    ("train: [a, missing]\nval: b\nnames: ['0']\n", r"training images .*missing not found"),  # a list
])
def test_bad_data_yaml(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "d.yaml"
    (tmp_path / "a").mkdir()  # the one training folder that exists
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message):
        train.check_data_yaml(path)


def test_data_yaml_train_list(tmp_path: Path) -> None:
    # ultralytics' list form of `train:`: every folder exists, the YAML passes with path made absolute
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    path = tmp_path / "d.yaml"
    path.write_text("train: [a, b]\nval: a\nnames: ['0']\n")
    data = train.check_data_yaml(path)
    assert data["train"] == ["a", "b"] and data["path"] == str(tmp_path.resolve())


@pytest.mark.parametrize("device, message", [
    ("7", "no CUDA GPU 7"),           # a GPU that is not there
    ("gpu", "is not 'cpu' or GPU"),   # not a device name
])
def test_bad_device(device: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        train.check_device(device)


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "t.yaml"
    cfg.write_text("imgsz: 64\nbogus_key: 1\n")
    assert train.main(["--cfg", str(cfg), "--data", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "digitdet.train: error: unknown training setting 'bogus_key'"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train 1 epoch on 8 tiny scenes at 64 px; return the run folder."""
    tmp = tmp_path_factory.mktemp("train")
    data = mnist.load_dir(write_mnist(tmp / "m", n_train=40, n_test=20))
    cfg = SynthConfig(sizes=[[160, 120]], size_weights=[1.0], digit_height=[12.0, 40.0],
                      scenes={"train": 8, "val": 4},
                      pools={"train": ["train[0:40]"], "val": ["t10k[0:20]"]})
    write_dataset(data, cfg, tmp / "ds", tmp / "digits.yaml", workers=1, progress=False)
    code = train.main(["--cfg", str(ROOT / "configs" / "train-cpu.yaml"), "--data",
                       str(tmp / "digits.yaml"), "--model", MODEL_YAML, "--imgsz", "64",
                       "--epochs", "1", "--batch", "4", "--project", str(tmp / "runs"),
                       "--name", "t", "--set", "time=null", "plots=false", "cache=false"])
    assert code == 0
    return tmp / "runs" / "t"


def test_training_writes_loadable_weights_with_digit_safe_args(trained: Path) -> None:
    import torch

    best = trained / "weights" / "best.pt"
    assert best.is_file() and (trained / "weights" / "last.pt").is_file()
    assert (trained / "results.csv").is_file()
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    args = ckpt["train_args"]  # what ultralytics really used
    assert args["fliplr"] == 0.0 and args["flipud"] == 0.0 and args["mosaic"] == 1.0
    assert args["imgsz"] == 64 and ckpt["model"].nc == 10


def test_fine_tune_from_previous_best(trained: Path) -> None:
    import torch

    data = trained.parent.parent / "digits.yaml"
    code = train.main(["--cfg", str(ROOT / "configs" / "train-cpu.yaml"), "--data", str(data),
                       "--weights", str(trained / "weights" / "best.pt"), "--imgsz", "64",
                       "--epochs", "1", "--batch", "4", "--project", str(trained.parent),
                       "--name", "ft", "--set", "time=null", "plots=false", "cache=false"])
    assert code == 0
    ckpt = torch.load(trained.parent / "ft" / "weights" / "last.pt", map_location="cpu",
                      weights_only=False)
    assert ckpt["train_args"]["model"].endswith("best.pt")  # started from the given weights


def test_resume_an_interrupted_run(trained: Path) -> None:
    import shutil

    import torch

    # an interrupted 2-epoch run: its last.pt is the (unstripped) checkpoint after epoch 1
    run = trained.parent / "interrupted"
    shutil.copytree(trained, run)
    ckpt = torch.load(run / "weights" / "epoch0.pt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["optimizer"] is not None
    ckpt["train_args"].update(epochs=2, name="interrupted", save_dir=str(run))
    torch.save(ckpt, run / "weights" / "last.pt")
    code = train.main(["--resume", "--project", str(trained.parent), "--name", "interrupted",
                       "--data", str(trained.parent / "no-such-data.yaml")])  # unused on resume
    assert code == 0
    lines = (run / "results.csv").read_text().strip().splitlines()
    assert [int(float(ln.split(",")[0])) for ln in lines[1:]] == [1, 2]  # epoch 2 was added


def test_missing_fine_tune_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert train.main(["--weights", "nowhere/best.pt"]) == 2
    assert "weights nowhere/best.pt not found" in capsys.readouterr().err


def test_export_onnx_shape_metadata_and_agreement(trained: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    from digitdet.export import export_onnx, max_output_diff

    best = trained / "weights" / "best.pt"
    beside = best.with_suffix(".onnx")
    beside.write_bytes(b"an earlier export")  # e.g. the shipped ONNX beside the shipped .pt
    path = export_onnx(best, 64, tmp_path / "m.onnx")
    assert path == tmp_path / "m.onnx"
    assert beside.read_bytes() == b"an earlier export"  # exporting elsewhere leaves it alone
    beside.unlink()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert ast.literal_eval(meta["names"]) == {i: str(i) for i in range(10)}
    assert ast.literal_eval(meta["imgsz"]) == [64, 64] and int(meta["stride"]) == 32
    out = sess.run(None, {sess.get_inputs()[0].name: np.zeros((1, 3, 64, 96), np.float32)})[0]
    # YOLOv5u: (1, 4+nc, N) with N = anchor points at strides 8, 16, 32 (dynamic input)
    assert out.shape == (1, 14, 8 * 12 + 4 * 6 + 2 * 3)
    img = np.full((120, 160, 3), 230, np.uint8)
    assert max_output_diff(best, path, img, 64) < 1e-3


@pytest.mark.parametrize("argv, imgsz", [
    ([], 64),                   # no --imgsz: the size the weights were trained at (64 here)
    (["--imgsz", "96"], 96),    # --imgsz: the detector's default image size from now on
])
def test_export_cli_writes_the_default_image_size(trained: Path, tmp_path: Path, argv: list[str],
                                                  imgsz: int) -> None:
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    assert export.main(["--weights", str(trained / "weights" / "best.pt"), "--output", str(out),
                        *argv]) == 0
    meta = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]
                                ).get_modelmeta().custom_metadata_map
    assert ast.literal_eval(meta["imgsz"]) == [imgsz, imgsz]


def test_export_cli_missing_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert export.main(["--weights", "nowhere/best.pt"]) == 2
    assert capsys.readouterr().err.strip() == "digitdet.export: error: weights nowhere/best.pt not found"
