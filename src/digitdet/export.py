"""Export trained ``.pt`` weights to ONNX and check that ONNX and PyTorch agree.

Usage:
    python -m digitdet.export --weights runs/train/exp/weights/best.pt   # at its training size
    python -m digitdet.export --weights best.pt --imgsz 320 --output model.onnx --image sample.jpg

The ONNX carries ultralytics' metadata (names, imgsz, stride) and a dynamic input size, so the
detector can letterbox with minimal padding. The metadata's imgsz is the detector's default image
size; without ``--imgsz`` it is the size the weights were trained at.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from digitdet.errors import UserError, error_exit


def export_onnx(weights: Path, imgsz: int, output: Path | None = None, dynamic: bool = True,
                opset: int | None = None) -> Path:
    """Export ``weights`` to ONNX with metadata; return the ONNX path: ``output``, or beside
    the weights (``best.pt`` -> ``best.onnx``, ultralytics' place) when it is None. With an
    ``output`` elsewhere nothing beside the weights is written or replaced: ultralytics exports
    next to its input, so it works on a copy in a temporary folder."""
    os.environ["YOLO_OFFLINE"] = "1"
    from ultralytics import YOLO

    if not weights.is_file():
        raise UserError(f"weights {weights} not found")
    kwargs = {"format": "onnx", "imgsz": imgsz, "dynamic": dynamic, "simplify": True,
              "device": "cpu"}
    if opset:
        kwargs["opset"] = opset
    beside = weights.with_suffix(".onnx")
    if output is None or output.resolve() == beside.resolve():
        return Path(YOLO(str(weights)).export(**kwargs))
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / weights.name
        shutil.copyfile(weights, copy)
        shutil.move(str(YOLO(str(copy)).export(**kwargs)), output)
    return output


def max_output_diff(weights: Path, onnx_path: Path, image: np.ndarray, imgsz: int) -> float:
    """Largest absolute difference between the PyTorch and ONNX raw outputs on ``image``."""
    import cv2

    from digitdet.backends import OnnxBackend, TorchBackend
    from digitdet.image import to_bgr8
    from digitdet.letterbox import letterbox

    lb, _ = letterbox(to_bgr8(image), imgsz)
    blob = cv2.dnn.blobFromImage(lb, 1 / 255.0, swapRB=True)
    a = TorchBackend(weights)(blob)
    b = OnnxBackend(onnx_path)(blob)
    if a.shape != b.shape:
        raise RuntimeError(f"output shapes differ: torch {a.shape}, onnx {b.shape}")
    return float(np.abs(a - b).max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--imgsz", type=int, default=None,
                   help="default image size written into the ONNX (default: the training size)")
    p.add_argument("--output", default=None)
    p.add_argument("--static", action="store_true", help="fixed input size instead of dynamic")
    p.add_argument("--image", default=None, help="sample image for the agreement check")
    p.add_argument("--atol", type=float, default=1e-2, help="largest allowed output difference")
    args = p.parse_args(argv)
    try:
        import cv2

        from digitdet.backends import TorchBackend

        weights = Path(args.weights)
        if not weights.is_file():
            raise UserError(f"weights {weights} not found")
        imgsz = args.imgsz or TorchBackend(weights).info.default_imgsz
        path = export_onnx(weights, imgsz, Path(args.output) if args.output else None,
                           dynamic=not args.static)
        if args.image:
            image = cv2.imread(args.image)
            if image is None:
                raise UserError(f"cannot read image {args.image}")
        else:
            rng = np.random.default_rng(0)
            image = np.full((480, 640, 3), 235, np.uint8)
            for _ in range(12):
                x, y = (int(v) for v in rng.integers(20, 440, 2))
                cv2.putText(image, str(int(rng.integers(10))), (x, y + 40), cv2.FONT_HERSHEY_SIMPLEX,
                            1.5, (20, 20, 20), 3)
        diff = max_output_diff(weights, path, image, imgsz)
    except (UserError, OSError) as exc:  # OSError: an output that cannot be written
        return error_exit("digitdet.export", exc)
    status = "agree" if diff <= args.atol else "DISAGREE"
    print(f"exported {path} (imgsz {imgsz}); ONNX and PyTorch outputs {status} "
          f"(max abs diff {diff:.2e})")
    return 0 if diff <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())
