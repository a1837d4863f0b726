"""Speed benchmark: digitdet vs ultralytics on the same 640x480 frames, in one process.

Usage:
    python -m digitdet.bench                        # shipped model, 100 test-split frames
    python -m digitdet.bench --onnx m.onnx --pt m.pt --images 'datasets/digits/images/test/*.jpg'
    python -m digitdet.bench --frame-size 4032x3024 --n 20   # phone-photo-sized frames
    python -m digitdet.bench --no-context           # the second stage without context lifting

Runs, end to end from a decoded BGR frame to results: (1) digitdet's ``DigitDetector.predict``
on the ONNX, one frame at a time (what a live camera gets), (2) ``DigitDetector.predict_many``,
several frames in flight (what folders and videos get in ``digitdet.detect``), (3) ultralytics
``YOLO(pt).predict`` as its users run it by default, (4) ultralytics ``YOLO(onnx).predict`` on the
same ONNX; (1) and (2) run the detector alone, as (4) does, then again with the second stage
the shipped detector uses by default: the recognizer (``--recognizer``, :mod:`digitdet.recognize`)
and the box refiner (``--refiner``, :mod:`digitdet.refine`), whose detections differ from (4) by
design. The pipelines take turns for ``--rounds`` rounds;
each reports its median images/s (and range) and mean pre/inference/post ms per frame (for (2)
they overlap, so they do not add up to the wall time), then the speed ratios, and whether
digitdet's detections match (4) (same classes, boxes within 1 px). This is a benchmark, not a
test: figures depend on the machine.

``--frame-size`` resizes the frames (bilinear) to another size, e.g. a phone photo's, where
letterboxing costs more: digitdet shrinks a frame by averaging once it is more than twice the
model's size, ultralytics by bilinear sampling, so there their boxes may differ.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError
from digitdet.image import parse_size


@dataclass
class Timing:
    name: str
    images_per_s: float
    pre_ms: float
    inf_ms: float
    post_ms: float
    low: float = 0.0  # slowest and fastest round, images/s
    high: float = 0.0

    def row(self) -> str:
        return (f"{self.name:<36} {self.images_per_s:6.1f} img/s ({self.low:5.1f}-{self.high:5.1f})  "
                f"pre {self.pre_ms:5.2f}  inference {self.inf_ms:6.2f}  post {self.post_ms:5.2f} ms")


def median_of(rounds: list[Timing]) -> Timing:
    """One Timing from several rounds: median images/s with its range, mean ms split."""
    ips = [t.images_per_s for t in rounds]
    pre, inf, post = np.mean([[t.pre_ms, t.inf_ms, t.post_ms] for t in rounds], 0)
    return Timing(rounds[0].name, float(np.median(ips)), pre, inf, post, min(ips), max(ips))


def load_frames(pattern: str, n: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """Up to ``n`` frames of exactly ``size`` (w, h): matching images, else resized ones."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no images match '{pattern}' (run 'make data')")
    frames: list[np.ndarray] = []
    others: list[np.ndarray] = []  # the first n of another size, resized if none fits
    for p in paths:
        img = cv2.imread(p)
        if img is None:
            continue
        if (img.shape[1], img.shape[0]) == size:
            frames.append(img)
            if len(frames) == n:
                break
        elif len(others) < n:
            others.append(img)
    return frames or [cv2.resize(im, size) for im in others]


Pipeline = Callable[[list[np.ndarray]], tuple[Timing, list[Any]]]


def digitdet_pipelines(onnx: Path, imgsz: int | None, recognizer: Path | None = None,
                       refiner: Path | None = None, context: bool = True,
                       blur_recognizer: Path | None = None,
                       ) -> tuple[dict[str, Pipeline], int]:
    """digitdet one frame at a time (``seq``), and with several frames in flight (``many``), the
    detector alone; with a ``recognizer`` (its ``blur_recognizer``, and a ``refiner``), both
    again with them (``seq+rec``, ``many+rec``; ``context`` as
    :class:`~digitdet.detector.DigitDetector`'s); and the image size used (``imgsz=None``: the
    model's own default, from the ONNX metadata)."""
    from digitdet.detector import DigitDetector

    def finish(name: str, preds: list[Any], dt: float) -> tuple[Timing, list[Any]]:
        pre, inf, post = np.mean([p.timing_ms for p in preds], 0)
        return Timing(name, len(preds) / dt, pre, inf, post), [p.detections for p in preds]

    def pipelines(det: DigitDetector, suffix: str, label: str) -> dict[str, Pipeline]:
        def one_by_one(frames: list[np.ndarray]) -> tuple[Timing, list[Any]]:
            t0 = time.perf_counter()
            preds = [det.predict(f) for f in frames]
            return finish(f"digitdet predict{label} (1 at a time)", preds, time.perf_counter() - t0)

        def in_flight(frames: list[np.ndarray]) -> tuple[Timing, list[Any]]:
            t0 = time.perf_counter()
            preds = list(det.predict_many(frames))
            return finish(f"digitdet predict_many{label}", preds, time.perf_counter() - t0)

        return {"seq" + suffix: one_by_one, "many" + suffix: in_flight}

    det = DigitDetector(onnx, imgsz=imgsz, recognizer=False)
    pipes = pipelines(det, "", "")
    if recognizer is not None:
        second = DigitDetector(onnx, imgsz=imgsz, recognizer=recognizer, refiner=refiner or False,
                               context=context, blur_recognizer=blur_recognizer or False)
        pipes.update(pipelines(second, "+rec", " + recognizer" + (" + refiner" if refiner else "")))
    return pipes, det.imgsz


def ultralytics_pipeline(weights: Path, imgsz: int, name: str) -> Pipeline:
    """ultralytics' predict as its users call it, one frame at a time."""
    from ultralytics import YOLO

    model: Any = YOLO(str(weights), task="detect")
    kw: dict[str, Any] = {"imgsz": imgsz, "conf": DEFAULT_CONF, "iou": 0.45, "verbose": False,
                          "device": "cpu"}  # digitdet's own defaults, so detections can be compared

    def run(frames: list[np.ndarray]) -> tuple[Timing, list[Any]]:
        out, speeds = [], []
        t0 = time.perf_counter()
        for f in frames:
            r = model.predict(f, **kw)[0]
            out.append(r)
            speeds.append([r.speed["preprocess"], r.speed["inference"], r.speed["postprocess"]])
        dt = time.perf_counter() - t0
        pre, inf, post = np.mean(speeds, 0)
        return Timing(name, len(frames) / dt, pre, inf, post), out

    return run


def compare(ours: list[Any], theirs: list[Any], tol: float = 1.0) -> tuple[int, float]:
    """(frames whose detections match, largest box difference in px over matched frames)."""
    same, worst = 0, 0.0
    for d, r in zip(ours, theirs, strict=True):
        xyxy = r.boxes.xyxy.cpu().numpy()
        cls = r.boxes.cls.cpu().numpy().astype(int)
        if len(xyxy) != len(d):
            continue
        order_a = np.lexsort((d.xyxy[:, 1], d.xyxy[:, 0], d.class_id))
        order_b = np.lexsort((xyxy[:, 1], xyxy[:, 0], cls))
        if not np.array_equal(d.class_id[order_a], cls[order_b]):
            continue
        diff = float(np.abs(d.xyxy[order_a] - xyxy[order_b]).max()) if len(d) else 0.0
        if diff <= tol:
            same += 1
            worst = max(worst, diff)
    return same, worst


def main(argv: list[str] | None = None) -> int:
    from digitdet.detector import (
        DEFAULT_BLUR_RECOGNIZER,
        DEFAULT_PT,
        DEFAULT_RECOGNIZER,
        DEFAULT_REFINER,
        DEFAULT_WEIGHTS,
        weights_dir,
    )

    folder = weights_dir()
    p = argparse.ArgumentParser(prog="python -m digitdet.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", default=str(folder / DEFAULT_WEIGHTS))
    p.add_argument("--pt", default=str(folder / DEFAULT_PT))
    p.add_argument("--images", default="datasets/digits/images/test/*.jpg")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--frame-size", default="640x480", help="WIDTHxHEIGHT of the frames")
    p.add_argument("--imgsz", type=int, default=None, help="default: the model's own (ONNX metadata)")
    p.add_argument("--rounds", type=int, default=3, help="the pipelines take turns this many times")
    p.add_argument("--recognizer", default=str(folder / DEFAULT_RECOGNIZER),
                   help="time digitdet with this second stage too (default: the shipped one)")
    p.add_argument("--no-recognizer", action="store_true", help="time the detector alone")
    p.add_argument("--blur-recognizer", default=str(folder / DEFAULT_BLUR_RECOGNIZER),
                   help="the recognizer's member for blurred images (default: the shipped one)")
    p.add_argument("--no-blur-recognizer", action="store_true",
                   help="the recognizer without its member for blurred images")
    p.add_argument("--refiner", default=str(folder / DEFAULT_REFINER),
                   help="and with this box refiner after the recognizer (default: the shipped one)")
    p.add_argument("--no-refiner", action="store_true", help="the recognizer without a refiner")
    p.add_argument("--no-context", action="store_true",
                   help="the second stage without context lifting (digitdet.context)")
    args = p.parse_args(argv)
    os.environ["YOLO_OFFLINE"] = "1"
    recognizer = None if args.no_recognizer else Path(args.recognizer)
    refiner = None if args.no_refiner or not recognizer else Path(args.refiner)
    blur = None if args.no_blur_recognizer or not recognizer else Path(args.blur_recognizer)
    for path in (args.onnx, args.pt, *(x for x in (recognizer, refiner, blur) if x)):
        if not Path(path).is_file():
            print(f"digitdet.bench: error: {path} not found", file=sys.stderr)
            return 2
    try:
        if args.n < 1:
            raise UserError(f"--n must be at least 1, got {args.n}")
        size = parse_size(args.frame_size, "--frame-size")
        frames = load_frames(args.images, args.n, size)
        pipes, imgsz = digitdet_pipelines(Path(args.onnx), args.imgsz, recognizer, refiner,
                                          not args.no_context, blur)
    except (FileNotFoundError, UserError) as exc:
        print(f"digitdet.bench: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(frames)} frames of {size[0]}x{size[1]}, imgsz {imgsz}, {os.cpu_count()} CPU cores")
    pipes["pt"] = ultralytics_pipeline(Path(args.pt), imgsz, "ultralytics YOLO(.pt).predict")
    pipes["onnx"] = ultralytics_pipeline(Path(args.onnx), imgsz, "ultralytics YOLO(.onnx).predict")
    rounds: dict[str, list[Timing]] = {k: [] for k in pipes}
    dets: dict[str, list[Any]] = {}
    for run in pipes.values():  # warm-up: sessions, thread pools, first-shape costs
        run(frames[:5])
    for _ in range(max(args.rounds, 1)):
        for k, run in pipes.items():
            timing, dets[k] = run(frames)
            rounds[k].append(timing)
    t = {k: median_of(v) for k, v in rounds.items()}
    for k in pipes:
        print(t[k].row())
    for k in pipes:
        if not k.startswith(("seq", "many")):
            continue
        print(f"{t[k].name}: {t[k].images_per_s / t['pt'].images_per_s:.2f}x ultralytics .pt, "
              f"{t[k].images_per_s / t['onnx'].images_per_s:.2f}x ultralytics ONNX")
        same, worst = compare(dets[k], dets["onnx"])
        largest = f"; largest difference {worst:.2f} px" if same else ""
        why = "" if "+" not in k else "; the second stage changes some, by design"
        print(f"  identical detections to ultralytics ONNX: {same}/{len(frames)} frames "
              f"(same classes, boxes within 1 px{largest}{why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
