"""DigitDetector: letterbox -> model -> decode + NMS -> boxes in the original image -> recognizer
(second look at each box) -> refiner (each kept box redrawn) -> the boxes numbers are read from
(with the recognizer) -> numbers; all again on the image turned level when its rows slope; an
under-exposed page brightened and a washed-out one stretched first."""

from __future__ import annotations

import os
import queue
import time
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from digitdet import exposure
from digitdet.backends import Backend, OnnxBackend, load_backend
from digitdet.context import FLOOR, LIFT
from digitdet.decode import DEFAULT_CONF, box_iou, decode, nms_by_class
from digitdet.deskew import ANGLE_CONF, boxes_back, roll, turn
from digitdet.errors import UserError
from digitdet.image import ImageLike, as_bgr8
from digitdet.letterbox import LetterboxInfo, letterbox, unletterbox_boxes
from digitdet.numbers import dedupe, read_numbers
from digitdet.recognize import Recognizer, rescore
from digitdet.refine import Refiner
from digitdet.results import Detections, Number, Prediction
from digitdet.tiles import (
    AUTO,
    BIG_IMAGE,
    WHOLE_PX,
    Tile,
    auto_tile,
    check_tile,
    inked,
    merge_tiles,
    small_in_big,
    tile_windows,
)

DEFAULT_WEIGHTS = "digitdet-v5n.onnx"
DEFAULT_RECOGNIZER = "digitdet-rec.onnx"
DEFAULT_BLUR_RECOGNIZER = "digitdet-rec-blur.onnx"
DEFAULT_REFINER = "digitdet-box.onnx"
DEFAULT_PT = "digitdet-v5n.pt"  # the detector's torch checkpoint, for fine-tuning
SHIPPED_DETECTORS = (DEFAULT_WEIGHTS, DEFAULT_PT)


def weights_dir() -> Path:
    """The package's folder of shipped models."""
    return Path(str(resources.files("digitdet") / "weights"))


def default_weights(name: str = DEFAULT_WEIGHTS) -> Path:
    """Path of a model shipped inside the package (the detector's ONNX by default)."""
    path = weights_dir() / name
    if not path.is_file():
        raise UserError(f"the shipped model {path} is missing; pass --weights")
    return path


def is_shipped(weights: Path) -> bool:
    """Whether ``weights`` is the package's own detector (its ONNX or its ``.pt``), named by
    path: read with the shipped second stage by default, as with no weights given."""
    return weights.name in SHIPPED_DETECTORS and weights.resolve().parent == weights_dir().resolve()


class DigitDetector:
    """Find digits and read numbers in images.

    ``weights=None`` uses the model shipped with the package (ONNX Runtime, no torch needed);
    a ``.pt`` path runs through ultralytics. ``imgsz=None`` takes the model's training size.
    ``scaleup=False`` (default): images smaller than ``imgsz`` are padded, not enlarged, so a
    digit drawn big on a small canvas is not blown up past the sizes the model was trained on
    (``python -m digitdet.val --scaleup`` measures the other way; docs/model-card.md).
    ``augment=True`` adds a zoomed-out pass at 160 px (a ninth of the pixels at 480) that reads
    digits filling much of the image, e.g. on a drawing pad (see :func:`merge_zoomed`).
    ``recognizer`` reads every box again from its crop with a second-stage model
    (:mod:`digitdet.recognize`): ``None`` (default) uses the shipped one with the shipped
    detector (no ``weights``, or the package's own ONNX or ``.pt`` by path: :func:`is_shipped`)
    and none with other weights, ``True`` the shipped one, a path another such ONNX;
    ``False`` keeps the detector's own classes and scores (as ultralytics' on the same ONNX).
    With a recognizer, only the boxes the numbers are read from are returned (no piece of a more
    confident box, no second box on a digit: :func:`digitdet.numbers.dedupe`), and ``context``
    (default) lifts a faint box that the recognizer reads surely beside confident digits, as a
    1 written as one upright stroke (:mod:`digitdet.context`).
    ``blur_recognizer`` reads the crops of a blurred image instead (a photo out of focus or
    shaken: :func:`digitdet.recognize.is_blurred`): ``None`` (default) the shipped one where the
    shipped recognizer is used, ``True`` the shipped one, a path another, ``False`` none.
    ``refiner`` redraws each returned box from its crop (:mod:`digitdet.refine`), the same way:
    ``None`` (default) the shipped one where the shipped recognizer is used, ``True`` the
    shipped one, a path another, ``False`` none (the detector's boxes).
    ``tile``: ``"auto"`` (default) reads an image at least three times ``imgsz`` again in
    overlapping tiles of four thirds of ``imgsz`` (each read at ``imgsz``) when its whole read
    has digits under 8 px in the model's input, or none in an image over four times ``imgsz``
    (scans, big photos of small handwriting); a number of pixels reads every image bigger than
    that in tiles of that side too; ``None`` or 0 reads every image whole
    (:mod:`digitdet.tiles`).
    ``deskew``: an image whose numbers' rows clearly slope (a photo taken with the camera
    rolled: :func:`digitdet.deskew.roll`) is read again turned level, and that read's boxes,
    turned back and refined, are returned (:mod:`digitdet.deskew`); ``None`` (default): with a
    recognizer (the detector alone reads as ultralytics does), ``True`` / ``False``: always / never.
    ``brighten``: an under-exposed page (a light background dimmer than any training scene's) is
    read multiplied by a gain, and a washed-out one (ink nearly as light as the paper) with its
    levels stretched (:func:`digitdet.exposure.correct`; no pixel moves, so the boxes are
    ``image``'s); ``None`` (default): with a recognizer, as ``deskew``.
    Settings out of range (see :func:`check_settings`) and unusable weights raise
    :class:`~digitdet.errors.UserError`.
    """

    def __init__(self, weights: str | Path | None = None, imgsz: int | None = None,
                 conf: float = DEFAULT_CONF, iou: float = 0.45, max_det: int = 300,
                 classes: list[int] | None = None, device: str = "cpu",
                 agnostic_nms: bool = False, scaleup: bool = False, augment: bool = False,
                 recognizer: bool | str | Path | None = None,
                 blur_recognizer: bool | str | Path | None = None,
                 refiner: bool | str | Path | None = None, context: bool = True,
                 tile: Tile = AUTO, deskew: bool | None = None,
                 brighten: bool | None = None) -> None:
        check_settings(imgsz, conf, iou, max_det, classes, tile)  # before the model loads
        self.weights = Path(weights) if weights else default_weights()
        self.backend: Backend = load_backend(self.weights, device)
        info = self.backend.info
        self.stride = info.stride
        self.fixed = info.imgsz is not None
        size = info.imgsz or imgsz or info.default_imgsz
        self.imgsz = -(-int(size) // self.stride) * self.stride
        self.names = info.names
        bad = [c for c in classes or [] if c not in self.names]
        if bad:
            raise UserError(f"classes are this model's class ids {_id_range(self.names)}, got {bad[0]}")
        self.conf, self.iou, self.max_det, self.classes = conf, iou, max_det, classes
        self.agnostic_nms, self.scaleup, self.augment = agnostic_nms, scaleup, augment
        self.context, self.tile = context, tile
        if augment and self.fixed:
            raise UserError("augment needs a model with a dynamic input size (this one is fixed)")
        self._pool: list[Backend] = []
        self.recognizer: Recognizer | None = None
        shipped = weights is None or is_shipped(self.weights)
        if recognizer is None:
            recognizer = shipped
        if blur_recognizer is None:
            blur_recognizer = recognizer is True
        rec = model_path(recognizer, DEFAULT_RECOGNIZER)
        if rec is not None:
            self.recognizer = Recognizer(rec, model_path(blur_recognizer, DEFAULT_BLUR_RECOGNIZER))
        self.refiner: Refiner | None = None
        if refiner is None:
            refiner = shipped and recognizer is True
        box = model_path(refiner, DEFAULT_REFINER)
        if box is not None:
            self.refiner = Refiner(box)
        self.deskew = self.recognizer is not None if deskew is None else deskew
        self.brighten = self.recognizer is not None if brighten is None else brighten

    def predict(self, image: ImageLike, rgb: bool = False, conf: float | None = None,
                tile: Tile = None) -> Prediction:
        """Detect digits in ``image``: an array (BGR unless ``rgb``; gray, RGBA, 16-bit accepted)
        or the path of an image file (:class:`UserError` when it is missing or unreadable).

        ``conf`` and ``tile`` override the confidence threshold and the tile side for this call
        only (thread-safe); ``tile=0`` reads the image whole, ``tile="auto"`` tiles it if needed.
        """
        check_tile(tile)
        return self._predict(self.backend, image, rgb, conf, tile)

    def predict_many(self, images: Iterable[ImageLike], rgb: bool = False,
                     workers: int | None = None) -> Generator[Prediction, None, None]:
        """Predictions for a stream of images, in order, several images in flight at once.

        For throughput on folders and videos: ``workers`` ONNX Runtime sessions (default: one
        per CPU core, at most 4) each run one image on ``cores // workers`` threads, so one
        image's pre/post-processing overlaps another's inference. Reads at most ``2 * workers``
        images ahead. Results equal ``predict`` image by image. ``.pt`` models run one by one.
        """
        n = workers if workers is not None else min(os.cpu_count() or 1, 4)
        if n <= 1 or not isinstance(self.backend, OnnxBackend):
            for image in images:
                yield self.predict(image, rgb)
            return
        free: queue.SimpleQueue[Backend] = queue.SimpleQueue()
        for backend in self._worker_backends(n):
            free.put(backend)

        def job(image: ImageLike) -> Prediction:
            backend = free.get()
            try:
                return self._predict(backend, image, rgb, None, None)
            finally:
                free.put(backend)

        pending: deque[Future[Prediction]] = deque()
        pool = ThreadPoolExecutor(n, thread_name_prefix="digitdet")
        try:
            for image in images:
                pending.append(pool.submit(job, image))
                if len(pending) >= 2 * n:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # early exit or Ctrl-C: drop queued images, finish the ones running
            pool.shutdown(wait=True, cancel_futures=True)

    def _worker_backends(self, n: int) -> list[Backend]:
        """``n`` ONNX Runtime sessions sharing the cores (made once, reused)."""
        if len(self._pool) != n:
            threads = max(1, (os.cpu_count() or 1) // n)
            self._pool = [OnnxBackend(self.weights, threads=threads) for _ in range(n)]
        return self._pool

    def _predict(self, backend: Backend, image: ImageLike, rgb: bool,
                 conf: float | None, tile: Tile) -> Prediction:
        img = as_bgr8(image, rgb)
        lit_ms = 0.0
        if self.brighten:  # per pixel: the boxes found hold for the image as given
            t0 = time.perf_counter()
            img = exposure.correct(img)
            lit_ms = (time.perf_counter() - t0) * 1e3
        first = self._read(backend, img, conf, tile)
        if lit_ms:
            t = first.timing_ms
            first = replace(first, timing_ms=(t[0] + lit_ms, t[1], t[2]))
        if not self.deskew:
            return first
        thres = self.conf if conf is None else conf
        angle = roll(first.detections, max(thres, ANGLE_CONF))
        if angle is None:
            return first
        return self._read_level(backend, img, conf, tile, angle, first)

    def _read_level(self, backend: Backend, img: np.ndarray, conf: float | None, tile: Tile,
                    angle: float, first: Prediction) -> Prediction:
        """``img`` read again turned level by ``angle`` degrees (:func:`digitdet.deskew.turn`):
        that read's boxes turned back into ``img`` and refined there; ``first`` (the read as it
        is) when the turned one finds nothing. Times and tiles are both reads'."""
        t0 = time.perf_counter()
        level, m = turn(img, angle)
        turn_ms = (time.perf_counter() - t0) * 1e3
        second = self._read(backend, level, conf, tile)
        if not len(second.detections):
            return first
        t0 = time.perf_counter()
        h, w = img.shape[:2]
        xyxy, inside = boxes_back(second.detections.xyxy, m, w, h)
        det = Detections(xyxy, second.detections.confidence[inside], second.detections.class_id[inside])
        det, numbers = self._settle(img, det)  # the turned-back boxes envelope their digits
        post_ms = (time.perf_counter() - t0) * 1e3
        a, b = first.timing_ms, second.timing_ms
        times = (a[0] + b[0] + turn_ms, a[1] + b[1], a[2] + b[2] + post_ms)
        return Prediction(det, numbers, w, h, times, first.tiles + second.tiles)

    def _read(self, backend: Backend, img: np.ndarray, conf: float | None, tile: Tile) -> Prediction:
        """``img`` (BGR uint8) read as it is: whole or in tiles, second stage, numbers."""
        thres = self.conf if conf is None else conf
        setting = self.tile if tile is None else tile
        # with the recognizer, a box scores sqrt(conf * p) <= sqrt(conf): keep those >= thres**2
        # (but not under 0.001, ultralytics' mAP threshold: the crops would cost more than the pass)
        pre = max(thres * thres, 0.001) if self.recognizer else thres
        if self.recognizer and self.context and thres <= LIFT:
            pre = min(pre, FLOOR)  # faint boxes a number may vouch for are read too
        classes = None if self.recognizer else self.classes  # the recognizer may change them
        h, w = img.shape[:2]
        whole = None
        if setting == AUTO:  # read whole; again in tiles if that shows small digits in a big image
            if max(h, w) < BIG_IMAGE * self.imgsz:
                setting = 0
            else:
                whole = self._pass(backend, img, self.imgsz, pre, classes)
                first = self._finish(backend, img, whole, thres, pre, classes, 0)
                if not small_in_big(first.detections.xyxy, h, w, self.imgsz):
                    return first
                setting = auto_tile(self.imgsz)
                whole = (whole[0], whole[1], first.timing_ms)  # its time, recognizer and all
        side = int(setting or 0)
        if side and max(h, w) > side:
            windows = tile_windows(h, w, side)
            read, tiles = self._tiled_pass(backend, img, windows, pre, classes, whole)
        else:
            read, tiles = self._pass(backend, img, self.imgsz, pre, classes), 0
        return self._finish(backend, img, read, thres, pre, classes, tiles)

    def _finish(self, backend: Backend, img: np.ndarray,
                read: tuple[Detections, LetterboxInfo, tuple[float, float, float]],
                thres: float, pre: float, classes: list[int] | None, tiles: int) -> Prediction:
        """The boxes of a read (:meth:`_pass` or :meth:`_tiled_pass`) made into the image's
        prediction: ``--augment``'s zoomed-out pass, the recognizer, the refiner, the numbers."""
        det, info, times = read
        if self.augment:
            zoom = max(self.stride, min(self.imgsz // 2, ZOOM_PX) // self.stride * self.stride)
            zoomed, _, more = self._pass(backend, img, zoom, pre, classes)
            t0 = time.perf_counter()
            det = merge_zoomed(det, zoomed, BIG_PX / info.scale_y, self.iou)  # model px -> image px
            times = (times[0] + more[0], times[1] + more[1],
                     times[2] + more[2] + (time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        if self.recognizer:
            det = rescore(det, self.recognizer(img, det.xyxy), self.iou, self.agnostic_nms,
                          self.context)
            keep = det.confidence >= thres
            if self.classes is not None:
                keep &= np.isin(det.class_id, self.classes)
            det = det[keep]
        det, numbers = self._settle(img, det)
        times = (times[0], times[1], times[2] + (time.perf_counter() - t0) * 1e3)
        h, w = img.shape[:2]
        return Prediction(det, numbers, w, h, times, tiles)

    def _settle(self, img: np.ndarray, det: Detections) -> tuple[Detections, list[Number]]:
        """The kept boxes of ``img`` redrawn by the refiner and, with the recognizer, only those
        the numbers are read from (none on a piece of a more confident box, the stem of a 7 read
        as 1, or a second one on its digit: :func:`digitdet.numbers.dedupe`); and the numbers."""
        if self.refiner and len(det):
            det = Detections(self.refiner(img, det.xyxy), det.confidence, det.class_id)
        if self.recognizer and len(det):
            det = det[dedupe(det)]
        return det, read_numbers(det, deduped=self.recognizer is not None)

    def _pass(self, backend: Backend, img: np.ndarray, size: int, thres: float,
              classes: list[int] | None,
              ) -> tuple[Detections, LetterboxInfo, tuple[float, float, float]]:
        """One letterbox -> model -> decode pass at ``size``: boxes in ``img`` pixels, the
        letterbox applied, and the pre/inference/post ms."""
        t0 = time.perf_counter()
        lb, info = letterbox(img, size, self.stride, auto=not self.fixed, scaleup=self.scaleup)
        blob = cv2.dnn.blobFromImage(lb, 1 / 255.0, swapRB=True)  # (1, 3, H, W) RGB float32
        t1 = time.perf_counter()
        out = backend(blob)
        t2 = time.perf_counter()
        boxes, scores, cls = decode(out, thres, self.iou, self.max_det, classes, self.agnostic_nms)
        det = Detections(unletterbox_boxes(boxes, info), scores, cls)
        t3 = time.perf_counter()
        return det, info, ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)

    def _tiled_pass(self, backend: Backend, img: np.ndarray, windows: np.ndarray, thres: float,
                    classes: list[int] | None,
                    whole_read: tuple[Detections, LetterboxInfo, tuple[float, float, float]]
                    | None = None,
                    ) -> tuple[tuple[Detections, LetterboxInfo, tuple[float, float, float]], int]:
        """:meth:`_pass` over the whole image (or ``whole_read``, that pass made already) and
        over each of its overlapping tiles ``windows`` (:func:`digitdet.tiles.tile_windows`)
        with something in it (:func:`digitdet.tiles.inked`), merged
        (:func:`digitdet.tiles.merge_tiles`), with the whole pass's letterbox; and how many
        tiles were read."""
        h, w = img.shape[:2]
        whole, info, times = whole_read or self._pass(backend, img, self.imgsz, thres, classes)
        total = np.array(times)
        t0 = time.perf_counter()
        side = int((windows[:, 2:] - windows[:, :2]).max())
        ink = inked(img, windows, self.imgsz / side)
        total[0] += (time.perf_counter() - t0) * 1e3
        found = []
        for (x0, y0, x1, y1), has_ink in zip(windows.tolist(), ink.tolist(), strict=True):
            if not has_ink:  # blank paper: nothing a tile could find
                found.append(Detections.empty())
                continue
            part, _, t = self._pass(backend, np.ascontiguousarray(img[y0:y1, x0:x1]), self.imgsz,
                                    thres, classes)
            found.append(Detections(part.xyxy + np.array([x0, y0, x0, y0], np.float32), part.confidence,
                                    part.class_id))
            total += t
        t0 = time.perf_counter()
        det = merge_tiles(whole, found, windows, h, w, self.iou, self.agnostic_nms,
                         WHOLE_PX / info.scale_y)
        total[2] += (time.perf_counter() - t0) * 1e3
        return (det, info, (float(total[0]), float(total[1]), float(total[2]))), int(ink.sum())

    def __call__(self, image: ImageLike, rgb: bool = False) -> Prediction:
        return self.predict(image, rgb)


# augment: digits taller than BIG_PX in the model input are read from a second pass at ZOOM_PX
# (at most half the size), where even a digit filling the frame is a size the model reads well.
BIG_PX = 112
ZOOM_PX = 160


def model_path(setting: bool | str | Path, name: str) -> Path | None:
    """A second-stage model's file for its setting: ``False`` none, ``True`` the shipped ``name``,
    else the path given."""
    if setting is False:
        return None
    return default_weights(name) if setting is True else Path(setting)


def check_settings(imgsz: int | None, conf: float, iou: float, max_det: int,
                   classes: list[int] | None, tile: Tile = None) -> None:
    """Raise :class:`UserError` naming the first detector setting out of range."""
    if imgsz is not None and imgsz < 1:
        raise UserError(f"imgsz must be a positive number of pixels, got {imgsz}")
    check_tile(tile)
    for name, value in (("conf", conf), ("iou", iou)):
        if not 0.0 <= value <= 1.0:
            raise UserError(f"{name} threshold must be between 0 and 1, got {value}")
    if max_det < 1:
        raise UserError(f"max_det must be at least 1, got {max_det}")
    bad = [c for c in classes or [] if c < 0]  # ids above the model's own are checked once it loads
    if bad:
        raise UserError(f"classes are class ids (0 or more), got {bad[0]}")


def _id_range(names: dict[int, str]) -> str:
    """``0-9`` for ids 0..9; the ids listed when they are not contiguous."""
    ids = sorted(names)
    if ids and ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(map(str, ids))


def merge_zoomed(full: Detections, zoomed: Detections, big_px: float, iou: float) -> Detections:
    """Merge a full-size pass with a zoomed-out pass of the same image.

    Digits taller than ``big_px`` (image pixels) are read best zoomed out, smaller ones at full
    size: keep the full pass's small boxes, the zoomed pass's big boxes, and the full pass's big
    boxes that the zoomed pass did not find; then class-wise NMS at ``iou``.
    """
    fh = full.xyxy[:, 3] - full.xyxy[:, 1]
    zh = zoomed.xyxy[:, 3] - zoomed.xyxy[:, 1]
    z_big = zoomed[zh >= big_px]
    f_big = fh >= big_px
    if len(z_big) and f_big.any():
        found = box_iou(full.xyxy, z_big.xyxy).max(1) >= 0.3
        f_big &= ~found
    merged = Detections.merge([full[fh < big_px], z_big, full[f_big]])
    if not len(merged):
        return merged
    return merged[nms_by_class(merged.xyxy, merged.confidence, merged.class_id, iou)]


def empty_prediction(w: int, h: int) -> Prediction:
    """A prediction with nothing found."""
    return Prediction(Detections.empty(), [], w, h)
