"""Measure a model: detection mAP, digit P/R/F1, number and scene accuracy, held-out MNIST top-1.

Usage:
    python -m digitdet.val                                   # shipped model, datasets/digits test
    python -m digitdet.val --weights runs/train/exp/weights/best.onnx --mnist-dir ../shared/mnist
    python -m digitdet.val --fonts                           # + handwriting-font numbers (OOD)
    python -m digitdet.val --weights a.onnx --no-mnist --fonts --fonts-seed 1 --fonts-per-font 24
                                                             # another font sample, to pick checkpoints
    python -m digitdet.val --no-mnist --save-json runs/val/metrics.json
    python -m digitdet.val --no-mnist --dataset datasets/digits-s3 --split val --conf-sweep
                                                             # P/R/F1, numbers, scenes per confidence

The test split holds scenes made only from MNIST test digits 5000-9999, which no training or
validation scene uses. mAP follows ultralytics (conf 0.001, 101-point AP, IoU 0.50:0.95); P/R/F1,
numbers and scenes use the detector's default confidence, matching the digits with the boxes kept
there only (IoU >= 0.5, same class). MNIST top-1 is the class of the most
confident detection on each digit's canvas; "found" also needs it above that confidence. The
"paint" lines redraw the first 1,000 held-out MNIST digits 700 px tall on a 1280x960 canvas with a
3-px (hairline) or fat brush, as drawn in a paint program. The "sticks" line reads pages of
held-out numbers whose 1s are plain upright strokes, and the same pages with MNIST's own 1s;
"crossed_sevens" the same with crossed 7s; "touching" and "overlapping" read pages of held-out
numbers whose inks touch or overlap by up to a tenth of a digit's height, or by a tenth to a
fifth, against the same pages with the digits apart; "combs" the same numbers written in comb
fields, a printed box per digit (:mod:`digitdet.stickset`).
``runs/val/failures.png`` shows the scenes that were read wrong (the first 16);
``runs/val/font_failures.png`` with ``--fonts``, the first font scene of each font read wrong.
``--fonts`` scores the model card's Debian handwriting fonts (``fonts``) and, where ``make fonts``
has fetched them, the 19 held-out npm ones (``fonts_npm``), then the same scenes with a word written
beside each number (``fonts_words``, ``fonts_npm_words``): see :mod:`digitdet.fontset`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from digitdet import stageargs
from digitdet.decode import DEFAULT_CONF, box_iou
from digitdet.errors import UserError, make_folder
from digitdet.labels import read_scenes, split_records
from digitdet.letterbox import letterbox_shape
from digitdet.mnist import MnistError
from digitdet.numbers import read_numbers
from digitdet.results import Detections, Number

IOUV = np.linspace(0.5, 0.95, 10)


def _one_to_one(iou: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(gt index, prediction index)`` with IoU >= t, each used once, highest IoU first."""
    gi, pi = np.nonzero(iou >= t)
    if len(gi) == 0:
        return gi, pi
    order = np.argsort(-iou[gi, pi], kind="stable")
    gi, pi = gi[order], pi[order]
    _, first = np.unique(pi, return_index=True)
    gi, pi = gi[first], pi[first]
    order = np.argsort(-iou[gi, pi], kind="stable")
    gi, pi = gi[order], pi[order]
    _, first = np.unique(gi, return_index=True)
    return gi[first], pi[first]


def match_predictions(gt_box: np.ndarray, gt_cls: np.ndarray, det: Detections,
                      thresholds: Iterable[float] = IOUV) -> np.ndarray:
    """``(N, T) bool``: is prediction n a true positive at IoU threshold t (one GT each); the
    ten mAP thresholds 0.50:0.95 unless ``thresholds`` are given."""
    ts = list(thresholds)
    correct = np.zeros((len(det), len(ts)), bool)
    if len(det) == 0 or len(gt_box) == 0:
        return correct
    iou = box_iou(gt_box, det.xyxy) * (gt_cls[:, None] == det.class_id[None])
    for k, t in enumerate(ts):
        correct[_one_to_one(iou, t)[1], k] = True
    return correct


DEFAULT_SWEEP = tuple(round(0.1 + 0.05 * k, 2) for k in range(11))  # --conf-sweep: 0.10 ... 0.60
HEIGHT_EDGES = (12, 24, 48)  # digit height buckets in model pixels (after the letterbox scale)
ON_DIGIT_IOU = 0.1  # a background detection this close to a digit is on it (a part, two, a copy)


@dataclass
class ErrorCounts:
    """Where the errors at the default confidence are: misses by digit height, false positives
    on another digit (misread) or on background (ink that is not a digit, nothing, or a second
    box on a digit already found); of the background ones, how many overlap a digit (IoU >= 0.1:
    a part of it, two digits at once, a second box on one)."""

    gt_by_height: np.ndarray = field(default_factory=lambda: np.zeros(len(HEIGHT_EDGES) + 1, int))
    hit_by_height: np.ndarray = field(default_factory=lambda: np.zeros(len(HEIGHT_EDGES) + 1, int))
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((10, 10), int))  # true, read
    background: np.ndarray = field(default_factory=lambda: np.zeros(10, int))  # per read class
    on_digits: int = 0  # background ones that overlap a digit: a part of one, two at once, a second box

    def add(self, gt_box: np.ndarray, gt_cls: np.ndarray, det: Detections, scale: float) -> None:
        """Count one image: ``gt_box (G, 4)`` image pixels, ``det`` above the confidence."""
        bucket = np.searchsorted(HEIGHT_EDGES, (gt_box[:, 3] - gt_box[:, 1]) * scale, side="right")
        np.add.at(self.gt_by_height, bucket, 1)
        if len(det) == 0:
            return
        iou = box_iou(gt_box, det.xyxy)
        same = iou * (gt_cls[:, None] == det.class_id[None])
        gi, pi = _one_to_one(same, 0.5)
        np.add.at(self.hit_by_height, bucket[gi], 1)
        rest = np.setdiff1d(np.arange(len(det)), pi)
        free = np.setdiff1d(np.arange(len(gt_box)), gi)
        gj, pj = _one_to_one(iou[free][:, rest], 0.5)  # another digit's place: read wrong
        np.add.at(self.confusion, (gt_cls[free[gj]], det.class_id[rest[pj]]), 1)
        bg = np.setdiff1d(rest, rest[pj])
        np.add.at(self.background, det.class_id[bg], 1)
        if len(gt_box) and len(bg):
            self.on_digits += int((iou[:, bg].max(0) >= ON_DIGIT_IOU).sum())

    def report(self) -> dict[str, Any]:
        """Plain numbers for the JSON report."""
        edges = HEIGHT_EDGES
        names = [f"<{edges[0]}px"] + [f"{a}-{b}px" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        names.append(f">={edges[-1]}px")
        pairs = sorted(((int(self.confusion[t, r]), f"{t}->{r}") for t in range(10) for r in range(10)
                        if self.confusion[t, r]), reverse=True)
        return {
            "recall_by_height": {n: f"{h / max(g, 1):.3f} ({h}/{g})" for n, h, g in zip(
                names, self.hit_by_height.tolist(), self.gt_by_height.tolist(), strict=True)},
            "misread": int(self.confusion.sum()),
            "top_misreads": [f"{name}: {n}" for n, name in pairs[:6]],
            "background_false_positives": int(self.background.sum()),
            "background_by_class": {str(c): int(n) for c, n in enumerate(self.background) if n},
            "background_on_digits": self.on_digits,
        }


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """101-point interpolated AP of one precision/recall curve."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(x, mrec, mpre), x))


def map_scores(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, gt_cls: np.ndarray,
               nc: int = 10) -> tuple[float, float]:
    """(mAP50, mAP50-95) over classes present in the ground truth."""
    order = np.argsort(-conf, kind="stable")
    tp, pred_cls = tp[order], pred_cls[order]
    aps = []
    for c in range(nc):
        n_gt = int((gt_cls == c).sum())
        if n_gt == 0:
            continue
        sel = pred_cls == c
        if not sel.any():
            aps.append(np.zeros(len(IOUV)))
            continue
        tpc = tp[sel].cumsum(0)
        fpc = (1 - tp[sel]).cumsum(0)
        recall = tpc / n_gt
        precision = tpc / (tpc + fpc)
        aps.append(np.array([average_precision(recall[:, k], precision[:, k])
                             for k in range(len(IOUV))]))
    ap = np.array(aps) if aps else np.zeros((1, len(IOUV)))
    return float(ap[:, 0].mean()), float(ap.mean())


def match_numbers(gt: list[dict[str, Any]], pred: list[Number]) -> int:
    """How many ground-truth numbers are read exactly (same text, box IoU >= 0.5)."""
    used: set[int] = set()
    hits = 0
    for g in gt:
        gbox = np.array([g["box"]], np.float32)
        for k, p in enumerate(pred):
            if k in used or p.text != g["text"]:
                continue
            if box_iou(gbox, np.array([p.box], np.float32))[0, 0] >= 0.5:
                used.add(k)
                hits += 1
                break
    return hits


@dataclass
class SceneMetrics:
    images: int
    digits: int
    map50: float
    map50_95: float
    precision: float
    recall: float
    f1: float
    numbers: int
    number_accuracy: float
    scene_accuracy: float
    errors: dict[str, Any] = field(default_factory=dict)
    sweep: list[dict[str, float]] = field(default_factory=list)  # the same lines at other confs


@dataclass
class Tally:
    """Digit, number and scene counts at one confidence threshold."""

    conf: float
    tp: int = 0
    pred: int = 0
    gt: int = 0
    number_hits: int = 0
    numbers: int = 0
    scenes: int = 0
    scenes_ok: int = 0

    def add(self, gt_box: np.ndarray, gt_cls: np.ndarray, det: Detections,
            gt_numbers: list[dict[str, Any]]) -> tuple[np.ndarray, int, bool]:
        """Count one scene from all its detections ``det``; returns the mask of detections kept
        at this confidence, the numbers read exactly, and whether the whole scene was.

        Only the kept detections are matched to the digits (IoU >= 0.5, same class), as a user
        sees them: a less confident box that fits a digit better does not take it from a kept
        one (mAP's matching, over every detection, lets it)."""
        keep = det.confidence >= self.conf
        kept = det[keep]
        self.tp += int(match_predictions(gt_box, gt_cls, kept, (0.5,)).sum())
        self.pred += len(kept)
        self.gt += len(gt_cls)
        numbers = read_numbers(kept)
        hits = match_numbers(gt_numbers, numbers)
        self.number_hits += hits
        self.numbers += len(gt_numbers)
        ok = hits == len(gt_numbers) and len(numbers) == len(gt_numbers)
        self.scenes += 1
        self.scenes_ok += ok
        return keep, hits, ok

    def scores(self) -> dict[str, float]:
        """``conf``, ``precision``, ``recall``, ``f1``, ``number_accuracy``, ``scene_accuracy``."""
        p = self.tp / max(self.pred, 1)
        r = self.tp / max(self.gt, 1)
        return {"conf": self.conf, "precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9),
                "number_accuracy": self.number_hits / max(self.numbers, 1),
                "scene_accuracy": self.scenes_ok / max(self.scenes, 1)}


def evaluate_split(detector: Any, root: Path, split: str = "test", conf: float = DEFAULT_CONF,
                   limit: int | None = None, failures: list[tuple[np.ndarray, Any, dict]] | None = None,
                   sweep: tuple[float, ...] = (),
                   transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
                   ) -> SceneMetrics:
    """Run ``detector`` over a synthesized split and score it against its labels.

    P/R/F1, numbers and scenes are counted at ``conf``, and again at each confidence in ``sweep``
    (from the same detections) into ``SceneMetrics.sweep``. ``transform(image, index)``, when
    given, changes each scene before it is read, without moving its digits
    (:mod:`digitdet.robustset`).
    """
    from tqdm import tqdm

    records = split_records(root, split, limit)
    tps, confs, pcls, gcls = [], [], [], []
    main = Tally(conf)
    others = [Tally(c) for c in sweep]
    errors = ErrorCounts()
    scenes = tqdm(read_scenes(root, split, records), desc=f"val {split}", unit="img",
                  total=len(records), leave=False, disable=not sys.stderr.isatty())
    for k, (rec, (img, gt_box, gt_cls)) in enumerate(zip(records, scenes, strict=True)):
        if transform is not None:
            img = transform(img, k)
        det = detector.predict(img, conf=0.001).detections  # all scores, for mAP
        tp = match_predictions(gt_box, gt_cls, det)
        tps.append(tp)
        confs.append(det.confidence)
        pcls.append(det.class_id)
        gcls.append(gt_cls)
        keep, _, ok = main.add(gt_box, gt_cls, det, rec["numbers"])
        for t in others:
            t.add(gt_box, gt_cls, det, rec["numbers"])
        h = img.shape[0]
        (nh, _), _ = letterbox_shape(h, img.shape[1], detector.imgsz, scaleup=detector.scaleup)
        errors.add(gt_box, gt_cls, det[keep], nh / h)  # the letterbox's own scale
        if not ok and failures is not None and len(failures) < 16:
            failures.append((img, det[keep], rec))
    map50, map5095 = map_scores(np.concatenate(tps) if tps else np.zeros((0, 10), bool),
                                np.concatenate(confs) if confs else np.zeros(0),
                                np.concatenate(pcls) if pcls else np.zeros(0, np.int64),
                                np.concatenate(gcls) if gcls else np.zeros(0, np.int64))
    m = main.scores()
    return SceneMetrics(len(records), main.gt, map50, map5095, m["precision"], m["recall"], m["f1"],
                        main.numbers, m["number_accuracy"], m["scene_accuracy"], errors.report(),
                        [t.scores() for t in others])


def mnist_canvas(img28: np.ndarray, invert: bool, canvas: int = 160, digit: int = 112) -> np.ndarray:
    """One MNIST digit enlarged and centred on a drawing-pad canvas, ``uint8 (H, W, 3)``."""
    big = cv2.resize(img28, (digit, digit), interpolation=cv2.INTER_CUBIC)
    out = np.zeros((canvas, canvas), np.uint8)
    o = (canvas - digit) // 2
    out[o:o + digit, o:o + digit] = big
    if invert:
        out = 255 - out
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)


def mnist_top1(detector: Any, images: np.ndarray, labels: np.ndarray, invert: bool,
               conf: float = DEFAULT_CONF, canvas: int = 160, digit: int = 112) -> tuple[float, float]:
    """Top-1 accuracy on each digit's :func:`mnist_canvas`: ``(top1, found)`` as in
    :func:`top1_on_canvases`."""
    return top1_on_canvases(detector, (mnist_canvas(img, invert, canvas, digit) for img in images),
                            labels, conf)


def top1_on_canvases(detector: Any, canvases: Iterable[np.ndarray], labels: np.ndarray,
                     conf: float = DEFAULT_CONF) -> tuple[float, float]:
    """Top-1 accuracy over one-digit ``uint8 (H, W, 3)`` canvases: ``(top1, found)``.

    ``top1``: the most confident detection (any score) has the right class, the usual top-1 of a
    classifier. ``found``: the same, and that detection also clears ``conf`` (the detector's
    default), so ``detect`` would report it.
    """
    from tqdm import tqdm

    right = found = 0
    for img, label in tqdm(zip(canvases, labels, strict=True), total=len(labels), leave=False,
                           disable=not sys.stderr.isatty(), desc="top-1"):
        det = detector.predict(img, conf=0.001).detections
        if len(det):
            best = int(np.argmax(det.confidence))
            if int(det.class_id[best]) == int(label):
                right += 1
                found += bool(det.confidence[best] >= conf)
    n = max(len(labels), 1)
    return right / n, found / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.val", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None)
    p.add_argument("--imgsz", type=int, default=None)
    p.add_argument("--dataset", default="datasets/digits")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="only the first N scenes")
    p.add_argument("--conf-thres", type=float, default=DEFAULT_CONF)
    p.add_argument("--conf-sweep", type=float, nargs="*", default=None, metavar="CONF",
                   help="also score the split at these confidences (none given: 0.10-0.60 by 0.05)")
    p.add_argument("--agnostic-nms", action="store_true", help="NMS across classes")
    p.add_argument("--augment", action="store_true", help="add a zoomed-out pass for big digits")
    stageargs.add_arguments(p)
    p.add_argument("--scaleup", action="store_true",
                   help="enlarge images smaller than imgsz, as ultralytics does (default: pad only)")
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--no-mnist", action="store_true", help="skip the held-out MNIST top-1")
    p.add_argument("--fonts", action="store_true", help="also score handwriting-font numbers")
    p.add_argument("--fonts-seed", type=int, default=0,
                   help="seed of the font scenes (0: the model card's sample)")
    p.add_argument("--fonts-per-font", type=int, default=12, help="font scenes per font")
    p.add_argument("--save-json", default="runs/val/metrics.json")
    args = p.parse_args(argv)
    try:
        if args.fonts_per_font < 1:
            raise UserError(f"--fonts-per-font must be at least 1, got {args.fonts_per_font}")
        sweep = DEFAULT_SWEEP if args.conf_sweep == [] else tuple(args.conf_sweep or ())
        bad = [c for c in (args.conf_thres, *sweep) if not 0.0 < c < 1.0]
        if bad:
            raise UserError(f"confidence thresholds must lie between 0 and 1, got {bad[0]}")
        out = Path(args.save_json)
        make_folder(out.parent)  # and so does an output folder that cannot be made, not after the run
        from digitdet.detector import DigitDetector

        detector = DigitDetector(args.weights, imgsz=args.imgsz, conf=args.conf_thres,
                                 agnostic_nms=args.agnostic_nms, augment=args.augment,
                                 scaleup=args.scaleup, **stageargs.settings(args))
        split_records(Path(args.dataset), args.split, 1)  # a missing split fails at once
        data = None
        if not args.no_mnist:  # before the scenes: a bad --mnist-dir fails at once
            from digitdet import mnist

            data = mnist.load(args.mnist_dir)
        failures: list[tuple[np.ndarray, Any, dict]] = []
        scene = evaluate_split(detector, Path(args.dataset), args.split, args.conf_thres,
                               args.limit, failures, sweep)
        rec, ref = detector.recognizer, detector.refiner
        report: dict[str, Any] = {"weights": str(detector.weights),
                                  "recognizer": str(rec.path) if rec else None,
                                  "blur_recognizer": str(rec.blurred_path)
                                  if rec and rec.blurred_path else None,
                                  "refiner": str(ref.path) if ref else None,
                                  "deskew": detector.deskew, "brighten": detector.brighten,
                                  "imgsz": detector.imgsz,
                                  "augment": args.augment, "scaleup": args.scaleup,
                                  "split": args.split, **asdict(scene)}
        if data is not None:
            x, y = data.test_images[mnist.HELDOUT_START:], data.test_labels[mnist.HELDOUT_START:]
            report["mnist_heldout_n"] = len(y)
            # 112-px digits on 160-px canvases both ways; 400-px digits on 480-px canvases, as
            # drawn big in a paint program (black on white)
            for name, invert, canvas, digit in (("white_on_black", False, 160, 112),
                                                ("black_on_white", True, 160, 112),
                                                ("big_black_on_white", True, 480, 400)):
                top1, found = mnist_top1(detector, x, y, invert, args.conf_thres, canvas, digit)
                report[f"mnist_top1_{name}"] = top1
                report[f"mnist_found_{name}"] = found
            from digitdet.paintset import PAINT_DIGITS, PAINT_PENS, paint_glyphs, paint_top1

            # the first 1,000 redrawn with a paint program's hairline or fat brush, 700 px tall
            glyphs, labels = paint_glyphs(x[:PAINT_DIGITS], y[:PAINT_DIGITS])
            report["paint_n"] = len(labels)
            for (pen_name, pen), invert in itertools.product(PAINT_PENS, (True, False)):
                name = f"{pen_name}_{'black_on_white' if invert else 'white_on_black'}"
                top1, found = paint_top1(detector, glyphs, labels, pen, invert, args.conf_thres)
                report[f"paint_top1_{name}"] = top1
                report[f"paint_found_{name}"] = found
            from digitdet.stickset import (
                OVERLAPPING,
                STYLES,
                TOUCHING,
                evaluate_combs,
                evaluate_sticks,
                evaluate_touching,
            )

            # pages of held-out numbers whose 1s are plain upright strokes (or 7s crossed), and
            # the same with MNIST's own
            for digit, key in STYLES.items():
                report[key] = evaluate_sticks(detector, x, y, conf=args.conf_thres, digit=digit)
            # numbers whose digits touch or overlap (the pages apart once, with the first)
            report["touching"] = evaluate_touching(detector, x, y, TOUCHING, conf=args.conf_thres)
            report["overlapping"] = evaluate_touching(detector, x, y, OVERLAPPING,
                                                      conf=args.conf_thres, apart=False)
            report["combs"] = evaluate_combs(detector, x, y, conf=args.conf_thres, apart=False)
        font_failures: list[tuple[np.ndarray, Any, dict]] = []
        if args.fonts:
            from digitdet.fontset import evaluate_fonts, find_npm_fonts

            npm = find_npm_fonts()  # the held-out npm fonts, where `make fonts` fetched them
            for words in (False, True):  # the same numbers with a word beside each ("Total 42")
                tag = "_words" if words else ""
                report[f"fonts{tag}"] = evaluate_fonts(
                    detector, args.fonts_per_font, args.fonts_seed, sweep=sweep,
                    failures=None if words else font_failures, words=words)
                if npm:
                    report[f"fonts_npm{tag}"] = evaluate_fonts(
                        detector, args.fonts_per_font, args.fonts_seed, fonts=npm, sweep=sweep,
                        failures=None if words else font_failures, words=words)
    except (UserError, MnistError) as exc:
        print(f"digitdet.val: error: {exc}", file=sys.stderr)
        return 2
    print_report(report, args.split)
    try:
        out.write_text(json.dumps(report, indent=1))
        write_failure_sheets(out.parent, {"failures.png": failures,
                                          "font_failures.png": font_failures})
    except OSError as exc:
        print(f"digitdet.val: error: cannot write {exc.filename or out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    return 0


FONT_KEYS = {"fonts": "handwriting fonts", "fonts_npm": "npm handwriting fonts",  # --fonts' report keys
             "fonts_words": "handwriting fonts, a word beside each number",
             "fonts_npm_words": "npm handwriting fonts, a word beside each number"}


def print_report(report: dict[str, Any], split: str) -> None:
    """Print ``report`` one key a line (floats to 4 places), then the confidence sweeps."""
    for key, value in report.items():
        if key == "sweep":
            continue
        if key in FONT_KEYS and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "sweep"}
        print(f"{key:>36}: {value:.4f}" if isinstance(value, float) else f"{key:>36}: {value}")
    if report["sweep"]:
        print(f"{split} split by confidence:\n{format_sweep(report['sweep'])}")
    for key, name in FONT_KEYS.items():
        if report.get(key, {}).get("sweep"):
            print(f"{name} by confidence:\n{format_sweep(report[key]['sweep'])}")



def format_sweep(rows: list[dict[str, float]]) -> str:
    """The confidence sweep as a text table; ``*`` marks the best F1 and the best number accuracy."""
    best_f1 = max(range(len(rows)), key=lambda i: rows[i]["f1"])
    best_num = max(range(len(rows)), key=lambda i: rows[i]["number_accuracy"])
    lines = ["  conf  precision  recall     F1  numbers  scenes"]
    for i, r in enumerate(rows):
        lines.append(f"  {r['conf']:.2f}      {r['precision']:.3f}   {r['recall']:.3f}  {r['f1']:.3f}"
                     f"{'*' if i == best_f1 else ' '}   {r['number_accuracy']:.3f}"
                     f"{'*' if i == best_num else ' '}  {r['scene_accuracy']:.3f}")
    return "\n".join(lines)


def write_failure_sheets(folder: Path, sheets: dict[str, list[tuple[np.ndarray, Any, dict]]],
                         ) -> None:
    """Write each named sheet of (image, detections, record) cases into ``folder``; remove a sheet
    an earlier run left there when this run has no case for it, so that every sheet in the folder
    belongs to the run that wrote its ``metrics.json``."""
    for name, cases in sheets.items():
        if cases:
            _failure_sheet(cases, folder / name)
        else:
            (folder / name).unlink(missing_ok=True)


def _failure_sheet(failures: list[tuple[np.ndarray, Any, dict]], path: Path) -> None:
    from digitdet.annotate import draw_detections, draw_numbers

    cells = []
    for img, det, rec in failures:
        a = draw_numbers(draw_detections(img, det, 1), read_numbers(det), 1)
        truth = " ".join(n["text"] for n in rec["numbers"])[:60]
        if "font" in rec:
            truth += f"  ({rec['font']})"
        cv2.putText(a, "truth: " + truth, (4, a.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 255), 1, cv2.LINE_AA)
        s = 400 / max(a.shape[:2])
        cell = np.full((400, 400, 3), 40, np.uint8)
        a = cv2.resize(a, (int(a.shape[1] * s), int(a.shape[0] * s)), interpolation=cv2.INTER_AREA)
        cell[: a.shape[0], : a.shape[1]] = a
        cells.append(cell)
    while len(cells) % 4:
        cells.append(np.full((400, 400, 3), 40, np.uint8))
    rows = [np.hstack(cells[i: i + 4]) for i in range(0, len(cells), 4)]
    cv2.imwrite(str(path), np.vstack(rows))


if __name__ == "__main__":
    sys.exit(main())
