"""Robustness check: the test split's scenes read as they are and as a worse camera would
give them, each corruption of :mod:`digitdet.corrupt` at three levels (out of focus, shaken,
heavy JPEG, sensor noise, under-exposed, low resolution, washed out, a glare spot). The
synthesizer draws mild versions of some of these; the levels here go past it, to show where
reading breaks down.

Usage:
    python -m digitdet.robustset                                  # 200 test scenes, all, levels 1-3
    python -m digitdet.robustset --corruption motion jpeg --levels 2 --limit 1000
    python -m digitdet.robustset --no-recognizer --no-refiner     # the detector alone
    python -m digitdet.robustset --dataset datasets/digits-s3 --split val --weights best.onnx
                                       # a model of your own is read alone; to read it as shipped:
    python -m digitdet.robustset --weights best.onnx --recognizer src/digitdet/weights/digitdet-rec.onnx \
        --blur-recognizer src/digitdet/weights/digitdet-rec-blur.onnx \
        --refiner src/digitdet/weights/digitdet-box.onnx
    python -m digitdet.robustset --no-blur-recognizer             # blurred images read as sharp ones

Each line gives digit precision / recall / F1, number exact-match and whole-scene accuracy at
the default confidence, scored as ``python -m digitdet.val`` scores the clean split. A scene's
corruption is drawn from ``--seed`` and its index: the same command gives the same figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from digitdet import checkargs
from digitdet.corrupt import CORRUPTIONS, LEVELS, corrupt
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError, error_exit
from digitdet.labels import split_records

DEFAULT_LIMIT = 200


def evaluate_corruption(detector: Any, root: Path, split: str, name: str | None, level: int,
                        limit: int | None, seed: int = 0, conf: float = DEFAULT_CONF) -> Any:
    """``detector`` on the split's first ``limit`` scenes under corruption ``name`` at
    ``level`` (None: as they are): :class:`digitdet.val.SceneMetrics`. Scene ``k`` is corrupted
    with a generator seeded by (``seed``, ``k``, the corruption, ``level``)."""
    from digitdet.val import evaluate_split

    if name is None:
        return evaluate_split(detector, root, split, conf, limit)
    key = list(CORRUPTIONS).index(name)

    def transform(img: np.ndarray, k: int) -> np.ndarray:
        return corrupt(img, name, level, np.random.default_rng([seed, k, key, level]))

    return evaluate_split(detector, root, split, conf, limit, transform=transform)


def format_line(label: str, m: Any) -> str:
    """One report line: ``label`` and the metrics ``m`` (:class:`digitdet.val.SceneMetrics`)."""
    return (f"{label:>12}: P {m.precision:.3f}  R {m.recall:.3f}  F1 {m.f1:.3f}  "
            f"numbers {m.number_accuracy:.3f}  scenes {m.scene_accuracy:.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.robustset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    checkargs.add_arguments(p, mnist=False)
    p.add_argument("--dataset", default="datasets/digits")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="the first N scenes")
    p.add_argument("--corruption", nargs="+", choices=list(CORRUPTIONS), default=list(CORRUPTIONS))
    p.add_argument("--levels", nargs="+", type=int, choices=LEVELS, default=list(LEVELS))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        if args.limit < 1:
            raise UserError(f"--limit must be at least 1, got {args.limit}")
        root = Path(args.dataset)
        records = split_records(root, args.split, args.limit)  # a missing split fails at once
        detector = checkargs.build_detector(args)
    except UserError as exc:
        return error_exit("digitdet.robustset", exc)
    digits = sum(len(n["digits"]) for r in records for n in r["numbers"])
    numbers = sum(len(r["numbers"]) for r in records)
    print(f"{len(records)} {args.split} scenes of {root} ({digits} digits, {numbers} numbers), "
          f"{detector.weights}", flush=True)
    runs = [(None, 0)] + [(c, v) for c in args.corruption for v in sorted(set(args.levels))]
    for name, level in runs:
        m = evaluate_corruption(detector, root, args.split, name, level, args.limit, args.seed,
                                args.conf_thres)
        print(format_line("clean" if name is None else f"{name} {level}", m), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
