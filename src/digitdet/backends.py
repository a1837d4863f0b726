"""Inference backends: ONNX Runtime (default, no torch) and PyTorch ``.pt`` via ultralytics.

Both take a ``(1, 3, H, W) float32`` RGB blob in [0, 1] and return the raw YOLOv5u output
``(1, 4+nc, N) float32`` (see :mod:`digitdet.decode`).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from digitdet.errors import UserError


@dataclass(frozen=True)
class ModelInfo:
    """What the weights say about themselves."""

    names: dict[int, str]
    imgsz: int | None  # fixed input size, or None when the input is dynamic
    stride: int
    default_imgsz: int


class Backend(Protocol):
    info: ModelInfo

    def __call__(self, blob: np.ndarray) -> np.ndarray: ...


def _parse_meta(meta: dict[str, str]) -> tuple[dict[int, str], int, int]:
    names_raw = meta.get("names")
    names = {int(k): str(v) for k, v in ast.literal_eval(names_raw).items()} if names_raw else {
        i: str(i) for i in range(10)}
    stride = int(meta.get("stride", 32))
    imgsz_raw = meta.get("imgsz")
    imgsz = ast.literal_eval(imgsz_raw) if imgsz_raw else [320, 320]
    size = int(max(imgsz)) if isinstance(imgsz, (list, tuple)) else int(imgsz)
    return names, stride, size


def crop_model_session(path: Path, what: str) -> Any:
    """An ONNX Runtime CPU session on one thread for a second-stage model at ``path`` (a few
    small crops a frame; ``predict_many``'s workers share it); ``what`` names it in the
    :class:`UserError` raised when the file is missing or will not load."""
    import onnxruntime as ort

    if not path.is_file():
        raise UserError(f"{what} weights {path} not found")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise UserError(f"cannot load {what} {path}: {str(exc).splitlines()[0][:200]}") from None


class OnnxBackend:
    """ONNX Runtime on the CPU, one session per model, all cores."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise UserError(f"cannot load weights {path}: {str(exc).splitlines()[0][:200]}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        names, stride, size = _parse_meta(self.session.get_modelmeta().custom_metadata_map)
        fixed = inp.shape[2] if isinstance(inp.shape[2], int) else None
        self.info = ModelInfo(names, fixed, stride, fixed or size)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: blob})[0]


class TorchBackend:
    """A ``.pt`` checkpoint through ultralytics (needs the ``train`` extra)."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        try:
            import torch
            from ultralytics.nn.tasks import load_checkpoint
        except ImportError:
            raise UserError(".pt weights need torch and ultralytics: pip install 'digitdet[train]'"
                            ) from None
        try:
            model, _ = load_checkpoint(str(path), device=torch.device(device), fuse=True)
        except Exception as exc:  # torch raises many types for a bad checkpoint
            raise UserError(f"cannot load weights {path}: {str(exc).splitlines()[0][:200]}") from None
        self.model = model.eval().float()
        self.torch = torch
        self.device = device
        names = {int(k): str(v) for k, v in dict(model.names).items()}
        stride = int(max(model.stride.max().item(), 32))
        size = int(getattr(model, "args", {}).get("imgsz", 320) or 320)
        self.info = ModelInfo(names, None, stride, size)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.model(self.torch.from_numpy(blob).to(self.device))
        out = out[0] if isinstance(out, (list, tuple)) else out
        return out.cpu().numpy()


def torch_device(device: str) -> str:
    """``cpu``, ``0`` or ``cuda:0`` -> a torch device string; a missing GPU is a UserError."""
    if device in ("", "cpu"):
        return "cpu"
    index = device.removeprefix("cuda:")
    if not index.isdigit():
        raise UserError(f"device '{device}' is not 'cpu' or a GPU index like 0")
    import torch

    if int(index) >= torch.cuda.device_count():
        raise UserError(f"device '{device}': no CUDA GPU {index} here "
                        f"({torch.cuda.device_count()} visible)")
    return f"cuda:{index}"


def load_backend(path: Path, device: str = "cpu") -> Backend:
    """Pick the backend by file suffix; a missing or unknown file is a :class:`UserError`."""
    if not path.is_file():
        raise UserError(f"weights {path} not found")
    if path.suffix == ".onnx":
        if device not in ("", "cpu"):
            raise UserError(f"ONNX weights run on the CPU (device '{device}'): use --device cpu, "
                            "or .pt weights on a GPU")
        return OnnxBackend(path)
    if path.suffix == ".pt":
        return TorchBackend(path, torch_device(device))
    raise UserError(f"weights {path}: expected a .onnx or .pt file")
