"""Background scenes from photos with no digits: "negatives" for the detector and the recognizer.

Every synthesized scene has digits on a writing surface, so a model trained only on them boxes
round things, windows and pillars in a photo of a room as digits. This writes a scene set of
crops of your own photos (none may show a digit) with empty labels, in the layout
``python -m digitdet.synth`` writes (``images/train``, ``labels/train``, ``train/numbers.jsonl``),
to add to a training mix: as a folder in a data YAML's ``train:`` list for ``make train``, and
as a ``--data`` folder of ``python -m digitdet.recognize_train`` (its detector boxes on them
become "not a digit" crops).

Usage:
    python -m digitdet.negatives --photos photos/ --out datasets/natneg --scenes 400 --seed 7
    python -m digitdet.negatives --photos a.jpg b.png 'more/*.jpg' --out datasets/natneg

``--photos`` takes image files, folders (their images, sorted by name) and globs. Each scene is
a random crop of 40-100 % of a photo's sides, turned by a multiple of 90 degrees, mirrored half
the time (a photo is not a digit, so mirroring is safe here), gray a third of the time, resized
to 640x480 (three in four) or 480x640 and saved as JPEG of quality 60-94. The same photos in
the same order and the same seed give the same files. Stage 15's 400 scenes came from
scikit-image's 20 bundled photos (docs/training-log.md, "Stage 15").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from digitdet.errors import UserError, error_exit, make_folder

MIN_SIDE = 16  # smallest crop side, in pixels; a photo must be at least this big
LANDSCAPE = (640, 480)  # (width, height) of three scenes in four; the rest are portrait


def photo_paths(specs: list[str]) -> list[Path]:
    """The image files named by ``specs`` (files, folders, globs, expanded as ``detect
    --source`` expands them: :func:`digitdet.sources.resolve`), in order; a folder's images
    sorted by name. Raises :class:`UserError` for a spec that names no image."""
    from digitdet.sources import IMAGE_EXTS, resolve

    paths: list[Path] = []
    for spec in specs:
        try:
            items = resolve(spec).items
        except UserError as exc:
            raise UserError(f"no images at {spec} ({exc})") from None
        found = [Path(f) for f in items if Path(f).suffix.lower() in IMAGE_EXTS]
        if not found:
            raise UserError(f"no images at {spec}")
        paths += found
    return paths


def read_photos(paths: list[Path]) -> list[np.ndarray]:
    """Each file as a BGR ``uint8 (H, W, 3)`` array. Raises :class:`UserError` for a file
    OpenCV cannot read or one smaller than ``MIN_SIDE`` on a side."""
    import cv2

    photos = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"cannot read image {p}")
        if min(img.shape[:2]) < MIN_SIDE:
            raise UserError(f"{p} is {img.shape[1]}x{img.shape[0]}: photos must be at least "
                            f"{MIN_SIDE} px on a side")
        photos.append(img)
    return photos


def negative_scene(photos: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One background scene drawn from ``photos`` (BGR ``uint8 (H, W, 3)``, each at least
    ``MIN_SIDE`` px): returns the scene, ``uint8 (480, 640, 3)`` or ``(640, 480, 3)``, and
    the JPEG quality to save it at. Draws from ``rng`` only."""
    import cv2

    im = photos[int(rng.integers(len(photos)))]
    h, w = im.shape[:2]
    s = rng.uniform(0.4, 1.0)
    ch, cw = max(MIN_SIDE, int(h * s)), max(MIN_SIDE, int(w * s))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = np.rot90(im[y:y + ch, x:x + cw], int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    width, height = LANDSCAPE if rng.random() < 0.75 else LANDSCAPE[::-1]
    crop = np.ascontiguousarray(crop)
    shrink = crop.shape[1] > width
    scene = cv2.resize(crop, (width, height),
                       interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        scene = cv2.cvtColor(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return scene, int(rng.integers(60, 95))


def write_negatives(photos: list[np.ndarray], out: Path, n: int,
                    rng: np.random.Generator) -> list[dict]:
    """Write ``n`` scenes of :func:`negative_scene` under ``out`` as the train split
    (``images/train/neg_00000.jpg``..., empty ``labels/train/*.txt``, ``train/numbers.jsonl``
    with no numbers); returns the JSONL records."""
    import cv2

    for sub in ("images/train", "labels/train", "train"):
        make_folder(out / sub)
    records = []
    for i in range(n):
        scene, quality = negative_scene(photos, rng)
        name = f"images/train/neg_{i:05d}.jpg"
        if not cv2.imwrite(str(out / name), scene, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise UserError(f"cannot write {out / name}")
        (out / "labels" / "train" / f"neg_{i:05d}.txt").write_text("")
        records.append({"image": name, "width": scene.shape[1], "height": scene.shape[0],
                        "numbers": []})
    (out / "train" / "numbers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.negatives", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", nargs="+", required=True,
                   help="photos with no digits: files, folders, globs")
    p.add_argument("--out", required=True, help="dataset folder to write (train split)")
    p.add_argument("--scenes", type=int, default=400, help="how many scenes")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    try:
        if args.scenes < 1:
            raise UserError(f"--scenes must be at least 1, got {args.scenes}")
        photos = read_photos(photo_paths(args.photos))
        write_negatives(photos, Path(args.out), args.scenes, np.random.default_rng(args.seed))
    except (UserError, OSError) as exc:
        return error_exit("digitdet.negatives", exc)
    print(f"wrote {args.scenes} background scenes from {len(photos)} photos to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
