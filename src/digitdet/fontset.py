"""Out-of-distribution check: numbers written in handwriting fonts the model never trained on.

Fonts are looked up on the system: the model card's set, Debian packages fonts-dkg-handwriting,
fonts-breip, fonts-bwht, fonts-femkeklaver, fonts-humor-sans, fonts-comic-neue,
fonts-kaushanscript, fonts-kristi, fonts-dancingscript (:func:`find_fonts`), and 19 Google
handwriting fonts of the npm @fontsource packages that ``make fonts`` fetches into
``truetype/fontsource/`` (:data:`NPM_HELD_OUT`, :func:`find_npm_fonts`; the other 36 it fetches
are training fonts). A check is skipped when none of its fonts is installed. Scenes are
deterministic for a seed: 1-3 numbers of 2-6 digits on paper, a whiteboard or a black pad. With
``words``, each number has a word written beside it in the same font and ink ("Total 42", "18
Dollars"; before it where it fits, else after it, smaller where neither side has room),
letters that must not be read as digits; the digits are the same as without.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

import cv2
import numpy as np

FONT_DIR = "/usr/share/fonts"
FONT_GLOBS = ("fifthhorseman/dkg*.ttf", "breip/*.ttf", "bwht/*.otf", "femkeklaver/*.ttf",
              "humor-sans/*.ttf", "comic-neue/*.otf", "kaushanscript/*.otf", "kristi/*.ttf",
              "dancingscript/*.otf")
# every third of the 55 npm fonts tools/npm_fonts.sh fetches (sorted by name): never trained on
NPM_HELD_OUT = ("amatic-sc", "bad-script", "cedarville-cursive", "dawning-of-a-new-day",
                "edu-qld-beginner", "edu-vic-wa-nt-beginner", "gloria-hallelujah", "handlee", "itim",
                "la-belle-aurore", "marck-script", "nanum-pen-script", "over-the-rainbow",
                "permanent-marker", "rock-salt", "schoolbell", "sriracha", "the-girl-next-door",
                "zeyada")
NPM_GLOBS = tuple(f"fontsource/{name}-latin-*.woff" for name in NPM_HELD_OUT)


def find_fonts(patterns: tuple[str, ...] = FONT_GLOBS) -> list[str]:
    """Paths of the handwriting fonts installed here: the model card's Debian set, or those
    ``patterns`` name (under ``FONT_DIR/*/``)."""
    found: list[str] = []
    for pattern in patterns:
        found += sorted(glob.glob(f"{FONT_DIR}/*/{pattern}"))
    return found


def find_npm_fonts() -> list[str]:
    """Paths of the held-out npm fonts installed here (:data:`NPM_HELD_OUT`)."""
    return find_fonts(NPM_GLOBS)


def held_out_glob(path: str) -> str | None:
    """The pattern of ``FONT_GLOBS`` or ``NPM_GLOBS`` that ``path`` matches (a font these checks
    hold out, so no training scene may use it), or None."""
    return next((g for g in FONT_GLOBS + NPM_GLOBS if fnmatch(path, f"*/{g}")), None)


@dataclass
class FontScene:
    image: np.ndarray  # uint8 (H, W, 3) BGR
    boxes: np.ndarray  # (N, 4) float32
    classes: np.ndarray  # (N,) int64
    numbers: list[dict[str, Any]]  # text and box per number
    font: str


def make_font_scene(rng: np.random.Generator, font_path: str, w: int = 640, h: int = 480,
                    words: np.random.Generator | None = None) -> FontScene:
    """Render 1-3 numbers in one font; boxes come from each digit's own ink. ``words``: the
    generator of a word written beside each number (see the module docstring), which leaves
    ``rng``'s draws, and so the digits, as they are without."""
    from PIL import Image, ImageDraw, ImageFont

    style = int(rng.integers(3))  # 0 paper, 1 whiteboard, 2 black pad
    bg = [(rng.uniform(225, 250),) * 3, (rng.uniform(205, 235),) * 3, (rng.uniform(0, 30),) * 3][style]
    ink = [(20, 20, 20), (150, 40, 20), (240, 240, 240)][style] if rng.random() < 0.6 else (
        [(140, 50, 10), (30, 30, 180), (220, 230, 230)][style])
    canvas = np.zeros((h, w, 3), np.float32) + np.array(bg, np.float32)
    boxes: list[list[float]] = []
    classes: list[int] = []
    numbers: list[dict[str, Any]] = []
    y = rng.uniform(20, 60)
    for _ in range(int(rng.integers(1, 4))):
        probe = ImageFont.truetype(font_path, 100)
        _, top, _, bottom = probe.getbbox("0123456789")
        size = max(8, int(rng.uniform(30, 130) * 100 / max(bottom - top, 1)))  # digit height
        font = ImageFont.truetype(font_path, size)
        digits = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(2, 7))))
        x = rng.uniform(20, 120)
        if y + size * 1.3 > h:
            break
        first, x0 = len(boxes), x
        for ch in digits:
            layer = Image.new("L", (w, h), 0)
            ImageDraw.Draw(layer).text((x, y), ch, font=font, fill=255)
            a = np.asarray(layer, np.float32) / 255.0
            ys, xs = np.nonzero(a > 0.3)
            adv = font.getlength(ch) * rng.uniform(0.95, 1.15)
            x += adv
            if len(xs) == 0 or x > w - 10:
                continue
            canvas = canvas * (1 - a[..., None]) + np.array(ink, np.float32) * a[..., None]
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            classes.append(int(ch))
        if words is not None and len(boxes) > first:
            right = max(b[2] for b in boxes[first:])  # the ink's end: digits past the edge are not drawn
            a = _word_beside(words, font, x0, right, y, w, h)
            canvas = canvas * (1 - a[..., None]) + np.array(ink, np.float32) * a[..., None]
        if len(boxes) > first:
            b = np.array(boxes[first:], np.float32)
            numbers.append({"text": "".join(str(c) for c in classes[first:]),
                            "box": [float(b[:, 0].min()), float(b[:, 1].min()),
                                    float(b[:, 2].max()), float(b[:, 3].max())]})
        y += size * rng.uniform(1.4, 2.0)
    noise = rng.normal(0, rng.uniform(1, 6), canvas.shape).astype(np.float32)
    img = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return FontScene(img[..., ::-1].copy(), np.array(boxes, np.float32).reshape(-1, 4),
                     np.array(classes, np.int64), numbers, font_path.rsplit("/", 1)[-1])


def _word_beside(rng: np.random.Generator, number_font: Any, x0: float, x1: float, y: float,
                 w: int, h: int) -> np.ndarray:
    """Coverage ``float32 (h, w)`` of a word in ``number_font`` (a Pillow font) on the line at
    ``y`` of a number written in it from ``x0`` to ``x1``: before it where it fits, else after it,
    at the number's size or, where neither side has room, 0.75, 0.5 or 0.35 of it (a label written
    smaller); all zeros when none of those fits."""
    from PIL import Image, ImageDraw

    from digitdet.synth.scene import random_word

    size = number_font.size
    space = number_font.getlength(" ")  # the number's own space
    for scale in (1.0, 0.75, 0.5, 0.35):
        font = number_font.font_variant(size=max(6, round(size * scale)))
        for _ in range(6):
            word = random_word(rng)
            gap = space * rng.uniform(0.8, 1.6)
            wx = x0 - gap - font.getlength(word)
            if wx < 4:
                wx = x1 + gap
                if wx + font.getlength(word) > w - 4:
                    continue  # fits neither side: another word (a short one may)
            layer = Image.new("L", (w, h), 0)
            # on the number's baseline: the smaller word's top lowered by what it lost
            ImageDraw.Draw(layer).text((wx, y + (1 - scale) * 0.8 * size), word, font=font, fill=255)
            return np.asarray(layer, np.float32) / 255.0
    return np.zeros((h, w), np.float32)


def evaluate_fonts(detector: Any, per_font: int = 12, seed: int = 0,
                   fonts: list[str] | None = None, sweep: tuple[float, ...] = (),
                   failures: list[tuple[np.ndarray, Any, dict[str, Any]]] | None = None,
                   words: bool = False) -> dict[str, Any]:
    """Digit recall/precision and number exact-match on handwriting-font scenes, at the
    detector's confidence and, in ``sweep``, at each confidence given (from the same detections);
    ``words``: the same scenes with a word beside each number (module docstring).

    ``fonts`` defaults to :func:`find_fonts`; ``number_accuracy_by_font`` maps each font's file
    name to the share of its numbers read exactly. ``failures``, when given, receives the first
    scene of each font that was not read exactly: ``(image, detections kept, {"numbers", "font"})``.
    """
    from digitdet.val import Tally

    fonts = find_fonts() if fonts is None else fonts
    if not fonts:
        return {"skipped": "no handwriting fonts installed"}
    rng = np.random.default_rng(seed)
    word_rng = np.random.default_rng([seed, 1]) if words else None
    main = Tally(detector.conf)
    others = [Tally(c) for c in sweep]
    low = min((detector.conf, *sweep))  # thresholding after NMS keeps what NMS at that conf keeps
    by_font: dict[str, list[int]] = {}  # font file name -> [numbers read exactly, numbers]
    for font in fonts:
        kept = False  # this font's first scene read wrong is kept in ``failures``
        for _ in range(per_font):
            s = make_font_scene(rng, font, words=word_rng)
            det = detector.predict(s.image, conf=low).detections
            keep, hits, ok = main.add(s.boxes, s.classes, det, s.numbers)
            for t in others:
                t.add(s.boxes, s.classes, det, s.numbers)
            if not ok and failures is not None and not kept:
                failures.append((s.image, det[keep], {"numbers": s.numbers, "font": s.font}))
                kept = True
            tally = by_font.setdefault(s.font, [0, 0])
            tally[0] += hits
            tally[1] += len(s.numbers)
    m = main.scores()
    return {"fonts": len(fonts), "images": len(fonts) * per_font, "digits": main.gt,
            "digit_precision": m["precision"], "digit_recall": m["recall"],
            "number_accuracy": m["number_accuracy"], "numbers": main.numbers,
            "number_accuracy_by_font": {f: round(h / max(n, 1), 3) for f, (h, n) in by_font.items()},
            "sweep": [t.scores() for t in others]}
