"""Train the second-stage box refiner (:mod:`digitdet.refine`) and export it to ONNX.

Usage:
    python -m digitdet.refine_train --data datasets/digits-s151 datasets/digits-s152 \\
        --per 700 --epochs 6 --output runs/refine/refiner.onnx
    python -m digitdet.refine_train --data datasets/digits --weights best.onnx ...
    python -m digitdet.refine_train --data datasets/digits-s151 --skip 700 --per 800 \\
        --init src/digitdet/weights/digitdet-box.pt --lr 1e-3 \\
        --output runs/refine/tuned.onnx     # fine-tune the shipped refiner on scenes it never saw
    python -m digitdet.refine_train --head dense ...  # the first refiner's dense layers

Crops come from synthesized scenes' ``train`` split (never a test split): every detector box
at ``--conf`` that overlaps a digit by IoU >= 0.3, labelled with that digit's box, and every
ground-truth box with each edge moved at random (6 % of its longer side), labelled with
itself. So the refiner learns the boxes the detector (``--weights``, default the shipped one)
actually draws. Loss: smooth L1 on the edges plus 1 - IoU. Needs torch (the ``train``
extra); the ONNX it writes runs without torch. Beside it goes a torch checkpoint (``.pt``, same
name) that ``--init`` fine-tunes from in a later run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from digitdet.decode import box_iou
from digitdet.errors import UserError, error_exit
from digitdet.labels import read_scenes, split_records
from digitdet.refine import SIZE, crop_boxes, standardize, to_crop

MATCH_IOU = 0.3  # a detector box this close to a digit is refined onto it
JITTER = 0.06  # spread of each edge of a ground-truth box, a share of its longer side


def mine_crops(detector: Any, root: Path, split: str, per: int, rng: np.random.Generator,
               skip: int = 0, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Crops ``(N, size, size) uint8`` and targets ``(N, 4) float32`` (the digit's box as
    fractions of the crop, :func:`~digitdet.refine.to_crop`) from ``per`` scenes of ``root``'s
    ``split``, after its first ``skip`` (see the module docstring)."""
    xs: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    records = split_records(root, split, skip + per)[skip:]
    for img, gt_box, _ in read_scenes(root, split, records):
        if not len(gt_box):
            continue
        det = detector.predict(img).detections.xyxy
        boxes, targets = [gt_box[:0]], [gt_box[:0]]
        if len(det):
            iou = box_iou(det, gt_box)
            on = iou.max(1) >= MATCH_IOU
            boxes.append(det[on])
            targets.append(gt_box[iou.argmax(1)[on]])
        side = np.maximum(gt_box[:, 2] - gt_box[:, 0], gt_box[:, 3] - gt_box[:, 1])[:, None]
        boxes.append(gt_box + (rng.normal(0, JITTER, gt_box.shape) * side).astype(np.float32))
        targets.append(gt_box)
        b = np.concatenate(boxes)
        crops, geom = crop_boxes(img, b, size)
        xs.append(crops)
        ts.append(to_crop(np.concatenate(targets), geom))
    if not xs:
        return np.zeros((0, size, size), np.uint8), np.zeros((0, 4), np.float32)
    return np.concatenate(xs), np.concatenate(ts)


HEADS = ("dense", "edges")


def is_crop_side(size: object) -> bool:
    """Whether ``size`` can be a refiner's crop side: a positive multiple of 8 (three halvings)."""
    return isinstance(size, int) and size >= 8 and size % 8 == 0


def build_net(width: int = 16, head: str = "edges", size: int = SIZE) -> Any:
    """The refiner CNN: ``(N, 1, size, size)`` -> ``(N, 4)`` box edges as fractions of the crop
    (``size`` a multiple of 8; 48 shipped).

    ``dense``: convolutions at ``size``, 1/2, 1/4 and 1/8 of it (48, 24, 12 and 6 px;
    ``width`` to ``4 * width`` channels), then two dense layers. ``edges``: the same
    convolutions to a quarter of ``size``, then each edge located as a distribution over the
    crop's pixel columns (left, right) or rows (top, bottom), from the features at each scale
    maxed and averaged across the other axis; the edge is that distribution's mean, so it falls
    between pixels. Its weights fit any ``size``.
    """
    import torch
    from torch import nn

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    if not is_crop_side(size):
        raise ValueError(f"size must be a positive multiple of 8, got {size}")

    def block(cin: int, cout: int) -> list[Any]:
        return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    w = width
    if head == "dense":
        return nn.Sequential(*block(1, w), *block(w, w), nn.MaxPool2d(2),
                             *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
                             *block(2 * w, 4 * w), *block(4 * w, 4 * w), nn.MaxPool2d(2),
                             *block(4 * w, 4 * w), nn.Flatten(),
                             nn.Linear(4 * w * (size // 8) ** 2, 128), nn.ReLU(), nn.Linear(128, 4))

    def line(cin: int) -> Any:  # (N, cin, size) -> (N, 2, size): logits of the two edges
        return nn.Sequential(nn.Conv1d(cin, 2 * w, 5, 1, 2), nn.ReLU(),
                             nn.Conv1d(2 * w, 2 * w, 5, 1, 2), nn.ReLU(),
                             nn.Conv1d(2 * w, 2, 5, 1, 2))

    class EdgeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s48 = nn.Sequential(*block(1, w), *block(w, w))
            self.s24 = nn.Sequential(nn.MaxPool2d(2), *block(w, 2 * w), *block(2 * w, 2 * w))
            self.s12 = nn.Sequential(nn.MaxPool2d(2), *block(2 * w, 4 * w), *block(4 * w, 4 * w),
                                     *block(4 * w, 4 * w))
            cin = 2 * (w + 2 * w + 4 * w)
            self.x_edges, self.y_edges = line(cin), line(cin)
            # pixel centres as crop fractions: derived from size, so not part of the state
            self.register_buffer("pos", (torch.arange(size, dtype=torch.float32) + 0.5) / size,
                                 persistent=False)

        def profile(self, feats: list[tuple[Any, int]], dim: int) -> Any:
            """(N, C, size): each feature map maxed and averaged across ``dim``, then enlarged
            by its factor to size px."""
            out = []
            for f, k in feats:
                p = torch.cat([f.amax(dim), f.mean(dim)], 1)
                if k > 1:
                    p = nn.functional.interpolate(p, scale_factor=k, mode="linear",
                                                  align_corners=False)
                out.append(p)
            return torch.cat(out, 1)

        def forward(self, x: Any) -> Any:
            f48 = self.s48(x)
            f24 = self.s24(f48)
            f12 = self.s12(f24)
            feats = [(f48, 1), (f24, 2), (f12, 4)]
            ex = self.x_edges(self.profile(feats, 2)).softmax(-1) @ self.pos  # (N, 2): x1, x2
            ey = self.y_edges(self.profile(feats, 3)).softmax(-1) @ self.pos  # (N, 2): y1, y2
            return torch.stack([ex[:, 0], ey[:, 0], ex[:, 1], ey[:, 1]], 1)

    return EdgeNet()


def iou_pairs(a: Any, b: Any) -> Any:
    """IoU of each row of torch boxes ``a (N, 4)`` with the same row of ``b``."""
    import torch

    ix = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    iy = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


def train_net(x: np.ndarray, t: np.ndarray, epochs: int, seed: int, width: int = 16,
              batch: int = 256, log: Any = print, init: dict[str, Any] | None = None,
              lr: float = 3e-3, head: str = "edges") -> Any:
    """Train :func:`build_net` (``width``, ``head``) on crops ``x (N, S, S) uint8`` and
    targets ``t (N, 4)``, from the weights ``init`` (a ``state_dict``) when given; one-cycle
    learning rate peaking at ``lr``; half of each batch inverted (light on dark and dark on light
    both occur). Returns the model in eval mode."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_net(width, head, x.shape[-1])
    if init is not None:
        model.load_state_dict(init)
    log(f"refiner: {head} head, width {width}, {x.shape[-1]}-px crops, "
        f"{sum(p.numel() for p in model.parameters())} parameters"
        + (", from a checkpoint" if init is not None else ""))
    steps = max(epochs * (len(x) // batch), 1)
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    ts = torch.from_numpy(t)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        order = rng.permutation(len(x))
        loss = torch.zeros(())
        for b in range(len(x) // batch):
            idx = order[b * batch:(b + 1) * batch]
            xb = torch.from_numpy(standardize(x[idx]))
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            xb[flip] = -xb[flip]
            pred, y = model(xb), ts[idx]
            loss = (nn.functional.smooth_l1_loss(pred * 10, y * 10, beta=0.1)
                    + (1 - iou_pairs(pred, y)).mean())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    return model.eval()


def mean_iou(model: Any, x: np.ndarray, t: np.ndarray) -> float:
    """Mean IoU of the model's boxes for crops ``x`` with targets ``t``."""
    import torch

    if not len(x):
        return 0.0
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(standardize(x[i:i + 1000])))
                          for i in range(0, len(x), 1000)])
    return float(iou_pairs(pred, torch.from_numpy(t)).mean())


def save_checkpoint(model: Any, width: int, head: str, path: Path, size: int = SIZE) -> Path:
    """Write ``model``'s weights, ``width``, ``head`` and input ``size`` to ``path`` (torch), for
    :func:`load_checkpoint`."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"size": size, "width": width, "head": head, "state_dict": model.state_dict()},
               path)
    return path


def load_checkpoint(path: Path) -> tuple[int, str, int, dict[str, Any]]:
    """``(width, head, size, state_dict)`` from a checkpoint :func:`save_checkpoint` wrote; a
    file that is not one raises :class:`UserError`."""
    import pickle

    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise UserError(f"cannot read refiner checkpoint {path}: {exc}") from None
    if (not isinstance(ck, dict) or not is_crop_side(ck.get("size")) or "state_dict" not in ck
            or ck.get("head") not in HEADS):
        raise UserError(f"{path} is not a refiner checkpoint (refine_train writes one beside "
                        "its ONNX)")
    state = {k: v for k, v in ck["state_dict"].items() if k != "pos"}  # saved by older runs
    return int(ck["width"]), str(ck["head"]), int(ck["size"]), state


def resized_state(state: dict[str, Any], head: str, size: int, new_size: int) -> dict[str, Any]:
    """A checkpoint's ``state`` for a net of input side ``new_size`` instead of ``size``: the
    edges head's weights fit any side as they are; the dense head's fit one side only
    (:class:`UserError`)."""
    if new_size != size and head != "edges":
        raise UserError(f"a {head}-head checkpoint fits {size}-px crops only, not --size {new_size}")
    return state


def export_onnx(model: Any, path: Path, size: int = SIZE) -> Path:
    """Write ``model`` as ONNX with a dynamic batch: input ``crops (N, 1, size, size)``, output
    ``boxes (N, 4)``."""
    from digitdet import recognize_train

    return recognize_train.export_onnx(model, path, size, "boxes")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.refine_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="synthesized dataset folders")
    p.add_argument("--split", default="train", choices=["train", "val"])
    p.add_argument("--per", type=int, default=400, help="scenes per dataset")
    p.add_argument("--skip", type=int, default=0,
                   help="scenes of each dataset to pass over first (fresh ones for --init)")
    p.add_argument("--weights", default=None, help="the detector (default: the shipped one)")
    p.add_argument("--conf", type=float, default=0.01, help="detector confidence for mining")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--width", type=int, default=16, help="channels of the first layer")
    p.add_argument("--head", default="edges", choices=HEADS,
                   help="each edge as a distribution over pixels (shipped), or dense layers "
                        "(the first refiner shipped); build_net")
    p.add_argument("--init", default=None, metavar="PT",
                   help="fine-tune from this checkpoint (the .pt an earlier run wrote; sets "
                        "--width, --head and, unless given, --size)")
    p.add_argument("--size", type=int, default=None,
                   help=f"crop side, a multiple of 8 (default {SIZE}, or --init's); an edges "
                        "checkpoint fine-tunes at another size")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one cycle)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="runs/refine/refiner.onnx")
    args = p.parse_args(argv)
    try:
        if min(args.per, args.epochs, args.width) < 1:
            raise UserError("--per, --epochs and --width must be at least 1")
        if args.size is not None and not is_crop_side(args.size):
            raise UserError(f"--size must be a positive multiple of 8, got {args.size}")
        if args.skip < 0:
            raise UserError(f"--skip must be at least 0, got {args.skip}")
        if not args.lr > 0:
            raise UserError(f"--lr must be positive, got {args.lr}")
        try:  # checked before minutes of mining crops
            import torch
        except ImportError:
            raise UserError("training the refiner needs torch: pip install 'digitdet[train]'"
                            ) from None
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # before, not after, training
        from digitdet.detector import DigitDetector

        if args.init is None:
            width, head, size, init = args.width, args.head, args.size or SIZE, None
        else:
            width, head, size0, init = load_checkpoint(Path(args.init))
            size = args.size or size0
            init = resized_state(init, head, size0, size)

        detector = DigitDetector(args.weights, conf=args.conf, recognizer=False, refiner=False)
        rng = np.random.default_rng(args.seed)
        t0 = time.time()
        mined = [mine_crops(detector, Path(d), args.split, args.per, rng, args.skip, size) for d in args.data]
        x = np.concatenate([a for a, _ in mined])
        t = np.concatenate([b for _, b in mined])
        if len(x) < 1000:
            raise UserError(f"only {len(x)} crops: give more scenes (--data, --per)")
        print(f"{len(x)} crops (mined in {time.time() - t0:.0f} s)")
        held = rng.permutation(len(x))
        n_val = min(5000, len(x) // 10)
        val, tr = held[:n_val], held[n_val:]
        torch.set_num_threads(os.cpu_count() or 1)  # every core (torch may default to fewer)
        model = train_net(x[tr], t[tr], args.epochs, args.seed, width, init=init, lr=args.lr,
                          head=head)
        print(f"held-out crops ({n_val}): mean IoU {mean_iou(model, x[val], t[val]):.4f}")
        out = export_onnx(model, Path(args.output), size)
        print(f"wrote {save_checkpoint(model, width, head, out.with_suffix('.pt'), size)}")
    except (UserError, OSError) as exc:  # OSError: an output that cannot be written
        return error_exit("digitdet.refine_train", exc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
