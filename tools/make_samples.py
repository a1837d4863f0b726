"""Rebuild assets/samples/ from held-out MNIST test digits (t10k 5000-9999), never trained on.

scan.jpg is a form scanned at 200 dpi (A4, 1654x2339): printed labels, a comb field (a box per
digit), boxed and ruled fields, numbers 32-44 px tall; read whole at 480 px they are 7-9 px, so
detect reads it in tiles too.

    python tools/make_samples.py --mnist-dir ../shared/mnist
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from digitdet import mnist
from digitdet.synth.config import load_synth_config
from digitdet.synth.dataset import build_pool, scene_rng
from digitdet.synth.glyphs import render_natural, render_stroke
from digitdet.synth.scene import make_scene


def pad_number(pool, text: str, size: tuple[int, int], height: int, pen: float, dark: bool,
               seed: int) -> np.ndarray:
    """A number written on a plain drawing-pad canvas."""
    rng = np.random.default_rng(seed)
    w, h = size
    alpha = np.zeros((h, w), np.float32)
    masks = []
    for ch in text:
        g = pool.sample(rng, int(ch))
        gw = max(int(height * max(g.aspect, 0.3)), 10)
        masks.append(render_stroke(g, height, gw + int(pen), pen))
    gap = int(0.12 * height)
    x = (w - sum(m.shape[1] for m in masks) - gap * (len(masks) - 1)) // 2
    y = (h - height) // 2
    for m in masks:
        alpha[y: y + m.shape[0], x: x + m.shape[1]] = np.maximum(
            alpha[y: y + m.shape[0], x: x + m.shape[1]], m)
        x += m.shape[1] + gap
    img = (alpha if dark else 1 - alpha) * 255
    return cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_GRAY2BGR)


# (label, number, style, digit height px) of the form's fields, top to bottom: a number written in
# a comb (a printed box per digit), in a printed box (as a cheque's amount) or on a rule
FORM_FIELDS = [("Account number", "40718356", "comb", 40), ("Sort code", "209174", "box", 40),
               ("Amount", "1250", "box", 44), ("Date", "07122026", "rule", 36),
               ("Phone", "5550192", "rule", 38), ("Reference", "931", "box", 32)]


def form_scan(pool, seed: int, size: tuple[int, int] = (1654, 2339)) -> np.ndarray:
    """An A4 form at 200 dpi: printed labels and fields (a comb, a box or a rule), each filled in
    with a number in held-out MNIST digits in blue-black ink, on faintly grained paper."""
    rng = np.random.default_rng(seed)
    w, h = size
    paper = 243 + rng.normal(0, 2.5, (h, w)).astype(np.float32)
    paper = cv2.GaussianBlur(paper, (0, 0), 1.2)
    img = cv2.cvtColor(np.clip(paper, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "APPLICATION FORM", (150, 220), font, 2.0, (40, 40, 40), 4, cv2.LINE_AA)
    cv2.line(img, (150, 260), (w - 150, 260), (60, 60, 60), 3)
    ink = np.zeros((h, w), np.float32)
    y = 420
    for label, number, style, height in FORM_FIELDS:
        cv2.putText(img, label, (150, y), font, 1.1, (50, 50, 50), 2, cv2.LINE_AA)
        x0 = 650
        cell = int(height * 1.1)
        if style == "comb":
            for k in range(len(number) + 1):
                xx = x0 - 10 + k * cell
                cv2.line(img, (xx, y - height - 12), (xx, y + 12), (110, 110, 110), 2)
            cv2.rectangle(img, (x0 - 10, y - height - 12), (x0 - 10 + len(number) * cell, y + 12),
                          (110, 110, 110), 2)
        elif style == "box":
            cv2.rectangle(img, (x0 - 20, y - height - 30), (x0 + int(len(number) * height * 0.95),
                                                           y + 22), (110, 110, 110), 2)
        else:
            cv2.line(img, (x0 - 20, y + 10), (w - 150, y + 10), (110, 110, 110), 2)
        x = x0
        for k, ch in enumerate(number):
            g = pool.sample(rng, int(ch))
            gw = max(int(height * g.aspect), 6)
            top = y - height + int(rng.integers(-3, 4))
            if style == "comb":  # centred in its box, give or take a few pixels
                x = x0 - 10 + k * cell + (cell - gw) // 2 + int(rng.integers(-3, 4))
            ink[top:top + height, x:x + gw] = np.maximum(ink[top:top + height, x:x + gw],
                                                         render_natural(g, height, gw))
            x += gw + int(height * rng.uniform(0.12, 0.28))
        y += 280
    blue = np.array([90, 30, 20], np.float32)  # BGR blue-black ballpoint
    out = img.astype(np.float32) * (1 - ink[..., None]) + blue * ink[..., None]
    return cv2.GaussianBlur(out, (0, 0), 0.6).clip(0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    """Write the six sample images; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", default=None)
    p.add_argument("--out", default="assets/samples")
    args = p.parse_args(argv)
    try:
        data = mnist.load(args.mnist_dir)
    except mnist.MnistError as exc:
        print(f"make_samples: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)  # made only once the digits load: bad input leaves no empty folder
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_synth_config(Path("configs/synth.yaml"))
    pool = build_pool(cfg.pools["test"], data)
    cv2.imwrite(str(out / "pad.png"), pad_number(pool, "2024", (640, 480), 150, 14, False, 1))
    cv2.imwrite(str(out / "hairline.png"), pad_number(pool, "375", (560, 560), 170, 1.0, True, 2))
    cv2.imwrite(str(out / "scan.jpg"), form_scan(pool, 3), [cv2.IMWRITE_JPEG_QUALITY, 85])
    wanted = {"whiteboard": "whiteboard.jpg", "form": "form.jpg", "blackboard": "blackboard.jpg"}
    i = 0
    while wanted and i < 500:
        scene = make_scene(scene_rng(cfg.seed + 7, "test", i), pool, cfg)
        i += 1
        if scene.surface in wanted and 3 <= len(scene.numbers) <= 12 and scene.image.shape[1] == 640:
            cv2.imwrite(str(out / wanted.pop(scene.surface)), scene.image,
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(sorted(p.name for p in out.iterdir()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
