"""Rebuild assets/samples/ from held-out MNIST test digits (t10k 5000-9999), never trained on.

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
from digitdet.synth.glyphs import render_stroke
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


def main(argv: list[str] | None = None) -> int:
    """Write the five sample images; returns the exit code."""
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
