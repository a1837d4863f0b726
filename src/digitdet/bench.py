"""Speed benchmark: digitdet vs ultralytics on the same 640x480 frames, in one process.

Usage:
    python -m digitdet.bench                        # shipped model, 100 test-split frames
    python -m digitdet.bench --onnx m.onnx --pt m.pt --images 'datasets/digits/images/test/*.jpg'

Runs (1) digitdet's DigitDetector on the ONNX, (2) ultralytics ``YOLO(pt).predict`` as its users
run it by default, (3) ultralytics ``YOLO(onnx).predict`` on the same ONNX, each end to end from a
decoded BGR frame to results, and reports images/s, the pre/inference/post split, the speed
ratios, and whether digitdet's detections match (3) (same classes, boxes within 1 px).
This is a benchmark, not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np


@dataclass
class Timing:
    name: str
    images_per_s: float
    pre_ms: float
    inf_ms: float
    post_ms: float

    def row(self) -> str:
        return (f"{self.name:<34} {self.images_per_s:8.1f} img/s   pre {self.pre_ms:6.2f}  "
                f"inference {self.inf_ms:7.2f}  post {self.post_ms:6.2f} ms")


def load_frames(pattern: str, n: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """Up to ``n`` frames of exactly ``size`` (w, h): matching images, else resized ones."""
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise SystemExit(f"digitdet.bench: error: no images match '{pattern}' (run 'make data')")
    frames = []
    for p in paths:
        img = cv2.imread(p)
        if img is None:
            continue
        if (img.shape[1], img.shape[0]) != size:
            continue
        frames.append(img)
        if len(frames) == n:
            break
    if not frames:
        frames = [cv2.resize(im, size) for im in map(cv2.imread, paths[:n]) if im is not None]
    return frames


def time_digitdet(onnx: Path, frames: list[np.ndarray], imgsz: int) -> tuple[Timing, list[Any]]:
    from digitdet.detector import DigitDetector

    det = DigitDetector(onnx, imgsz=imgsz)
    for f in frames[:5]:
        det.predict(f)
    out, times = [], []
    t0 = time.perf_counter()
    for f in frames:
        pred = det.predict(f)
        out.append(pred.detections)
        times.append(pred.timing_ms)
    dt = time.perf_counter() - t0
    pre, inf, post = np.mean(times, 0)
    return Timing("digitdet (ONNX Runtime)", len(frames) / dt, pre, inf, post), out


def time_ultralytics(weights: Path, frames: list[np.ndarray], imgsz: int, name: str,
                     ) -> tuple[Timing, list[Any]]:
    from ultralytics import YOLO

    model: Any = YOLO(str(weights), task="detect")
    kw: dict[str, Any] = {"imgsz": imgsz, "conf": 0.25, "iou": 0.45, "verbose": False, "device": "cpu"}
    for f in frames[:5]:
        model.predict(f, **kw)
    out, speeds = [], []
    t0 = time.perf_counter()
    for f in frames:
        r = model.predict(f, **kw)[0]
        out.append(r)
        speeds.append([r.speed["preprocess"], r.speed["inference"], r.speed["postprocess"]])
    dt = time.perf_counter() - t0
    pre, inf, post = np.mean(speeds, 0)
    return Timing(name, len(frames) / dt, pre, inf, post), out


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
    weights_dir = Path(str(resources.files("digitdet") / "weights"))
    p = argparse.ArgumentParser(prog="python -m digitdet.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", default=str(weights_dir / "digitdet-v5n.onnx"))
    p.add_argument("--pt", default=str(weights_dir / "digitdet-v5n.pt"))
    p.add_argument("--images", default="datasets/digits/images/test/*.jpg")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--imgsz", type=int, default=320)
    args = p.parse_args(argv)
    os.environ["YOLO_OFFLINE"] = "1"
    for path in (args.onnx, args.pt):
        if not Path(path).is_file():
            print(f"digitdet.bench: error: {path} not found", file=sys.stderr)
            return 2
    frames = load_frames(args.images, args.n)
    print(f"{len(frames)} frames of 640x480, imgsz {args.imgsz}, {os.cpu_count()} CPU cores")
    ours, det_ours = time_digitdet(Path(args.onnx), frames, args.imgsz)
    ul_pt, _ = time_ultralytics(Path(args.pt), frames, args.imgsz, "ultralytics YOLO(.pt).predict")
    ul_onnx, det_ul = time_ultralytics(Path(args.onnx), frames, args.imgsz,
                                       "ultralytics YOLO(.onnx).predict")
    for t in (ours, ul_pt, ul_onnx):
        print(t.row())
    same, worst = compare(det_ours, det_ul)
    print(f"speed-up vs ultralytics .pt:   {ours.images_per_s / ul_pt.images_per_s:.2f}x")
    print(f"speed-up vs ultralytics ONNX:  {ours.images_per_s / ul_onnx.images_per_s:.2f}x")
    print(f"identical detections to ultralytics ONNX: {same}/{len(frames)} frames "
          f"(same classes, boxes within 1 px; largest difference {worst:.2f} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
