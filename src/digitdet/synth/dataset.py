"""Write a YOLO dataset of synthetic scenes: images/, labels/, numbers.jsonl, data YAML, meta.

Scene ``i`` of split ``s`` is drawn from ``np.random.default_rng([seed, split_code, i])``, so the
output is byte-identical for a seed whatever the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from digitdet.errors import UserError
from digitdet.labels import yolo_lines
from digitdet.mnist import Mnist
from digitdet.synth.config import SynthConfig
from digitdet.synth.scene import GlyphPool, Scene, make_scene

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
NAMES = [str(i) for i in range(10)]
_POOL_RE = re.compile(r"^(train|t10k)\[(\d*):(\d*)\]$")


def pool_indices(spec: str, mnist: Mnist) -> tuple[str, np.ndarray]:
    """Parse ``"t10k[5000:10000]"`` into (source, indices)."""
    m = _POOL_RE.match(spec.replace(" ", ""))
    if not m:
        raise UserError(f"bad pool spec '{spec}': expected train[a:b] or t10k[a:b]")
    src, a, b = m.groups()
    n = len(mnist.train_labels if src == "train" else mnist.test_labels)
    start, stop = int(a or 0), min(int(b or n), n)
    return src, np.arange(start, stop)


def build_pool(specs: list[str], mnist: Mnist) -> GlyphPool:
    """Concatenate the MNIST digits named by ``specs`` into one :class:`GlyphPool`."""
    imgs, labels = [], []
    for spec in specs:
        src, idx = pool_indices(spec, mnist)
        x, y = (mnist.train_images, mnist.train_labels) if src == "train" else (
            mnist.test_images, mnist.test_labels)
        imgs.append(x[idx])
        labels.append(y[idx])
    return GlyphPool(np.concatenate(imgs), np.concatenate(labels))


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator that draws scene ``index`` of ``split``."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def scene_label_lines(scene: Scene) -> list[str]:
    """YOLO label lines of a scene."""
    h, w = scene.image.shape[:2]
    return yolo_lines(scene.boxes, scene.classes, w, h)


def numbers_record(scene: Scene, image_rel: str) -> dict[str, Any]:
    """The numbers.jsonl line of a scene: text, box and digit indices of each number."""
    nums = []
    for digits in scene.numbers:
        b = scene.boxes[digits]
        nums.append({"text": "".join(str(int(scene.classes[i])) for i in digits),
                     "box": [round(float(b[:, 0].min()), 1), round(float(b[:, 1].min()), 1),
                             round(float(b[:, 2].max()), 1), round(float(b[:, 3].max()), 1)],
                     "digits": [int(i) for i in digits]})
    h, w = scene.image.shape[:2]
    return {"image": image_rel, "width": w, "height": h, "surface": scene.surface, "numbers": nums}


_STATE: dict[str, Any] = {}


def _init(pools: dict[str, GlyphPool], cfg: SynthConfig, out: str) -> None:
    _STATE.update(pools=pools, cfg=cfg, out=Path(out))
    cv2.setNumThreads(1)


def _work(job: tuple[str, int]) -> str:
    split, i = job
    cfg: SynthConfig = _STATE["cfg"]
    out: Path = _STATE["out"]
    scene = make_scene(scene_rng(cfg.seed, split, i), _STATE["pools"][split], cfg)
    name = f"{split}_{i:06d}"
    ok, buf = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {name}")
    (out / "images" / split / f"{name}.jpg").write_bytes(buf.tobytes())
    (out / "labels" / split / f"{name}.txt").write_text("\n".join(scene_label_lines(scene)) + "\n")
    return json.dumps(numbers_record(scene, f"images/{split}/{name}.jpg"))


def iter_scenes(pool: GlyphPool, cfg: SynthConfig, split: str, n: int) -> Iterator[Scene]:
    """Scenes 0..n-1 of ``split`` in this process (for previews and tests)."""
    for i in range(n):
        yield make_scene(scene_rng(cfg.seed, split, i), pool, cfg)


def write_data_yaml(path: Path, dataset_dir: Path) -> None:
    """Write the ultralytics data YAML (nc 10, names '0'..'9') pointing at ``dataset_dir``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"path": str(dataset_dir), "train": "images/train", "val": "images/val",
            "test": "images/test", "nc": 10, "names": {i: n for i, n in enumerate(NAMES)}}
    path.write_text("# written by python -m digitdet.synth\n" + yaml.safe_dump(data, sort_keys=False))


def write_dataset(mnist: Mnist, cfg: SynthConfig, out: Path, data_yaml: Path,
                  workers: int = 2, progress: bool = True) -> dict[str, int]:
    """Synthesize every split of ``cfg.scenes`` into ``out``; return scene counts per split."""
    from tqdm import tqdm

    pools = {s: build_pool(cfg.pools[s], mnist) for s in cfg.scenes}
    for s in cfg.scenes:
        (out / "images" / s).mkdir(parents=True, exist_ok=True)
        (out / "labels" / s).mkdir(parents=True, exist_ok=True)
        for stale in (out / "images" / s).glob("*.jpg"):
            stale.unlink()
        for stale in (out / "labels" / s).glob("*.txt"):
            stale.unlink()
    jobs = [(s, i) for s, n in cfg.scenes.items() for i in range(n)]
    files = {s: (out / s / "numbers.jsonl") for s in cfg.scenes}
    handles = {}
    for s, f in files.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        handles[s] = f.open("w")
    try:
        bar = tqdm(total=len(jobs), unit="scene", desc="synth", disable=not progress)
        if workers > 1:
            # forkserver, not fork: a worker forked from a process with running threads (ONNX
            # Runtime, torch, a server in the caller) can inherit a held lock and hang; one
            # full test run under load failed here after about pytest's 600-s timeout
            ctx = mp.get_context("forkserver")
            with ctx.Pool(workers, _init, (pools, cfg, str(out))) as pool:
                for (s, _), line in zip(jobs, pool.imap(_work, jobs, chunksize=16), strict=True):
                    handles[s].write(line + "\n")
                    bar.update()
        else:
            _init(pools, cfg, str(out))
            for job in jobs:
                handles[job[0]].write(_work(job) + "\n")
                bar.update()
        bar.close()
    finally:
        for h in handles.values():
            h.close()
    meta = {"config": asdict(cfg), "pool_sizes": {s: len(p) for s, p in pools.items()},
            "note": "train/val use the MNIST training file and t10k 0-4999; test uses only "
                    "t10k 5000-9999, never seen in training"}
    (out / "synth.json").write_text(json.dumps(meta, indent=1))
    write_data_yaml(data_yaml, out)
    return dict(cfg.scenes)
