"""Phantom digits: the boxes a detector keeps on photos that show no digit at all.

Every box on such a photo is a false positive (a window read as a 1, a coin as a 0), so the count
is how much a camera pointed at a room, a desk or a face makes up. Bring your own photos: none may
show a digit (no clocks, house numbers, keyboards or printed pages).

Usage:
    python -m digitdet.photoset --photos photos/                    # the shipped pipeline
    python -m digitdet.photoset --photos a.jpg 'more/*.png' --no-recognizer   # the detector alone
    python -m digitdet.photoset --photos photos/ --weights best.onnx --recognizer \\
        src/digitdet/weights/digitdet-rec.onnx   # a model of your own, read with the second stage

``--photos`` takes files, folders and globs (:func:`digitdet.negatives.photo_paths`). Prints each
photo's count and the total at ``--conf-thres``. The check of docs/training-log.md ("Stage 15")
reads 24 of OpenCV's sample photos (from the opencv-python source distribution's
``samples/data``), ultralytics' ``zidane.jpg`` and matplotlib's ``grace_hopper.jpg``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from digitdet import checkargs
from digitdet.errors import UserError, error_exit


def count_boxes(detector: Any, paths: list[Path]) -> list[int]:
    """How many boxes ``detector`` (a :class:`~digitdet.detector.DigitDetector`) keeps on
    each image file, in order; an unreadable file raises :class:`UserError`."""
    from digitdet.image import as_bgr8

    return [len(detector.predict(as_bgr8(p)).detections) for p in paths]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.photoset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", nargs="+", required=True,
                   help="photos that show no digit: files, folders, globs")
    checkargs.add_arguments(p, mnist=False)
    args = p.parse_args(argv)
    try:
        from digitdet.negatives import photo_paths

        paths = photo_paths(args.photos)
        counts = count_boxes(checkargs.build_detector(args), paths)
    except UserError as exc:
        return error_exit("digitdet.photoset", exc)
    for path, n in zip(paths, counts, strict=True):
        print(f"{n:4d}  {path}")
    print(f"{sum(counts)} boxes on {len(paths)} photos with no digits "
          f"({sum(counts) / len(paths):.1f} a photo) at conf {args.conf_thres:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
