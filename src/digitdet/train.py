"""Train YOLOv5u on the synthesized digits with ultralytics, offline, from ``configs/`` YAML.

Usage:
    python -m digitdet.train                                   # configs/train.yaml, YOLOv5s
    python -m digitdet.train --cfg configs/train-cpu.yaml --model yolov5n --time 1.0
    python -m digitdet.train --weights runs/train/exp/weights/best.pt   # fine-tune
    python -m digitdet.train --name exp --resume                        # resume last.pt
    python -m digitdet.train --device 0,1 --batch 64                    # multi-GPU

The training YAML is passed straight to ultralytics; a key it does not know is an error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from digitdet.errors import UserError, closest

DIGIT_SAFE = {"fliplr": 0.0, "flipud": 0.0}
MAX_DEGREES = 10.0


def read_yaml(path: Path, what: str) -> dict[str, Any]:
    """Load a YAML mapping, raising :class:`UserError` when missing or malformed."""
    if not path.is_file():
        raise UserError(f"{what} {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{what} {path} is malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} must be a mapping")
    return data


def check_data_yaml(path: Path) -> dict[str, Any]:
    """Validate a detection data YAML and return it with ``path`` made absolute."""
    data = read_yaml(path, "data YAML")
    for key in ("train", "val", "names"):
        if key not in data:
            raise UserError(f"data YAML {path} has no '{key}' key")
    names = data["names"]
    n = len(names) if isinstance(names, (list, dict)) else -1
    if data.get("nc", n) != n:
        raise UserError(f"data YAML {path}: nc={data.get('nc')} but {n} names")
    root = Path(data.get("path") or path.parent)
    if not root.is_absolute():
        candidates = [Path.cwd() / root, path.parent / root, path.parent.parent / root]
        root = next((c for c in candidates if c.exists()), candidates[0])
    train = data["train"] if isinstance(data["train"], list) else [data["train"]]  # ultralytics takes both
    for entry in train:
        if not (root / str(entry)).exists():
            raise UserError(f"data YAML {path}: training images {root / str(entry)} not found "
                            f"(run 'make data' first)")
    return {**data, "path": str(root.resolve())}


def check_train_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """Reject keys ultralytics does not know (with a suggestion) and unsafe augmentation."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    for key in cfg:
        if key not in DEFAULT_CFG_DICT:
            raise UserError(f"unknown training setting '{key}'{closest(key, DEFAULT_CFG_DICT)}")
    for key, safe in DIGIT_SAFE.items():
        if float(cfg.get(key, safe)) != safe:
            raise UserError(f"{key}={cfg[key]} would mirror digits; it must be {safe}")
    if abs(float(cfg.get("degrees", 0))) > MAX_DEGREES:
        raise UserError(f"degrees={cfg['degrees']} is too much rotation for digits (max {MAX_DEGREES})")
    return {**cfg, **DIGIT_SAFE}


def check_device(device: str | None) -> str:
    """Normalise ``cpu`` / ``0`` / ``0,1`` and check the GPUs exist."""
    if device in (None, "", "cpu"):
        return "cpu"
    import torch

    try:
        ids = [int(d) for d in str(device).split(",")]
    except ValueError:
        raise UserError(f"device '{device}' is not 'cpu' or GPU indices like 0 or 0,1") from None
    n = torch.cuda.device_count()
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise UserError(f"device '{device}': no CUDA GPU {bad[0]} here ({n} GPU(s) visible)")
    return ",".join(str(i) for i in ids)


def resolve_model(model: str) -> str:
    """``yolov5n`` -> ``configs/yolov5n-digits.yaml``; paths (.yaml/.pt) are kept as given."""
    if model.endswith((".yaml", ".yml", ".pt")):
        if model.endswith(".pt") and not Path(model).is_file():
            raise UserError(f"weights {model} not found")
        return model
    path = Path("configs") / f"{model}-digits.yaml"
    if not (Path("configs") / "yolov5-digits.yaml").is_file():
        raise UserError(f"model config {path} not found (run from the project root)")
    return str(path)


def use_all_cores() -> int:
    """Let torch use every core (ultralytics leaves one idle); call before importing it."""
    n = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    return n


def _throughput_callbacks(model: Any) -> None:
    state: dict[str, float] = {}

    def start(trainer: Any) -> None:
        state["t0"] = time.perf_counter()

    def end(trainer: Any) -> None:
        dt = time.perf_counter() - state.get("t0", time.perf_counter())
        n = len(trainer.train_loader.dataset)
        print(f"epoch {trainer.epoch + 1}: {n} images in {dt:.0f}s = {n / max(dt, 1e-9):.1f} images/s",
              flush=True)

    model.add_callback("on_train_epoch_start", start)
    model.add_callback("on_train_epoch_end", end)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m digitdet.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cfg", default="configs/train.yaml", help="training YAML for ultralytics")
    p.add_argument("--data", default="data/digits.yaml")
    p.add_argument("--model", default="yolov5s", help="yolov5n|yolov5s|... or a model YAML")
    p.add_argument("--weights", default=None, help="start from these .pt weights (fine-tune)")
    p.add_argument("--imgsz", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--time", type=float, help="hours budget (overrides epochs)")
    p.add_argument("--batch", type=int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int)
    p.add_argument("--project", default="runs/train")
    p.add_argument("--name", default="exp")
    p.add_argument("--exist-ok", action="store_true")
    p.add_argument("--resume", action="store_true", help="resume <project>/<name>/weights/last.pt")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra ultralytics settings")
    return p.parse_args(argv)


def build_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the YAML profile with command-line flags into ultralytics train() kwargs."""
    cfg = read_yaml(Path(args.cfg), "training config")
    for key in ("imgsz", "epochs", "time", "batch", "workers"):
        value = getattr(args, key)
        if value is not None:
            cfg[key] = value
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set takes KEY=VALUE, got '{item}'")
        cfg[key] = yaml.safe_load(value)
    cfg = check_train_cfg(cfg)
    cfg.update(project=str(Path(args.project).resolve()), name=args.name,
               exist_ok=args.exist_ok, device=check_device(args.device))
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["YOLO_OFFLINE"] = "1"  # no hub, no DNS probes, no event uploads
    cores = use_all_cores()
    try:
        if args.weights and not Path(args.weights).is_file():
            raise UserError(f"weights {args.weights} not found")
        overrides = build_overrides(args)
        if args.resume:  # data, model and settings all come from the checkpoint
            last = Path(args.project) / args.name / "weights" / "last.pt"
            if not last.is_file():
                raise UserError(f"nothing to resume: {last} not found")
            data = {}
        else:
            data = check_data_yaml(Path(args.data))
        model_src = args.weights or resolve_model(args.model)
    except UserError as exc:
        print(f"digitdet.train: error: {exc}", file=sys.stderr)
        return 2
    import torch
    import ultralytics.utils.torch_utils as tu
    from ultralytics import YOLO

    tu.NUM_THREADS = cores  # select_device() would otherwise pin torch to cores - 1
    torch.set_num_threads(cores)
    run_dir = Path(overrides["project"]) / args.name
    if args.resume:
        model = YOLO(str(run_dir / "weights" / "last.pt"))
        _throughput_callbacks(model)
        model.train(resume=True)
    else:
        resolved = Path(overrides["project"]).parent / f".data-{args.name}.yaml"
        resolved.parent.mkdir(parents=True, exist_ok=True)
        resolved.write_text(yaml.safe_dump(data, sort_keys=False))
        model = YOLO(model_src)
        _throughput_callbacks(model)
        model.train(data=str(resolved), **overrides)
    trainer = model.trainer
    assert trainer is not None  # set by model.train()
    metrics = getattr(trainer, "metrics", {}) or {}
    print("final validation: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()
                                           if isinstance(v, float)))
    print(f"weights: {trainer.best} (best), {trainer.last} (last)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
