"""Synthesize handwriting scenes from MNIST into a YOLO dataset.

Usage:
    python -m digitdet.synth                              # datasets/digits + data/digits.yaml
    python -m digitdet.synth --out datasets/digits-roll   # + data/digits-roll.yaml (--data: another)
    python -m digitdet.synth --mnist-dir ../shared/mnist --workers 2
    python -m digitdet.synth --config configs/synth.yaml --scenes train=2000 val=200 test=200
    python -m digitdet.synth --preview 16                 # contact sheet PNG, no dataset written
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from digitdet.errors import UserError, error_exit
from digitdet.mnist import MnistError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m digitdet.synth", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/synth.yaml",
                   help="synthesis YAML (its base: key names a YAML it changes)")
    p.add_argument("--mnist-dir", default=None, help="folder with MNIST IDX files")
    p.add_argument("--out", default="datasets/digits", help="dataset folder")
    p.add_argument("--data", default=None,
                   help="data YAML to write (default: data/<the --out folder's name>.yaml)")
    p.add_argument("--scenes", nargs="*", default=None, metavar="SPLIT=N",
                   help="scene counts, e.g. train=8000 val=500 test=500")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--preview", type=int, default=0, metavar="N",
                   help="write a contact sheet of N scenes instead of a dataset")
    p.add_argument("--split", default="train", choices=["train", "val", "test"],
                   help="split to preview")
    p.add_argument("--preview-out", default="runs/synth/preview.png")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _run(args)
    except (UserError, MnistError, OSError) as exc:  # OSError: an output that cannot be written
        return error_exit("digitdet.synth", exc)


def _run(args: argparse.Namespace) -> int:
    import cv2

    from digitdet import mnist
    from digitdet.synth.config import load_synth_config
    from digitdet.synth.dataset import build_pool, iter_scenes, write_dataset
    from digitdet.synth.preview import contact_sheet

    overrides: dict = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.scenes:
        try:
            overrides["scenes"] = {k: int(v) for k, v in (s.split("=") for s in args.scenes)}
        except ValueError:
            raise UserError(f"--scenes takes SPLIT=N pairs, got {args.scenes}") from None
    config = Path(args.config) if Path(args.config).is_file() or args.config != "configs/synth.yaml" else None
    cfg = load_synth_config(config, overrides)
    data = mnist.load(args.mnist_dir)
    if args.preview:
        pool = build_pool(cfg.pools[args.split], data)
        sheet = contact_sheet(list(iter_scenes(pool, cfg, args.split, args.preview)))
        out = Path(args.preview_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), sheet)
        print(f"preview of {args.preview} {args.split} scenes written to {out}")
        return 0
    t0 = time.perf_counter()
    data_yaml = Path(args.data) if args.data else data_yaml_for(Path(args.out))
    counts = write_dataset(data, cfg, Path(args.out), data_yaml, workers=args.workers)
    dt = time.perf_counter() - t0
    total = sum(counts.values())
    print(f"{total} scenes ({counts}) in {dt:.1f}s ({total / dt:.1f} scenes/s) -> {args.out}, "
          f"data YAML {data_yaml}")
    return 0


def data_yaml_for(out: Path) -> Path:
    """The data YAML a dataset folder gets by default: ``data/<its name>.yaml``, so that a
    second dataset (``--out datasets/digits-roll``) does not repoint ``data/digits.yaml``, the
    one ``make train`` reads."""
    return Path("data") / f"{out.name}.yaml"


if __name__ == "__main__":
    sys.exit(main())
