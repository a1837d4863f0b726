"""Shared test helpers: tiny MNIST IDX files, hand-made ONNX models, a fake video capture."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array in IDX format."""
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def digit_image(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 white-on-black digit drawn with OpenCV's font (stands in for MNIST)."""
    img = np.zeros((28, 28), np.uint8)
    cv2.putText(img, str(label), (6 + int(rng.integers(-1, 2)), 23), cv2.FONT_HERSHEY_SIMPLEX,
                0.85, 255, 2, cv2.LINE_AA)
    return img


def write_mnist(folder: Path, n_train: int = 60, n_test: int = 40, gz: bool = True,
                seed: int = 0) -> Path:
    """Write the four MNIST files with tiny synthetic digits; return the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.stack([digit_image(int(c), rng) for c in labels])
        for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
            else:
                (folder / name).write_bytes(data)
    return folder


def copy_dejavu(dst: Path) -> str:
    """A copy of matplotlib's DejaVu Sans (installed with ultralytics) at ``dst``: a font file
    under any name, without the system's fonts."""
    import os
    import shutil

    import matplotlib

    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), dst)
    return str(dst)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    return write_mnist(tmp_path / "mnist")


def make_onnx(path: Path, output: np.ndarray, names: dict[int, str] | None = None,
              imgsz: int = 320, stride: int = 32) -> Path:
    """An ONNX model with a dynamic 'images' input that always returns ``output``.

    The graph is ``output + 0 * mean(images)`` so the input is really consumed.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    const = numpy_helper.from_array(output.astype(np.float32), "const")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["const", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "fixed",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[const, numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    names = names or {i: str(i) for i in range(output.shape[1] - 4)}
    for k, v in {"names": str(names), "imgsz": str([imgsz, imgsz]), "stride": str(stride)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
    return path


def make_crop_model(path: Path, size: int, output: str, values: list[float]) -> Path:
    """A second-stage ONNX (``crops (N, 1, size, size)`` in) whose ``output`` is always the
    row ``values`` for every crop; the graph consumes its input (``values + 0 * mean``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceMean", ["crops"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["m", "axis"], ["m1"]),
             helper.make_node("Mul", ["m1", "zero"], ["z"]),
             helper.make_node("Add", ["z", "const"], [output])]
    graph = helper.make_graph(
        nodes, "fixed",
        [helper.make_tensor_value_info("crops", TensorProto.FLOAT, ["n", 1, size, size])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", len(values)])],
        initializer=[numpy_helper.from_array(np.array([values], np.float32), "const"),
                     numpy_helper.from_array(np.zeros((), np.float32), "zero"),
                     numpy_helper.from_array(np.array([1], np.int64), "axis")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def yolo_output(dets: Sequence[tuple[float, float, float, float, int, float]], nc: int = 10,
                n: int = 50) -> np.ndarray:
    """A raw ``(1, 4+nc, n)`` output holding the given (cx, cy, w, h, cls, score) rows."""
    out = np.zeros((1, 4 + nc, n), np.float32)
    for k, (cx, cy, w, h, c, s) in enumerate(dets):
        out[0, :4, k] = (cx, cy, w, h)
        out[0, 4 + c, k] = s
    return out


class FakeCapture:
    """A cv2.VideoCapture stand-in yielding ``n`` frames of ``size`` at ``fps``."""

    def __init__(self, target: object, n: int = 5, fps: float = 25.0,
                 size: tuple[int, int] = (64, 48), opened: bool = True) -> None:
        self.target, self.n, self.fps, self.size, self.opened = target, n, fps, size, opened
        self.i = 0
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(self.n)
        return 0.0

    def grab(self) -> bool:
        if self.i >= self.n:
            return False
        self.i += 1
        return True

    def retrieve(self) -> tuple[bool, np.ndarray]:
        w, h = self.size
        return True, np.full((h, w, 3), self.i * 10 % 255, np.uint8)

    def release(self) -> None:
        self.released = True
