"""Train the second-stage recognizer (:mod:`digitdet.recognize`) and export it to ONNX.

Usage:
    python -m digitdet.recognize_train --data datasets/digits-s30 datasets/digits-s33hh \\
        --per 400 --epochs 8 --output runs/recognize/recognizer.onnx
    python -m digitdet.recognize_train --data datasets/digits --split train --weights best.onnx ...

Crops come from synthesized scenes' ``train`` split (never a test split): every ground-truth
digit (its box jittered a little), every detector box at ``--conf`` that overlaps a digit by
IoU >= 0.5 (labelled with that digit), and up to ``--neg-cap`` detector boxes per scene that
overlap none (IoU < 0.2), labelled "not a digit"; with ``--parts``, also the detector boxes
that lie on part of one digit (mostly inside it, IoU < 0.45: the lower loop of an 8, the stem of a
4), which were read as a digit of their own. So the recognizer learns the boxes the detector
(``--weights``, default the shipped one) actually draws, and its mistakes. ``--lines`` draws a
box or rule line beside the digit of that share of the training crops (the 3 beside a box line
read as 5 was the most common misread on validation scenes). Needs torch (the ``train`` extra);
the ONNX it writes runs without torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from digitdet.decode import box_area, box_intersection, box_iou
from digitdet.errors import UserError, error_exit
from digitdet.labels import read_scenes, split_records
from digitdet.recognize import BACKGROUND, CROP, crop_square, standardize

MATCH_IOU = 0.5  # a detector box on a digit
FREE_IOU = 0.2  # a detector box on no digit
PART_IOU = 0.45  # --parts: a box covering less of every digit than this ...
PART_INSIDE = 0.8  # ... with this share of its area on one digit is a part of it


def jitter(box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``box (4,)`` moved by ~5 % and scaled by ~8 % of its longer side, as detector boxes vary."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1)
    dx, dy = rng.normal(0, 0.05, 2) * side
    s = float(np.exp(rng.normal(0, 0.08)))
    cx, cy, hw, hh = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy, (x2 - x1) * s / 2, (y2 - y1) * s / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)


def label_boxes(det_xyxy: np.ndarray, gt_box: np.ndarray, gt_cls: np.ndarray,
                neg_cap: int, parts: bool = False) -> np.ndarray:
    """``(N,) int64`` label of each detector box: the digit it covers (IoU >= 0.5), BACKGROUND
    for the first ``neg_cap`` boxes on no digit (IoU < 0.2) and, with ``parts``, the first
    ``neg_cap`` on part of one digit (IoU < 0.45 with all, at least 80 % of their own area on
    one); -1 for the rest (not used)."""
    labels = np.full(len(det_xyxy), -1, np.int64)
    if not len(det_xyxy):
        return labels
    best = np.zeros(len(det_xyxy), np.float32)
    if len(gt_box):
        iou = box_iou(det_xyxy, gt_box)
        best = iou.max(1)
        on = best >= MATCH_IOU
        labels[on] = gt_cls[iou.argmax(1)[on]]
        if parts:
            part = (best < PART_IOU) & (inside_share(det_xyxy, gt_box).max(1) >= PART_INSIDE)
            labels[np.nonzero(part)[0][:neg_cap]] = BACKGROUND
    free = np.nonzero(best < FREE_IOU)[0][:neg_cap]
    labels[free] = BACKGROUND
    return labels


def inside_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M) float32``: the share of each box of ``a (N, 4)``'s area that lies in each box of
    ``b (M, 4)`` (x1, y1, x2, y2); 0 for an empty box."""
    return (box_intersection(a, b) / np.maximum(box_area(a), 1e-9)[:, None]).astype(np.float32)


def mine_crops(detector: Any, root: Path, split: str, per: int, neg_cap: int,
               rng: np.random.Generator, parts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crops ``(N, CROP, CROP) uint8`` and labels ``(N,) int64`` from the first ``per`` scenes
    of ``root``'s ``split`` (see the module docstring)."""
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for img, gt_box, gt_cls in read_scenes(root, split, split_records(root, split, per)):
        det = detector.predict(img).detections
        for box, y in zip(det.xyxy, label_boxes(det.xyxy, gt_box, gt_cls, neg_cap, parts), strict=True):
            if y >= 0:
                xs.append(crop_square(img, box))
                ys.append(int(y))
        for box, y in zip(gt_box, gt_cls, strict=True):
            xs.append(crop_square(img, jitter(box, rng)))
            ys.append(int(y))
    x = np.stack(xs) if xs else np.zeros((0, CROP, CROP), np.uint8)
    return x, np.asarray(ys, np.int64)


def build_net(width: int = 16, full_res: bool = False, batchnorm: bool = True) -> Any:
    """The recognizer CNN: ``(N, 1, 32, 32)`` -> ``(N, 11)`` logits; about 5 M multiply-adds a
    crop at ``width`` 16, a quarter of that at 8. ``full_res``: the first two convolutions at 32 x
    32 (stride 1) and a third stage, about twice the multiply-adds. ``batchnorm=False``: each
    convolution with a bias and no batch norm, as an exported recognizer holds them (the exporter
    folds each batch norm into its convolution; see :func:`member_nets`)."""
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> list[Any]:
        if not batchnorm:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=True), nn.ReLU()]
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    w = width
    if full_res:  # 32 -> 16 -> 8
        stem = [*block(1, w), *block(w, w), nn.MaxPool2d(2), *block(w, 2 * w), *block(2 * w, 2 * w)]
    else:  # stride 2: 32 -> 16 -> 8
        stem = [*block(1, w, 2), *block(w, 2 * w)]
    body = [*stem, nn.MaxPool2d(2), *block(2 * w, 4 * w), *block(4 * w, 4 * w), nn.MaxPool2d(2)]  # -> 4
    return nn.Sequential(*body, nn.Flatten(), nn.Linear(4 * w * (CROP // 8) ** 2, 128), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(128, BACKGROUND + 1))


def member_nets(model: Any) -> list[Any]:
    """The networks in a recognizer ``onnx.ModelProto``, one or an ensemble's members (see
    :mod:`digitdet.recognize_ensemble`), each a :func:`build_net` with ``batchnorm=False``
    holding the file's weights, for fine-tuning; an ensemble of ensembles comes back as its
    networks side by side (averaged again, each then weighs the same). Raises
    :class:`UserError` for a graph that is not made of such networks."""
    import re

    import torch
    from onnx import numpy_helper
    from torch import nn

    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # member prefix -> (W, b) in graph order
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            if len(node.input) != 3 or not all(x in weights for x in node.input[1:]):
                raise UserError(f"recognizer node {node.name}: expected weights and a bias")
            prefix = re.match(r"(?:m\d+_)*", node.input[1]).group(0)  # type: ignore[union-attr]
            layers.setdefault(prefix, []).append((weights[node.input[1]], weights[node.input[2]]))
    nets = []
    for prefix, params in layers.items():
        n_conv = sum(w.ndim == 4 for w, _ in params)
        if n_conv not in (4, 6) or len(params) != n_conv + 2 or params[0][0].shape[1] != 1:
            raise UserError(f"recognizer member '{prefix}': {n_conv} convolutions and "
                            f"{len(params) - n_conv} dense layers is not a recognize_train network")
        net = build_net(int(params[0][0].shape[0]), n_conv == 6, batchnorm=False)
        mods = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
        for mod, (w, b) in zip(mods, params, strict=True):
            if tuple(mod.weight.shape) != w.shape:
                raise UserError(f"recognizer member '{prefix}': a layer of shape {w.shape}, "
                                f"expected {tuple(mod.weight.shape)}")
            with torch.no_grad():
                mod.weight.copy_(torch.from_numpy(w.copy()))
                mod.bias.copy_(torch.from_numpy(b.copy()))  # type: ignore[union-attr]  # bias=True
        nets.append(net.eval())
    if not nets:
        raise UserError("no recognizer network in the file")
    return nets


def random_affine(xb: Any, rng: np.random.Generator, strength: float) -> Any:
    """Each crop of ``xb (B, 1, H, W) float32`` (a torch tensor) turned, scaled, sheared and
    moved a little (at ``strength`` 1: rotation sd ~6 degrees, scale and shear sd 8 %, shift sd
    3 % of the side; edges replicated), as hands and detector boxes vary. ``strength`` 0 returns
    ``xb`` itself."""
    if strength <= 0:
        return xb
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own convention)

    n = len(xb)
    ang = torch.from_numpy(rng.normal(0, 0.1 * strength, n)).float()
    scale = torch.from_numpy(np.exp(rng.normal(0, 0.08 * strength, n))).float()
    shear = torch.from_numpy(rng.normal(0, 0.08 * strength, n)).float()
    shift = torch.from_numpy(rng.normal(0, 0.06 * strength, (n, 2))).float()  # grid units: 2 = side
    c, s = torch.cos(ang) * scale, torch.sin(ang) * scale
    theta = torch.stack([torch.stack([c, shear - s, shift[:, 0]], 1),
                         torch.stack([s, c, shift[:, 1]], 1)], 1)  # (B, 2, 3) output -> input
    grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
    return F.grid_sample(xb, grid, padding_mode="border", align_corners=False)


def _ink_run(has: np.ndarray, bridge: int = CROP // 4) -> tuple[int, int]:
    """First and last index of the run of ``True`` in ``has (32,) bool`` nearest its middle,
    bridging gaps of up to ``bridge`` (a 0's hole; a neighbour that close joins the run)."""
    idx = np.nonzero(has)[0]
    i = j = int(idx[np.abs(idx - len(has) // 2).argmin()])
    while (left := idx[(idx < i) & (idx >= i - bridge - 1)]).size:
        i = int(left.min())
    while (right := idx[(idx > j) & (idx <= j + bridge + 1)]).size:
        j = int(right.max())
    return i, j


def add_lines(crops: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
    """A copy of ``crops (N, 32, 32) uint8`` in which each crop, with probability ``prob``,
    gets a straight line beside the digit in its middle: left, right, above or below it (1.5-5
    px from its ink, or a corner of two), mostly 1 px wide, in the ink's colour or fainter, as
    box, comb and table lines, rules and separators sit next to written digits. The label stays
    the digit's. At ``prob`` 0 nothing is drawn from ``rng``, so runs without lines keep the
    random stream (and the models) of the seeds trained before it existed."""
    out = crops.copy()
    if prob <= 0:
        return out
    for i in np.nonzero(rng.random(len(crops)) < prob)[0]:
        c = out[i]
        med = float(np.median(c))
        lo, hi = np.percentile(c, (2, 98))
        ink = lo if med - lo > hi - med else hi
        if abs(ink - med) < 16:  # no ink to match
            continue
        mask = np.abs(c.astype(np.float32) - med) > abs(ink - med) / 2
        band = mask[CROP // 4:CROP - CROP // 4]  # the middle rows
        if not band.any():
            continue
        x0, x1 = _ink_run(band.any(0))  # the digit's columns, not its neighbours'
        y0, y1 = _ink_run(mask[:, x0:x1 + 1].any(1))
        colour = float(med + (ink - med) * rng.uniform(0.5, 1.0))
        width = 1 if rng.random() < 0.7 else 2
        kind = int(rng.integers(5))
        sides = [kind] if kind < 4 else [int(rng.integers(2)), 2 + int(rng.integers(2))]
        for side in sides:
            away = -1 if side in (0, 2) else 1
            at = (x0, x1, y0, y1)[side] + away * (rng.uniform(1.5, 5) + width / 2)
            a, b = rng.uniform(-6, 14), rng.uniform(18, 38)  # its span along the crop
            lean = [0.0, 0.0]
            lean[int(rng.integers(2))] = away * abs(rng.normal(0, 1))  # one end leans out
            p0, p1 = (((at + lean[0], a), (at + lean[1], b)) if side < 2
                      else ((a, at + lean[0]), (b, at + lean[1])))
            cv2.line(c, (round(p0[0] * 16), round(p0[1] * 16)), (round(p1[0] * 16), round(p1[1] * 16)),
                     colour, width, cv2.LINE_AA, 4)
    return out


def train_net(x: np.ndarray, y: np.ndarray, epochs: int, seed: int, width: int = 16,
              batch: int = 256, augment: float = 1.0, full_res: bool = False,
              lines: float = 0.0, log: Any = print, init: Any = None, lr: float = 3e-3) -> Any:
    """Train :func:`build_net` on crops ``x (N, 32, 32) uint8``, labels ``y (N,)``; each batch
    given :func:`add_lines` at ``lines``, half inverted (light on dark and dark on light both
    occur) and moved by :func:`random_affine` at ``augment``; ``full_res`` as
    :func:`build_net`. ``init``: a network to fine-tune instead (``width`` and ``full_res`` then
    unused); ``lr``: the one-cycle schedule's peak rate. Returns the model in eval mode."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = init if init is not None else build_net(width, full_res)
    what = "fine-tuned" if init is not None else f"width {width}"
    log(f"recognizer: {what}, {sum(p.numel() for p in model.parameters())} parameters")
    steps = max(epochs * (len(x) // batch), 1)
    opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    ys = torch.from_numpy(y)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        order = torch.from_numpy(rng.permutation(len(x)))
        for b in range(len(x) // batch):
            idx = order[b * batch:(b + 1) * batch]
            xb = torch.from_numpy(standardize(add_lines(x[idx.numpy()], rng, lines)))
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            xb[flip] = -xb[flip]
            loss = loss_fn(model(random_affine(xb, rng, augment)), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    return model.eval()


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Share of crops ``x`` the model labels ``y``."""
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(standardize(x))).argmax(1).numpy()
    return float((pred == y).mean()) if len(y) else 0.0


def export_onnx(model: Any, path: Path, size: int = CROP, output: str = "logits") -> Path:
    """Write a crop model as ONNX with a dynamic batch: input ``crops (N, 1, size, size)``,
    output ``output`` (the recognizer's ``logits (N, 11)`` by default; the refiner's ``boxes``)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # dynamo=False is chosen (a plain CNN, no new dependency); torch warns that it is legacy
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*",
                                category=DeprecationWarning)
        # ... and that an internal logging helper it calls itself will be removed
        warnings.filterwarnings("ignore", message="The feature will be removed",
                                category=DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(2, 1, size, size),), str(path),
                          input_names=["crops"], output_names=[output],
                          dynamic_axes={"crops": {0: "n"}, output: {0: "n"}},
                          opset_version=17, dynamo=False)
    return path


def load_init(path: str) -> list[Any]:
    """:func:`member_nets` of the recognizer ONNX at ``path``; :class:`UserError` when it is
    missing, not ONNX, or not a recognizer."""
    try:
        import onnx  # noqa: F401 (checked here for a one-line error)
    except ImportError:
        raise UserError("fine-tuning a recognizer needs onnx: pip install 'digitdet[train]'") from None
    from digitdet.recognize_ensemble import read_model

    return member_nets(read_model(Path(path), "--init"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.recognize_train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="synthesized dataset folders")
    p.add_argument("--split", default="train", choices=["train", "val"])
    p.add_argument("--per", type=int, default=400, help="scenes per dataset")
    p.add_argument("--weights", default=None, help="the detector (default: the shipped one)")
    p.add_argument("--conf", type=float, default=0.01, help="detector confidence for mining")
    p.add_argument("--neg-cap", type=int, default=15, help="most 'not a digit' boxes per scene")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--width", type=int, default=16, help="channels of the first layer")
    p.add_argument("--full-res", action="store_true",
                   help="first convolutions at the crop's full 32x32 (twice the multiply-adds)")
    p.add_argument("--augment", type=float, default=1.0,
                   help="strength of the random turn/scale/shear/shift of training crops (0: off)")
    p.add_argument("--lines", type=float, default=0.0,
                   help="share of training crops given a box/rule line beside the digit (0: none)")
    p.add_argument("--parts", action="store_true",
                   help="also label detector boxes on part of a digit 'not a digit'")
    p.add_argument("--init", default=None, metavar="REC.onnx",
                   help="fine-tune this recognizer (each member of an ensemble, seeds --seed, "
                        "--seed+1, ...) instead of training a new one; --width/--full-res unused")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one cycle)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="runs/recognize/recognizer.onnx")
    args = p.parse_args(argv)
    try:
        if min(args.per, args.epochs, args.width) < 1 or min(args.neg_cap, args.augment) < 0:
            raise UserError("--per, --epochs and --width must be at least 1, --neg-cap and "
                            "--augment at least 0")
        if not 0 <= args.lines <= 1:
            raise UserError(f"--lines is a share of crops, 0 to 1, got {args.lines}")
        if not 0 < args.lr <= 0.1:
            raise UserError(f"--lr must lie in (0, 0.1], got {args.lr:g}")
        try:  # checked before minutes of mining crops
            import torch
        except ImportError:
            raise UserError("training the recognizer needs torch: pip install 'digitdet[train]'"
                            ) from None
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # before, not after, training
        inits = load_init(args.init) if args.init else [None]  # checked before mining too
        from digitdet.detector import DigitDetector

        detector = DigitDetector(args.weights, conf=args.conf, recognizer=False)
        rng = np.random.default_rng(args.seed)
        t0 = time.time()
        mined = [mine_crops(detector, Path(d), args.split, args.per, args.neg_cap, rng,
                            args.parts)
                 for d in args.data]
        x = np.concatenate([a for a, _ in mined])
        y = np.concatenate([b for _, b in mined])
        if len(x) < 1000:
            raise UserError(f"only {len(x)} crops: give more scenes (--data, --per)")
        print(f"{len(x)} crops, per class {np.bincount(y, minlength=BACKGROUND + 1).tolist()} "
              f"(mined in {time.time() - t0:.0f} s)")
        held = rng.permutation(len(x))
        n_val = min(3000, len(x) // 10)
        val, tr = held[:n_val], held[n_val:]
        torch.set_num_threads(os.cpu_count() or 1)  # every core (torch may default to fewer)
        out = Path(args.output)
        written = []
        for k, init in enumerate(inits):
            if len(inits) > 1:
                print(f"member {k + 1} of {len(inits)}")
            model = train_net(x[tr], y[tr], args.epochs, args.seed + k, args.width,
                              augment=args.augment, full_res=args.full_res, lines=args.lines,
                              init=init, lr=args.lr)
            print(f"held-out crops ({n_val}): accuracy {accuracy(model, x[val], y[val]):.4f}")
            path = out if len(inits) == 1 else out.with_name(f"{out.stem}-m{k}{out.suffix}")
            written.append(export_onnx(model, path))
        if len(written) > 1:  # the fine-tuned members averaged again, as the file was
            import onnx

            from digitdet.recognize_ensemble import ensemble

            onnx.save(ensemble([onnx.load(str(w)) for w in written], [str(w) for w in written]),
                      str(out))
    except (UserError, OSError) as exc:  # OSError: an output that cannot be written
        return error_exit("digitdet.recognize_train", exc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
