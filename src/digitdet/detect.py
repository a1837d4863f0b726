"""Find handwritten digits and read numbers in images, folders, videos, streams and webcams.

Usage:
    python -m digitdet.detect --source 0                      # webcam 0 (live window if a display)
    python -m digitdet.detect --source img.jpg                # one image
    python -m digitdet.detect --source path/to/folder/        # every image and video in a folder
    python -m digitdet.detect --source 'imgs/*.png'           # a glob (quote it)
    python -m digitdet.detect --source video.mp4              # a video file
    python -m digitdet.detect --source rtsp://host/stream     # an rtsp:// or http(s):// stream
    python -m digitdet.detect --source list.txt               # a .txt list of any of the above
    python -m digitdet.detect --source img.jpg --save-txt --save-conf --save-json --save-crop
    python -m digitdet.detect --source pad.png --augment      # + a zoomed-out pass for big digits
    python -m digitdet.detect --source scan.png --tile 640    # always read in 640-px tiles too
    python -m digitdet.detect --source photo.jpg --tile 0     # never tiles (default: auto)

Each image or frame gets a line on stdout with the numbers read, as yolov5 prints one:
    image 4/6 assets/samples/pad.png: 640x480, 4 digits, 1 number: 2024, 64.4ms
Results go to runs/detect/exp, exp2, ... (--project, --name, --exist-ok). Annotated images keep
their file names; videos become .mp4 at the source fps. --save-json writes predictions.jsonl, one
line per image or frame, flushed as it goes. Bad input: one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from digitdet import stageargs
from digitdet.annotate import draw_detections, draw_fps, draw_numbers
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError, error_exit, make_folder
from digitdet.labels import yolo_lines
from digitdet.results import Prediction
from digitdet.sources import CaptureFactory, Frame, open_source, resolve
from digitdet.tiles import parse_tile
from digitdet.video import VideoWriter


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m digitdet.detect", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, help="image, folder, glob, video, 0, URL or .txt")
    p.add_argument("--weights", default=None, help="model .onnx or .pt (default: shipped model)")
    p.add_argument("--imgsz", "--img", "--img-size", type=int, default=None,
                   help="inference size (default: the model's)")
    p.add_argument("--conf-thres", type=float, default=DEFAULT_CONF)
    p.add_argument("--iou-thres", type=float, default=0.45)
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--classes", nargs="+", type=int, default=None, help="keep only these digits")
    p.add_argument("--agnostic-nms", action="store_true", help="NMS across classes")
    p.add_argument("--augment", action="store_true",
                   help="add a zoomed-out 160-px pass that reads digits filling much of the image")
    p.add_argument("--tile", default="auto", metavar="auto|PX",
                   help="auto (default): read an image 3x the model's size or more in tiles too "
                        "when its digits look small, or one over 4x when it shows none (scans); "
                        "PX: always read images bigger than PX in PX-side tiles too; 0: whole")
    p.add_argument("--device", default="cpu")
    stageargs.add_arguments(p)
    p.add_argument("--view-img", action="store_true", help="show results in a window")
    p.add_argument("--nosave", action="store_true", help="do not save annotated images/videos")
    p.add_argument("--save-txt", action="store_true", help="save YOLO labels to labels/*.txt")
    p.add_argument("--save-conf", action="store_true", help="add confidences to --save-txt")
    p.add_argument("--save-crop", action="store_true", help="save each digit crop")
    p.add_argument("--save-json", action="store_true", help="save predictions.jsonl")
    p.add_argument("--project", default="runs/detect")
    p.add_argument("--name", default="exp")
    p.add_argument("--exist-ok", action="store_true")
    p.add_argument("--line-thickness", type=int, default=None)
    p.add_argument("--hide-labels", action="store_true")
    p.add_argument("--hide-conf", action="store_true")
    p.add_argument("--vid-stride", type=int, default=1)
    return p.parse_args(argv)


def increment_path(project: Path, name: str, exist_ok: bool) -> Path:
    """``project/name``, or ``name2``, ``name3``... so earlier runs are never overwritten."""
    path = project / name
    if exist_ok or not path.exists():
        return path
    stem = re.sub(r"\d+$", "", name) or name
    n = 2
    while (project / f"{stem}{n}").exists():
        n += 1
    return project / f"{stem}{n}"


def prediction_record(pred: Prediction, source: str, frame: int) -> dict[str, Any]:
    """The predictions.jsonl object for one image or frame (boxes in original pixels)."""
    det = pred.detections
    return {
        "source": source, "frame": frame, "width": pred.width, "height": pred.height,
        "tiles": pred.tiles,
        "detections": [{"box": [round(float(v), 1) for v in b], "cls": int(c),
                        "conf": round(float(s), 4)}
                       for b, c, s in zip(det.xyxy, det.class_id, det.confidence, strict=True)],
        "numbers": [{"text": n.text, "box": [round(v, 1) for v in n.box],
                     "conf": round(n.confidence, 4), "digits": list(n.digits)}
                    for n in pred.numbers],
    }


def frame_line(frame: Frame, pred: Prediction, item: int, items: int | None) -> str:
    """The line printed for one image or frame, as yolov5's ``detect.py`` prints one: what was
    read (``image 2/6 pad.png``, ``video 1/1 (frame 3/120) clip.mp4``, ``camera 0 frame 17``),
    its size (width x height), the digits and the numbers in reading order, and the time taken.
    ``item`` counts the files read so far (1-based); ``items`` is how many there are, when known."""
    of = f"{item}/{items}" if items else str(item)
    if frame.source.isdigit():
        where = f"camera {frame.source} frame {frame.index}"
    elif "://" in frame.source:
        where = f"{frame.source} frame {frame.index}"
    elif frame.fps > 0:
        total = f"/{frame.total}" if frame.total else ""
        where = f"video {of} (frame {frame.index + 1}{total}) {frame.source}"
    else:
        where = f"image {of} {frame.source}"
    n = len(pred.detections)
    what = "no digits" if n == 0 else f"{n} digit{'s' * (n != 1)}"
    if pred.numbers:
        k = len(pred.numbers)
        what += f", {k} number{'s' * (k != 1)}: " + " ".join(x.text for x in pred.numbers)
    return f"{where}: {pred.width}x{pred.height}, {what}, {sum(pred.timing_ms):.1f}ms"


def has_display() -> bool:
    """True when a window can be shown (X11/Wayland on Linux; always elsewhere)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@dataclass
class Stats:
    frames: int = 0
    images: int = 0
    skipped: list[str] = field(default_factory=list)
    times: list[tuple[float, float, float]] = field(default_factory=list)
    tiled: int = 0  # images and frames read in tiles too

    def summary(self, out: Path | None) -> str:
        n = max(len(self.times), 1)
        pre, inf, post = (sum(t[i] for t in self.times) / n for i in range(3))
        what = f"{self.images} image(s), {self.frames} video/stream frame(s)"
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        tiled = f", {self.tiled} read in tiles too" if self.tiled else ""
        where = f"; results in {out}" if out else ""
        return (f"{what}{tiled}{skipped}; mean {pre:.1f}ms pre, {inf:.1f}ms inference, "
                f"{post:.1f}ms post per frame{where}")


class Runner:
    """Runs the detector over frames and writes what the flags ask for (not the model itself)."""

    def __init__(self, args: argparse.Namespace, detector: Any, out: Path | None,
                 live: bool, say: Callable[[str], None] | None = None,
                 items: int | None = None) -> None:
        self.args, self.detector, self.out, self.live = args, detector, out, live
        self.say, self.items = say, items  # say: where each frame's line goes (none: silent)
        self._item, self._source = 0, ""
        self.stats = Stats()
        self.writers: dict[str, Any] = {}
        self.jsonl: IO[str] | None = None
        self.show = (args.view_img or live) and has_display()
        if args.view_img and not self.show:
            print("no display: --view-img ignored, results are still saved", file=sys.stderr)
        self._last = time.perf_counter()
        self._fps = 0.0
        if out is not None and args.save_json:
            out.mkdir(parents=True, exist_ok=True)
            self.jsonl = (out / "predictions.jsonl").open("a")

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()
        if self.jsonl is not None:
            self.jsonl.close()
            self.jsonl = None
        if self.show:
            cv2.destroyAllWindows()

    def _stem(self, source: str) -> str:
        if source.isdigit():
            return f"camera{source}"
        if "://" in source:
            return re.sub(r"[^A-Za-z0-9_.-]+", "_", source.split("://", 1)[1]).strip("_") or "stream"
        return Path(source).stem

    def handle(self, frame: Frame, pred: Prediction) -> bool:
        """Write and show one frame's prediction; False when the user asked to quit."""
        args = self.args
        self.stats.times.append(pred.timing_ms)
        self.stats.tiled += pred.tiles > 0
        is_video = frame.fps > 0
        if is_video:
            self.stats.frames += 1
        else:
            self.stats.images += 1
        if frame.source != self._source or not is_video:
            self._item, self._source = self._item + 1, frame.source
        if self.say is not None:
            self.say(frame_line(frame, pred, self._item, self.items))
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(prediction_record(pred, frame.source, frame.index)) + "\n")
            self.jsonl.flush()
        need_img = (self.out is not None and not args.nosave) or self.show
        annotated = None
        if need_img:
            annotated = draw_detections(frame.image, pred.detections, args.line_thickness,
                                        args.hide_labels, args.hide_conf)
            annotated = draw_numbers(annotated, pred.numbers, args.line_thickness)
        stem = self._stem(frame.source)
        if self.out is not None:
            if not args.nosave and annotated is not None:
                if is_video:
                    self._video(frame, stem).write(annotated)
                else:
                    name = Path(frame.source).name
                    if not cv2.haveImageWriter(name):  # read but not written by OpenCV (HEIC)
                        name = f"{Path(name).stem}.jpg"
                    if not cv2.imwrite(str(self.out / name), annotated):
                        cv2.imwrite(str(self.out / f"{Path(name).stem}.jpg"), annotated)
            tag = f"{stem}_{frame.index}" if is_video else stem
            if args.save_txt:
                (self.out / "labels").mkdir(exist_ok=True)
                det = pred.detections
                lines = yolo_lines(det.xyxy, det.class_id, pred.width, pred.height,
                                   det.confidence if args.save_conf else None)
                (self.out / "labels" / f"{tag}.txt").write_text("".join(ln + "\n" for ln in lines))
            if args.save_crop:
                self._crops(frame.image, pred, tag)
        if self.show and annotated is not None:
            now = time.perf_counter()
            inst = 1.0 / max(now - self._last, 1e-6)
            self._fps = inst if self._fps == 0 else 0.9 * self._fps + 0.1 * inst
            self._last = now
            cv2.imshow(stem, draw_fps(annotated, self._fps))
            if cv2.waitKey(1) & 0xFF == ord("q"):
                return False
        return True

    def _video(self, frame: Frame, stem: str) -> Any:
        w = self.writers.get(frame.source)
        if w is None:
            for old in self.writers.values():  # one video at a time: finish the previous one
                old.close()
            assert self.out is not None
            w = self.writers[frame.source] = VideoWriter(self.out / f"{stem}.mp4", frame.fps)
        return w

    def _crops(self, image: np.ndarray, pred: Prediction, tag: str) -> None:
        assert self.out is not None
        det = pred.detections
        for k, ((x1, y1, x2, y2), c) in enumerate(zip(det.xyxy.astype(int), det.class_id,
                                                      strict=True)):
            crop = image[max(0, y1): y2, max(0, x1): x2]
            if crop.size:
                folder = self.out / "crops" / str(int(c))
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / f"{tag}_{k}.jpg"), crop)


def predicted(frames: Iterable[Frame], detector: Any, live: bool) -> Iterator[tuple[Frame, Prediction]]:
    """(frame, prediction) pairs in source order.

    Live streams go one frame at a time (lowest latency); files, folders and videos go through
    ``detector.predict_many`` where the detector has it, several frames in flight.
    """
    if live or not hasattr(detector, "predict_many"):
        for frame in frames:
            yield frame, detector.predict(frame.image)
        return
    queued: deque[Frame] = deque()

    def images() -> Iterator[np.ndarray]:
        for frame in frames:
            queued.append(frame)
            yield frame.image

    for pred in detector.predict_many(images()):
        yield queued.popleft(), pred


def run(args: argparse.Namespace, capture: CaptureFactory = cv2.VideoCapture,
        detector_factory: Callable[..., Any] | None = None, log: IO[str] | None = None) -> int:
    """Run detection as the CLI does; returns the exit code."""
    log = log or sys.stderr
    info = resolve(args.source)  # bad paths fail before the model loads
    if args.line_thickness is not None and args.line_thickness < 1:
        raise UserError(f"--line-thickness must be >= 1, got {args.line_thickness}")
    tile = parse_tile(args.tile)
    if detector_factory is None:
        from digitdet.detector import DigitDetector

        detector_factory = DigitDetector
    detector = detector_factory(weights=args.weights, imgsz=args.imgsz, conf=args.conf_thres,
                                iou=args.iou_thres, max_det=args.max_det, classes=args.classes,
                                device=args.device, agnostic_nms=args.agnostic_nms,
                                augment=args.augment, tile=tile, **stageargs.settings(args))
    writes = not args.nosave or args.save_txt or args.save_json or args.save_crop
    out = increment_path(Path(args.project), args.name, args.exist_ok) if writes else None
    if out is not None:
        make_folder(out, "output folder ")
    from tqdm import tqdm

    def say(line: str) -> None:  # stdout, so the numbers can be piped; the bar is redrawn
        with tqdm.external_write_mode(file=sys.stdout):
            print(line, flush=True)

    runner = Runner(args, detector, out, info.is_live, say,
                    len(info.items) if info.kind == "images" else None)

    def skip(item: str, why: str) -> None:
        runner.stats.skipped.append(item)
        tqdm.write(f"skipped {item}: {why}", file=log)

    total = len(info.items) if info.kind == "images" else None
    bar = tqdm(total=total, unit="frame", file=log, disable=info.is_live or not log.isatty())
    interrupted = False
    try:
        with open_source(args.source, capture, args.vid_stride, skip) as frames:
            for frame, pred in predicted(frames, detector, info.is_live):
                if bar.total is None and frame.total:
                    bar.total = frame.total // max(args.vid_stride, 1)
                if not runner.handle(frame, pred):
                    break
                bar.update()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        runner.close()
    print(("interrupted: " if interrupted else "") + runner.stats.summary(out), file=log)
    return 130 if interrupted else 0


def quiet_native_logs() -> None:
    """Silence OpenCV's and FFmpeg's own log lines for this process (the CLI's, not the
    library's): a camera or video that will not open is reported in one line of ours, not
    theirs too. ``OPENCV_FFMPEG_LOGLEVEL`` set by the user wins; FFmpeg reads it on first use."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_native_logs()
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args)
    except (UserError, OSError) as exc:
        return error_exit("digitdet.detect", exc)


if __name__ == "__main__":
    sys.exit(main())
