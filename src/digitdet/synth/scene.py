"""One synthetic handwriting scene: surface, numbers in lines, distractors, camera.

:func:`make_scene` takes an explicit ``np.random.Generator``; the same generator state gives the
same image and labels. Boxes are tight around each digit's ink (alpha >= 30 % of its peak), also
after the perspective warp and the roll, which move the ink pixels themselves and re-box them
(a digit turned mostly out of the picture loses its label). A digit
that a scribble or written words cover for the most part keeps its ink but loses its label
(:data:`COVERED_SHARE`), and its number is split there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from digitdet.synth.camera import apply_camera
from digitdet.synth.config import SynthConfig
from digitdet.synth.glyphs import (
    HERSHEY_FONTS,
    Glyph,
    font_glyph,
    hershey_glyph,
    make_glyph,
    render_natural,
    render_stroke,
    resolve_fonts,
)
from digitdet.synth.surfaces import INKS_DARK, INKS_LIGHT, apply_lighting, make_surface

WORDS = ("Total", "Date", "Name", "Amount", "No.", "Page", "Score", "Room", "Qty", "Price",
         "Sum", "Ref", "Account", "Pay to the order of", "Dollars", "Signature", "Class", "Test",
         "Week", "Answer", "Result", "Invoice", "Phone", "Code", "Tel", "Order", "Level", "Temp")
SEPARATORS = (".", ",", "-", "/", ":")
INK_THRESHOLD = 0.3  # fraction of a digit's peak alpha that counts as ink for its box
# share of stick 1s (stick_one_prob) written upright (slant and turn near 0) whatever the line's
# slant: most people's plain 1s stand straight, like the separators, box sides and table lines the
# scenes teach are background; slanted with the line, as MNIST's 1s are, the model read them
# already (stickset: 98 % of 1s slanted 10 degrees, 36-41 % of upright ones)
STICK_UPRIGHT = 0.6
# a digit whose ink is at least this much under a scribble or words drawn over it is not
# labeled: no one can read it (the shipped model read none of the 40 such digits of the seed-3
# val scenes, and half of those covered 30-50 %; docs/training-log.md, "Covered digits unlabeled")
COVERED_SHARE = 0.5


class GlyphPool:
    """MNIST digits available to one split, with glyphs built lazily and cached."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = images
        self.labels = labels.astype(np.int64)
        self.by_class = [np.flatnonzero(self.labels == c) for c in range(10)]
        missing = [c for c in range(10) if len(self.by_class[c]) == 0]
        if missing:
            raise ValueError(f"digit pool has no examples of classes {missing}")
        self._cache: dict[int, Glyph] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, rng: np.random.Generator, cls: int) -> Glyph:
        """A random glyph of digit ``cls``."""
        idx = int(self.by_class[cls][rng.integers(len(self.by_class[cls]))])
        glyph = self._cache.get(idx)
        if glyph is None:
            glyph = self._cache[idx] = make_glyph(self.images[idx], int(self.labels[idx]))
        return glyph

    def sample_hershey(self, rng: np.random.Generator, cls: int) -> Glyph:
        """Digit ``cls`` in a random Hershey font, upright or italic."""
        font = int(HERSHEY_FONTS[rng.integers(len(HERSHEY_FONTS))])
        return hershey_glyph(cls, font, bool(rng.random() < 0.3))

    def sample_font(self, rng: np.random.Generator, cls: int, fonts: list[str]) -> Glyph:
        """Digit ``cls`` in one of the font files named by ``fonts`` (see :func:`resolve_fonts`)."""
        paths = resolve_fonts(tuple(fonts))
        return font_glyph(paths[rng.integers(len(paths))], cls)


@dataclass
class Scene:
    """A rendered scene: ``image (H, W, 3) uint8`` BGR, ``boxes (N, 4) float32`` xyxy pixels,
    ``classes (N,) int64``, ``numbers`` as lists of digit indices in reading order, ``surface``."""

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    numbers: list[list[int]]
    surface: str


@dataclass
class _Pen:
    color: np.ndarray
    width_rel: float  # pen width as a fraction of digit height (<0: absolute px, a hairline)
    natural: bool
    texture: str  # "", "chalk", "pencil"


class _Canvas:
    """Ink layers (one alpha map per pen) plus the digits placed so far."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.layers: list[tuple[_Pen, np.ndarray]] = []
        self.ink_points: list[np.ndarray] = []  # per digit (K, 2) float32 x, y of ink pixels
        self.classes: list[int] = []
        self.digit_layers: list[int] = []  # per digit, the index of its pen's layer
        self.clutter: dict[int, np.ndarray] = {}  # layer index -> the non-digit ink drawn on it
        self.printed: list[tuple[_Pen, np.ndarray]] = []  # printed lines, under all the ink

    def printed_layer(self, pen: _Pen) -> np.ndarray:
        """A new alpha map for printed lines in ``pen``'s ink, composited before every ink layer."""
        self.printed.append((pen, np.zeros((self.h, self.w), np.float32)))
        return self.printed[-1][1]

    def layer(self, pen: _Pen) -> np.ndarray:
        return self.layers[self.layer_index(pen)][1]

    def layer_index(self, pen: _Pen) -> int:
        """The index of ``pen``'s layer in compositing order (made on first use)."""
        for i, (p, _) in enumerate(self.layers):
            if p is pen:
                return i
        self.layers.append((pen, np.zeros((self.h, self.w), np.float32)))
        return len(self.layers) - 1

    def clutter_layer(self, pen: _Pen) -> np.ndarray:
        """A record of the non-digit ink (scribbles, words) drawn with ``pen``, beside its layer."""
        i = self.layer_index(pen)
        if i not in self.clutter:
            self.clutter[i] = np.zeros((self.h, self.w), np.float32)
        return self.clutter[i]

    def paste(self, pen: _Pen, mask: np.ndarray, x: int, y: int) -> tuple[int, int, int, int] | None:
        """Max-blend ``mask`` at top-left (x, y); return the pasted region or None if off-canvas."""
        alpha = self.layer(pen)
        mh, mw = mask.shape
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + mw, self.w), min(y + mh, self.h)
        if x1 <= x0 or y1 <= y0:
            return None
        region = alpha[y0:y1, x0:x1]
        np.maximum(region, mask[y0 - y: y1 - y, x0 - x: x1 - x], out=region)
        return x0, y0, x1, y1


def _pen_width(pen: _Pen, h: float) -> float:
    return -pen.width_rel if pen.width_rel < 0 else max(1.0, pen.width_rel * h)


def _aa_line(ink: np.ndarray, a: tuple[float, float], b: tuple[float, float], thickness: int) -> None:
    """Draw an anti-aliased line from ``a`` to ``b`` (x, y pixels, sub-pixel ends in 4-bit fixed
    point) on ``ink (H, W) uint8`` in place, at 255: OpenCV anti-aliases on 8-bit images only."""
    cv2.line(ink, (round(a[0] * 16), round(a[1] * 16)), (round(b[0] * 16), round(b[1] * 16)),
             255, thickness, cv2.LINE_AA, 4)


def _faint(mask: np.ndarray, pw: float) -> np.ndarray:
    """``mask`` inked by a pen ``pw`` px wide: a sub-pixel pen inks fainter, by ``pw``."""
    return mask * pw if pw < 1 else mask


def _flag_one(rng: np.random.Generator, mask: np.ndarray, pw: float) -> np.ndarray:
    """Add a flag (and, one time in three, a foot) to a '1' mask; returns a wider mask.

    MNIST's ones are mostly bare strokes; many people write a flag going down-left from the top.
    The flag is short and steep (30-55 degrees below horizontal): a long, nearly flat one is the
    bar of a 7, and labelling that shape '1' teaches the model to confuse the two.
    """
    h = mask.shape[0]
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) == 0:
        return mask
    stroke = rng.uniform(0.2, 0.38) * h
    theta = np.deg2rad(rng.uniform(30.0, 55.0))
    length, drop = stroke * float(np.cos(theta)), stroke * float(np.sin(theta))
    pad = int(np.ceil(length + pw)) + 1
    out = cv2.copyMakeBorder(mask, 0, 0, pad, pad // 2, cv2.BORDER_CONSTANT, value=0)
    top = int(np.argmin(ys))
    x0, y0 = float(xs[top] + pad), float(ys[top])
    ink = np.zeros(out.shape, np.uint8)
    t = max(1, round(pw))
    _aa_line(ink, (x0, y0), (x0 - length, y0 + drop), t)
    if rng.random() < 1 / 3:  # a foot across the bottom
        bottom = int(np.argmax(ys))
        xb, yb = float(xs[bottom] + pad), float(ys[bottom])
        half = rng.uniform(0.15, 0.3) * h
        _aa_line(ink, (xb - half, yb), (xb + half, yb), t)
    return np.maximum(out, ink.astype(np.float32) / 255.0)


def _cross_seven(rng: np.random.Generator, mask: np.ndarray, pw: float) -> np.ndarray:
    """Add a bar across the stem of a '7' mask, as much of Europe and Latin America writes it;
    returns a mask widened where the bar would leave it.

    The bar crosses the ink near half its height (45-60 % down), centred on the stem there, a
    quarter to a half of the digit's height long, nearly level. MNIST has almost no crossed 7s;
    stage 13 read 96.5 % of them, the rest mostly as 4s and 9s (docs/training-log.md, "Stage 14").
    """
    h = mask.shape[0]
    peak = float(mask.max())
    if peak <= 0.05:
        return mask
    ys, xs = np.nonzero(mask >= 0.5 * peak)
    top, bottom = int(ys.min()), int(ys.max())
    y = top + rng.uniform(0.45, 0.6) * (bottom - top)
    near = np.abs(ys - y) <= max(pw, 1.0)
    if not near.any():
        return mask
    cx = float(np.median(xs[near])) + rng.normal(0, 0.03) * h
    half = rng.uniform(0.13, 0.25) * h
    tilt = rng.normal(0, 0.05) * half
    pad = max(0, int(np.ceil(half + pw - min(cx, mask.shape[1] - 1 - cx))) + 1)
    out = cv2.copyMakeBorder(mask, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=0)
    ink = np.zeros(out.shape, np.uint8)
    _aa_line(ink, (cx + pad - half, y + tilt), (cx + pad + half, y - tilt), max(1, round(pw)))
    return np.maximum(out, _faint(ink.astype(np.float32) / 255.0, pw))


def _stick_one(rng: np.random.Generator, height: int, width: int, pw: float) -> np.ndarray:
    """A '1' as a plain stroke ``pw`` px wide down the middle of a ``(height, width) float32`` mask,
    bowed sideways by a few percent of its height: the upright stick many people write, which
    MNIST's ones (mostly slanted, curved or flagged) rarely are."""
    ink = np.zeros((height, width), np.uint8)  # OpenCV anti-aliases on 8-bit images only
    half = pw / 2
    cx = (width - 1) / 2
    bow = rng.normal(0.0, 0.02) * height
    pts = np.array([[cx, half], [cx + bow, (height - 1) / 2], [cx, height - 1 - half]])
    cv2.polylines(ink, [np.round(pts * 16).astype(np.int32)], False, 255, max(1, round(pw)),
                  cv2.LINE_AA, 4)
    return _faint(ink.astype(np.float32) / 255.0, pw)


def _digit_mask(rng: np.random.Generator, glyph: Glyph, pen: _Pen, h: float, slant: float,
                angle: float, one_flag_prob: float = 0.0, width_scale: float = 1.0,
                stick: bool = False, cross_seven_prob: float = 0.0) -> np.ndarray:
    """Render, slant and rotate one digit ``h`` px tall, ``width_scale`` times its own width
    (``stick``: a '1' drawn by :func:`_stick_one` instead of ``glyph``; a '7' crossed by
    :func:`_cross_seven` with probability ``cross_seven_prob``); returns a padded ``float32`` mask."""
    aspect = glyph.aspect * rng.uniform(0.85, 1.2) * width_scale
    w = max(aspect * h, 0.2 * h)  # a '1' is narrow, never a sliver
    pw = _pen_width(pen, h)
    hi, wi = max(4, round(h)), max(3, round(w + (0 if pen.natural else pw)))
    if stick:
        pw = max(1.0, 0.1 * hi) if pen.natural else pw
        mask = _stick_one(rng, hi, wi, pw)
    elif pen.natural or not glyph.stroke_ok:
        mask = render_natural(glyph, hi, wi)
        pw = max(1.0, 0.1 * hi)  # MNIST's own stroke is about a tenth of the digit height
    else:
        mask = render_stroke(glyph, hi, wi, pw, jitter=rng.uniform(0, 0.03), rng=rng)
    if glyph.label == 1 and one_flag_prob > 0 and rng.random() < one_flag_prob:
        mask = _flag_one(rng, mask, pw)
    if glyph.label == 7 and cross_seven_prob > 0 and rng.random() < cross_seven_prob:  # 0: as before
        mask = _cross_seven(rng, mask, pw)
    if abs(slant) < 1e-3 and abs(angle) < 0.3:
        return mask
    pad = int(0.35 * hi) + 2
    mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    c = (mask.shape[1] / 2, mask.shape[0] / 2)
    rot = cv2.getRotationMatrix2D(c, angle, 1.0)
    shear = np.array([[1, -slant, slant * c[1]], [0, 1, 0]], np.float64)
    m = rot @ np.vstack([shear, [0, 0, 1]])
    return cv2.warpAffine(mask, m, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_LINEAR)


def _ink_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    peak = float(mask.max())
    if peak <= 0.05:
        return None
    ys, xs = np.nonzero(mask >= INK_THRESHOLD * peak)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _separator(canvas: _Canvas, pen: _Pen, char: str, x: float, base: float, h: float,
               lean: float = 0.0) -> float:
    """Draw a separator after position x on baseline ``base``; return its right edge.

    ``lean`` (x shift per px of height) is the italic digits' extra lean; a ``/`` gets it on top
    of its own 0.4, so it stays flatter than the 1s beside it.
    """
    alpha = canvas.layer(pen)
    t = max(1, round(_pen_width(pen, h)))
    w = {".": 0.15, ",": 0.15, ":": 0.15, "-": 0.45, "/": 0.4}[char] * h
    x0, x1 = int(x), int(x + w)
    cx = (x0 + x1) // 2
    if char in ".,":
        cv2.circle(alpha, (cx, int(base - t)), max(1, t), 1.0, -1, cv2.LINE_AA)
        if char == ",":
            cv2.line(alpha, (cx, int(base - t)), (cx - int(0.08 * h), int(base + 0.2 * h)), 1.0,
                     t, cv2.LINE_AA)
    elif char == ":":
        for fy in (0.25, 0.7):
            cv2.circle(alpha, (cx + int(lean * fy * h), int(base - fy * h)), max(1, t), 1.0, -1,
                       cv2.LINE_AA)
    elif char == "-":
        cv2.line(alpha, (x0, int(base - 0.5 * h)), (x1, int(base - 0.5 * h)), 1.0, t, cv2.LINE_AA)
    else:
        cv2.line(alpha, (x0, int(base)), (x1 + int(lean * h), int(base - h)), 1.0, t, cv2.LINE_AA)
    return x + w + 0.5 * lean * h


def _scribble(rng: np.random.Generator, canvas: _Canvas, pen: _Pen, h: float) -> None:
    """A wavy non-digit stroke (loops, zig-zags, crossed-out marks)."""
    n = int(rng.integers(4, 12))
    x0, y0 = rng.uniform(0, canvas.w), rng.uniform(0, canvas.h)
    steps = rng.normal(0, h * 0.4, (n, 2)).cumsum(0)
    steps[:, 0] += np.arange(n) * h * rng.uniform(0.1, 0.5)
    pts = np.round((steps + [x0, y0]) * 16).astype(np.int32)
    for alpha in (canvas.layer(pen), canvas.clutter_layer(pen)):
        cv2.polylines(alpha, [pts], False, 1.0, max(1, round(_pen_width(pen, h))), cv2.LINE_AA, 4)


def _text_alpha(shape: tuple[int, ...], word: str, org: tuple[int, int], font: int, scale: float,
                thick: int) -> np.ndarray:
    """Anti-aliased text coverage, float32 (H, W) in [0, 1] (drawn on an 8-bit mask: OpenCV 5
    renders text on 8-bit images only)."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.putText(mask, word, org, font, scale, 255, thick, cv2.LINE_AA)
    return mask.astype(np.float32) * (1.0 / 255.0)


def _printed_text(rng: np.random.Generator, img: np.ndarray, h: float) -> None:
    """Printed words (letters only, never digits) in a random Hershey font, blended into the
    float image in place."""
    font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX,
                           cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX]))
    for _ in range(int(rng.integers(1, 4))):
        word = str(WORDS[rng.integers(len(WORDS))])
        if rng.random() < 0.3:
            word = word.upper()
        scale = rng.uniform(0.25, 0.9) * h / 22
        org = (int(rng.uniform(0, img.shape[1] * 0.8)), int(rng.uniform(h * 0.5, img.shape[0])))
        col = rng.uniform(0.0, 0.35, 3).astype(np.float32)
        a = _text_alpha(img.shape[:2], word, org, font, max(scale, 0.3),
                        max(1, int(scale * 1.5)))[..., None]
        img *= 1 - a
        img += col * a


WRITTEN_FONTS = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
                 cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC, cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC)


@cache
def _font_size(path: str, h: int) -> int:
    """The size at which the font at ``path`` draws its digits ``h`` px tall."""
    from PIL import ImageFont

    _, top, _, bottom = ImageFont.truetype(path, 100).getbbox("0123456789")
    return max(4, round(h * 100 / max(bottom - top, 1)))


def _font_word(shape: tuple[int, int], word: str, x: float, base: float, h: float,
               path: str) -> tuple[np.ndarray, float]:
    """``word`` in the font at ``path``, its digits ``h`` px tall, from (x, base) on its baseline:
    coverage ``float32 (H, W)`` in [0, 1] and the word's advance in px."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(path, _font_size(path, max(4, round(h))))
    layer = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(layer).text((x, base), word, font=font, fill=255, anchor="ls")
    return np.asarray(layer, np.float32) * (1.0 / 255.0), float(font.getlength(word))


def _hershey_word(shape: tuple[int, int], word: str, x: float, base: float, h: float, font: int,
                  pen: _Pen) -> tuple[np.ndarray, float]:
    """``word`` in Hershey ``font`` and ``pen``'s width from (x, base), capitals about ``h`` tall:
    coverage ``float32 (H, W)`` in [0, 1] and the word's advance in px."""
    scale = h / 30.0  # Hershey capitals are about 30 px tall (ascender to baseline) at scale 1
    thick = max(1, round(_pen_width(pen, h)))
    text = _text_alpha(shape, word, (int(x), int(base)), font, scale, thick)
    return text, float(cv2.getTextSize(word, font, scale, thick)[0][0])


def _ink_words(canvas: _Canvas, pen: _Pen, text: np.ndarray) -> None:
    """Max-blend the coverage ``text`` into ``pen``'s layer and its record of non-digit ink."""
    for alpha in (canvas.layer(pen), canvas.clutter_layer(pen)):
        np.maximum(alpha, text, out=alpha)


def _word(rng: np.random.Generator, cfg: SynthConfig, canvas: _Canvas, pen: _Pen, word: str,
          x: float, base: float, h: float) -> float:
    """Write ``word`` (letters only) in ``pen`` from (x, base) with capitals about ``h`` tall, in a
    handwriting font of ``cfg.fonts`` (``word_font_prob`` of the time) or a script or italic
    Hershey font; it is ink, never a label. Returns the word's advance in px."""
    shape = (canvas.h, canvas.w)
    if cfg.word_font_prob > 0 and cfg.fonts and rng.random() < cfg.word_font_prob:
        paths = resolve_fonts(tuple(cfg.fonts))
        text, advance = _font_word(shape, word, x, base, h, paths[int(rng.integers(len(paths)))])
    else:
        font = int(WRITTEN_FONTS[rng.integers(len(WRITTEN_FONTS))])
        text, advance = _hershey_word(shape, word, x, base, h, font, pen)
    _ink_words(canvas, pen, text)
    return advance


def random_word(rng: np.random.Generator) -> str:
    """A word of :data:`WORDS` (letters only), lower-case 40 % of the time."""
    word = str(WORDS[rng.integers(len(WORDS))])
    return word.lower() if rng.random() < 0.4 else word


def _written_words(rng: np.random.Generator, cfg: SynthConfig, canvas: _Canvas, pen: _Pen,
                   h: float) -> None:
    """Handwriting-like words (letters only) in a digit pen's ink and at digit height, anywhere:
    the letters people write next to numbers must read as background."""
    if cfg.word_font_prob <= 0:  # as before word_font_prob: the same draws, in the same order
        font = int(rng.choice(list(WRITTEN_FONTS)))
        word = random_word(rng)
        x, base = rng.uniform(-0.1, 0.8) * canvas.w, rng.uniform(h, canvas.h + 0.2 * h)
        _ink_words(canvas, pen, _hershey_word((canvas.h, canvas.w), word, x, base, h, font, pen)[0])
        return
    word = random_word(rng)
    _word(rng, cfg, canvas, pen, word, rng.uniform(-0.1, 0.8) * canvas.w,
          rng.uniform(h, canvas.h + 0.2 * h), h)


def _choose_pen(rng: np.random.Generator, cfg: SynthConfig, dark_on_light: bool,
                chalky: bool) -> _Pen:
    inks = INKS_DARK if dark_on_light else INKS_LIGHT
    name = list(inks)[rng.integers(len(inks))]
    if dark_on_light and rng.random() < 0.5:
        name = "black"
    col = np.clip(np.array(inks[name], np.float32) + rng.uniform(-0.05, 0.05, 3), 0, 1)
    natural = rng.random() < cfg.natural_prob
    if rng.random() < cfg.hairline_prob:
        width = -rng.uniform(0.6, 1.5)
    else:
        lo, hi = cfg.pen_rel
        width = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    texture = "chalk" if chalky else ("pencil" if name == "pencil" else "")
    return _Pen(col.astype(np.float32), width, natural, texture)


# the least room between a line's baseline and the tops of the line below, in heights of the line
# above: the layout starts each line 1.35-2.2 of those heights under the last one (0.35-1.2 of
# room), and :func:`line_clash` keeps that room across the page
LINE_CLEARANCE = 0.35


@dataclass(frozen=True)
class _Line:
    """One line of writing: its baseline ``base0 + slope * x``, height and slant."""

    base0: float
    slope: float
    h: float
    slant: float

    def base_at(self, x: float) -> float:
        return self.base0 + self.slope * x


def line_clash(above: _Line, below: _Line, width: float) -> float:
    """How far (px) ``below`` must move down so that its baseline stays at least its own height
    plus ``LINE_CLEARANCE`` of ``above``'s under ``above``'s baseline at every x in ``[0, width]``;
    0 when it already does, as at the left end of every line the layout starts. Lines of
    different slope meet somewhere across a page: written into each other, their numbers could
    be read by no one (49 of the test split's 1,000 scenes had such numbers before this rule;
    docs/training-log.md, "Lines that ran into each other")."""
    need = below.h + LINE_CLEARANCE * above.h
    closest = min(below.base_at(x) - above.base_at(x) for x in (0.0, float(width)))  # linear in x
    return max(0.0, need - closest)


def _first_height(rng: np.random.Generator, cfg: SynthConfig, h_img: int, single: bool) -> float:
    """The scene's digit height in px: log-uniform in ``cfg.digit_height`` (drawing-pad scenes:
    a quarter of the image up to 0.85 of it)."""
    lo, hi = cfg.digit_height
    if single:
        hi_single = min(0.85 * h_img, 4 * hi)
        return float(np.exp(rng.uniform(np.log(max(lo, 0.25 * h_img)), np.log(hi_single))))
    return float(np.exp(rng.uniform(np.log(lo), np.log(min(hi, 0.5 * h_img)))))


def _layout(rng: np.random.Generator, cfg: SynthConfig, pool: GlyphPool, canvas: _Canvas,
            pens: list[_Pen], single: bool) -> list[list[int]]:
    """Place numbers in lines; returns the numbers as digit-index lists in reading order."""
    h_img, w_img = canvas.h, canvas.w
    base_h = _first_height(rng, cfg, h_img, single)
    numbers: list[list[int]] = []
    margin = 0.04 * min(h_img, w_img)
    y = margin + rng.uniform(0.05, 0.6 if not single else 0.3) * (h_img - base_h - 2 * margin)
    y = max(y, margin)
    line_slant = rng.normal(0, 0.15)
    n_lines = 1 if single else 999
    prev: _Line | None = None
    while n_lines > 0 and y + base_h < h_img - margin and len(canvas.classes) < cfg.max_digits:
        n_lines -= 1
        line_h = base_h * rng.uniform(0.88, 1.12)
        slope = rng.normal(0, 0.03)
        x = margin + rng.uniform(0, 2.5) * line_h
        if single:  # anywhere the short number fits
            x = rng.uniform(margin, max(margin + 1, w_img - margin - 1.6 * line_h))
        line = _Line(y + line_h, slope, line_h, line_slant)
        if prev is not None:  # moved down where it would run into the line above across the page
            shift = line_clash(prev, line, w_img)
            y, line = y + shift, replace(line, base0=line.base0 + shift)
            if y + line_h > h_img - margin:
                break
        prev = line
        for _ in range(64):  # numbers per line; bounded so a line that cannot fill still ends
            if len(canvas.classes) >= cfg.max_digits or x > w_img - margin:
                break
            pen = pens[rng.integers(len(pens))]
            n_digits = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.2, 0.25, 0.2, 0.2, 0.08, 0.07]))
            if single:
                n_digits = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1]))
            seps: dict[int, str] = {}
            if rng.random() < cfg.separator_prob and n_digits >= 2:
                seps[int(rng.integers(1, n_digits))] = str(SEPARATORS[rng.integers(len(SEPARATORS))])
            est = n_digits * 0.95 * line_h + len(seps) * 1.2 * line_h
            if x + est > w_img - margin:  # shorten the number to what still fits
                n_fit = int((w_img - margin - x) / (0.95 * line_h))
                if n_fit < 1 and not (single and not numbers):
                    break
                n_digits, seps = max(1, n_fit), {}
            if cfg.label_prob > 0 and not single and rng.random() < cfg.label_prob:  # 0: as before
                # a word before the number ("Total 42"); the line ends where the number no longer fits
                x += _word(rng, cfg, canvas, pen, random_word(rng), x, line.base_at(x),
                           0.9 * line_h) + rng.uniform(0.35, 0.9) * line_h
                if x + n_digits * 0.95 * line_h > w_img - margin:
                    break
            if rng.random() < 0.08 and not single:  # leading minus sign
                x = _separator(canvas, pen, "-", x, line.base_at(x), line_h) + 0.3 * line_h
            written, x = _write_number(rng, cfg, pool, canvas, pen, line, x, n_digits, seps)
            numbers += written
            x += rng.uniform(0.9, 3.0) * line_h
        y += line_h * rng.uniform(1.35, 2.2)
    return numbers


def _write_number(rng: np.random.Generator, cfg: SynthConfig, pool: GlyphPool, canvas: _Canvas,
                  pen: _Pen, line: _Line, x: float, n_digits: int, seps: dict[int, str],
                  ) -> tuple[list[list[int]], float]:
    """Write ``n_digits`` random digits from ``x`` on ``line`` in one hand, a separator before
    each index in ``seps`` (which splits the number), then its decoration (underline, box, comb).

    Returns the numbers written (digit-index lists; empty when no digit landed) and the x where
    the last digit ended.
    """
    touch = rng.random() < cfg.touch_prob
    t_lo, t_hi = cfg.touch_gap
    width_scale = 1.0  # one writer's hand: the whole number condensed or extended
    if cfg.condense_prob > 0 and rng.random() < cfg.condense_prob:  # 0: draws as before
        c_lo, c_hi = cfg.condense_range
        width_scale = float(np.exp(rng.uniform(np.log(c_lo), np.log(c_hi))))
    lean = 0.0  # an italic hand: the number and its separators lean right
    if cfg.italic_prob > 0 and rng.random() < cfg.italic_prob:  # 0: draws as before
        lean = float(rng.uniform(0.2, 0.45))
    numbers: list[list[int]] = []
    current: list[int] = []
    start = x
    if cfg.cell_prob > 0 and rng.random() < cfg.cell_prob:  # 0: draws as before
        return _write_cells(rng, cfg, pool, canvas, pen, line, x, n_digits, width_scale, lean)
    for k in range(n_digits):
        if k in seps:
            if current:
                numbers.append(current)
            current = []
            x += rng.uniform(0.3, 0.45) * line.h
            x = _separator(canvas, pen, seps[k], x, line.base_at(x), line.h, lean)
            x += rng.uniform(0.3, 0.45) * line.h
        placed = _draw_digit(rng, cfg, pool, canvas, pen, line, x, width_scale, lean)
        if placed is None:
            continue
        current.append(len(canvas.classes) - 1)
        gap = rng.uniform(t_lo, t_hi) if touch else rng.uniform(0.04, 0.28)
        x = placed + gap * line.h
    if current:
        numbers.append(current)
    _number_decor(rng, cfg, canvas, pen, start, x, line.base_at(start), line.h)
    return numbers, x


# a printed comb field (cell_prob): a box's width in heights of the line; how far a digit's ink
# centre may lie from its box's, a share of the box; the box's top and bottom margins around the
# line, in its heights; the printed inks (BGR, 0-1: grays, a form's dropout blue and red, black)
CELL_WIDTH = (0.9, 1.45)
CELL_OFF = 0.08
CELL_MARGIN = (0.04, 0.3)
CELL_INKS = ((0.45, 0.45, 0.45), (0.6, 0.6, 0.6), (0.3, 0.3, 0.3), (0.85, 0.6, 0.35),
             (0.4, 0.4, 0.85), (0.1, 0.1, 0.1))


def _write_cells(rng: np.random.Generator, cfg: SynthConfig, pool: GlyphPool, canvas: _Canvas,
                 pen: _Pen, line: _Line, x: float, n_digits: int, width_scale: float, lean: float,
                 ) -> tuple[list[list[int]], float]:
    """Write ``n_digits`` random digits in a printed comb field from ``x``: a box per digit
    (its own thin ink, under the handwriting), each digit's ink centred in its box give or take
    :data:`CELL_OFF`. Returns the number written (as :func:`_write_number`) and the x of the
    field's right edge."""
    cell = line.h * rng.uniform(*CELL_WIDTH)
    ink = np.clip(np.array(CELL_INKS[rng.integers(len(CELL_INKS))], np.float32)
                  + rng.uniform(-0.05, 0.05, 3), 0, 1).astype(np.float32)
    printed = _Pen(ink, -float(rng.integers(1, 4)), False, "")
    lines = canvas.printed_layer(printed)
    top_m, bot_m = rng.uniform(*CELL_MARGIN, size=2)
    current: list[int] = []
    for k in range(n_digits):
        centre = x + (k + 0.5 + rng.uniform(-CELL_OFF, CELL_OFF)) * cell
        placed = _draw_digit(rng, cfg, pool, canvas, pen, line, centre, width_scale, lean, centred=True)
        if placed is not None:
            current.append(len(canvas.classes) - 1)
    base, t = line.base_at(x), int(-printed.width_rel)
    top, bot = int(round(base - line.h * (1 + top_m))), int(round(base + line.h * bot_m))
    right = x + n_digits * cell
    for k in range(n_digits + 1):
        xx = int(round(x + k * cell))
        cv2.line(lines, (xx, top), (xx, bot), 1.0, t)
    for yy in (top, bot):
        cv2.line(lines, (int(round(x)), yy), (int(round(right)), yy), 1.0, t)
    return ([current] if current else []), float(right)


def _draw_digit(rng: np.random.Generator, cfg: SynthConfig, pool: GlyphPool, canvas: _Canvas,
                pen: _Pen, line: _Line, x: float, width_scale: float, lean: float,
                centred: bool = False) -> float | None:
    """Draw one random digit with its ink starting at ``x`` (centred on ``x`` when ``centred``)
    and record its class and ink points on ``canvas``; returns the x of its right ink edge, or
    None when it was not placed (no ink, or less than 60 % of it inside the image)."""
    h_img, w_img = canvas.h, canvas.w
    if cfg.class_weights:  # empty, the default: every digit as often, drawn as before
        w = np.asarray(cfg.class_weights, np.float64)
        cls = int(rng.choice(10, p=w / w.sum()))
    else:
        cls = int(rng.integers(10))
    if cfg.hershey_prob > 0 and rng.random() < cfg.hershey_prob:  # 0: draws as before
        glyph = pool.sample_hershey(rng, cls)
    elif cfg.font_prob > 0 and rng.random() < cfg.font_prob:  # 0: draws as before
        glyph = pool.sample_font(rng, cls, cfg.fonts)
    else:
        glyph = pool.sample(rng, cls)
    stick = cls == 1 and cfg.stick_one_prob > 0 and rng.random() < cfg.stick_one_prob  # 0: as before
    h = line.h * rng.uniform(0.9, 1.1)
    if cfg.short_prob > 0 and rng.random() < cfg.short_prob:  # sits on the baseline
        h *= rng.uniform(0.6, 0.85)
    digit_width = width_scale
    if cls == 0 and cfg.round_zero_prob > 0 and rng.random() < cfg.round_zero_prob:
        h *= rng.uniform(0.45, 0.7)  # an o at x-height, about as wide as it is tall
        digit_width *= rng.uniform(1.25, 1.6)
    slant, angle = line.slant + lean + rng.normal(0, 0.05), rng.normal(0, 3.0)
    if stick and rng.random() < STICK_UPRIGHT:  # upright whatever the hand's slant
        slant, angle = rng.normal(0, 0.02), rng.normal(0, 0.7)
    mask = _digit_mask(rng, glyph, pen, h, slant, angle, cfg.one_flag_prob, digit_width, stick,
                       cfg.cross_seven_prob)
    bb = _ink_bbox(mask)
    if bb is None:
        return None
    bx0, by0, bx1, by1 = bb
    base = line.base_at(x) + rng.normal(0, 0.04) * line.h
    px = int(round(x - (bx0 + bx1) / 2 if centred else x - bx0))
    py = int(round(base - by1))
    region = canvas.paste(pen, mask, px, py)
    if region is None:
        return None
    ys, xs = np.nonzero(mask >= INK_THRESHOLD * float(mask.max()))
    pts = np.stack([xs + px, ys + py], 1).astype(np.float32)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w_img) & (pts[:, 1] >= 0) & (pts[:, 1] < h_img)
    if inside.mean() < 0.6:
        return None
    canvas.ink_points.append(pts[inside])
    canvas.classes.append(cls)
    canvas.digit_layers.append(canvas.layer_index(pen))
    return float(px + bx1)


def _number_decor(rng: np.random.Generator, cfg: SynthConfig, canvas: _Canvas, pen: _Pen,
                  x0: float, x1: float, base: float, h: float) -> None:
    """Underline, a box around the number, or comb boxes (one cell per digit), all unlabeled."""
    r = rng.random()
    t = max(1, round(_pen_width(pen, h) * rng.uniform(0.5, 1.0)))
    if r < cfg.underline_prob:
        alpha = canvas.layer(pen)
        yy = int(base + rng.uniform(0.1, 0.35) * h)
        cv2.line(alpha, (int(x0 - 0.1 * h), yy), (int(x1 + 0.1 * h), yy + int(rng.normal(0, 2))),
                 1.0, t, cv2.LINE_AA)
    elif r < cfg.underline_prob + cfg.box_prob:
        alpha = canvas.layer(pen)
        m = rng.uniform(0.15, 0.4) * h
        cv2.rectangle(alpha, (int(x0 - m), int(base - h - m)), (int(x1 + m), int(base + m)), 1.0,
                      t, cv2.LINE_AA)
    elif r < cfg.underline_prob + cfg.box_prob + cfg.comb_prob:
        alpha = canvas.layer(pen)
        cell = h * rng.uniform(0.9, 1.2)
        top, bot = int(base - h - 0.2 * h), int(base + 0.2 * h)
        cv2.line(alpha, (int(x0 - 0.2 * h), bot), (int(x1 + 0.2 * h), bot), 1.0, t)
        for xx in np.arange(x0 - 0.2 * h, x1 + 0.2 * h + 1, cell):
            cv2.line(alpha, (int(xx), top + int(0.5 * h)), (int(xx), bot), 1.0, t)


def covered_share(canvas: _Canvas) -> np.ndarray:
    """``(N,) float32``: for each digit placed on ``canvas``, the share of its ink pixels that
    non-digit ink (scribbles, words) covers, counting only the ink drawn on its own layer or on
    a later one (composited over it); 0 where there is none."""
    share = np.zeros(len(canvas.classes), np.float32)
    for k, (pts, layer) in enumerate(zip(canvas.ink_points, canvas.digit_layers, strict=True)):
        over = [a for i, a in canvas.clutter.items() if i >= layer]
        if not over or not len(pts):
            continue
        xs, ys = pts[:, 0].astype(np.intp), pts[:, 1].astype(np.intp)
        cover = np.max([a[ys, xs] for a in over], axis=0)
        share[k] = float((cover >= 0.5).mean())
    return share


def drop_digits(canvas: _Canvas, numbers: list[list[int]], drop: np.ndarray) -> list[list[int]]:
    """Forget the digits where ``drop (N,) bool`` (their ink stays in the image, unlabeled) and
    return ``numbers`` with the indices renumbered, each number split where a digit went."""
    new_index = np.cumsum(~drop) - 1
    kept = np.flatnonzero(~drop).tolist()
    canvas.ink_points = [canvas.ink_points[i] for i in kept]
    canvas.classes = [canvas.classes[i] for i in kept]
    canvas.digit_layers = [canvas.digit_layers[i] for i in kept]
    out: list[list[int]] = []
    for digits in numbers:
        run: list[int] = []
        for i in digits:
            if drop[i]:
                if run:
                    out.append(run)
                run = []
            else:
                run.append(int(new_index[i]))
        if run:
            out.append(run)
    return out


def _table(rng: np.random.Generator, img: np.ndarray) -> None:
    h, w = img.shape[:2]
    col = tuple(float(v) for v in rng.uniform(0.0, 0.4, 3))
    t = int(rng.integers(1, 3))
    for xx in np.linspace(rng.uniform(0, 0.2) * w, w, int(rng.integers(2, 6))):
        cv2.line(img, (int(xx), 0), (int(xx), h), col, t)
    for yy in np.linspace(rng.uniform(0, 0.2) * h, h, int(rng.integers(2, 8))):
        cv2.line(img, (0, int(yy)), (w, int(yy)), col, t)


def _composite(rng: np.random.Generator, img: np.ndarray, canvas: _Canvas) -> np.ndarray:
    for pen, alpha in canvas.printed + canvas.layers:
        a = alpha
        if pen.texture == "chalk":
            grain = rng.random(alpha.shape, dtype=np.float32)
            a = alpha * np.clip(0.35 + grain, 0, 1)
        elif pen.texture == "pencil":
            a = alpha * rng.uniform(0.5, 0.85)
        else:
            a = alpha * rng.uniform(0.85, 1.0)
        img = img * (1 - a[..., None]) + pen.color * a[..., None]
    return img


def _perspective(rng: np.random.Generator, cfg: SynthConfig, img: np.ndarray, canvas: _Canvas,
                 page_edge: bool) -> np.ndarray:
    """Warp the image and every digit's ink points by a random homography."""
    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    s = cfg.perspective * (2.5 if page_edge else 1.0)
    jitter = rng.uniform(-s, s, (4, 2)) * np.array([w, h], np.float64)
    if page_edge:  # pull corners inward so the page edge and the table show
        jitter = np.abs(jitter) * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float64)
    dst = (src + jitter).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    table = tuple(float(v) for v in rng.uniform(0.1, 0.6, 3))
    out = cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT if page_edge else cv2.BORDER_REPLICATE,
                              borderValue=table)
    for i, pts in enumerate(canvas.ink_points):
        canvas.ink_points[i] = cv2.perspectiveTransform(pts[None] + 0.5, m)[0] - 0.5
    return out


def _roll(rng: np.random.Generator, cfg: SynthConfig, img: np.ndarray, canvas: _Canvas) -> np.ndarray:
    """Turn the image ``(H, W, 3) float32`` and every digit's ink points about the image's centre
    by up to ``cfg.roll`` degrees either way (a photo taken with the camera rolled); edges
    replicated."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-cfg.roll, cfg.roll)), 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    for i, pts in enumerate(canvas.ink_points):  # pixel centres turn as the warp turns them
        canvas.ink_points[i] = (cv2.transform(pts[None] + 0.5, m)[0] - 0.5).astype(np.float32)
    return out


def outside_share(canvas: _Canvas, h: int, w: int) -> np.ndarray:
    """``(N,) float32``: for each digit on ``canvas``, the share of its ink points outside an
    ``h x w`` image (1 for a digit with no ink point)."""
    share = np.ones(len(canvas.ink_points), np.float32)
    for k, pts in enumerate(canvas.ink_points):
        if len(pts):
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
            share[k] = 1.0 - float(inside.mean())
    return share


def make_scene(rng: np.random.Generator, pool: GlyphPool, cfg: SynthConfig) -> Scene:
    """Render one scene from ``rng`` (see module docstring)."""
    sizes = np.asarray(cfg.sizes)
    wts = np.asarray(cfg.size_weights, np.float64)
    w, h = (int(v) for v in sizes[rng.choice(len(sizes), p=wts / wts.sum())])
    kinds = list(cfg.surfaces)
    kw = np.asarray([cfg.surfaces[k] for k in kinds], np.float64)
    kind = kinds[rng.choice(len(kinds), p=kw / kw.sum())]
    surface = make_surface(rng, h, w, kind)
    img = surface.image
    clean = surface.digital
    lo_h, hi_h = (float(v) for v in cfg.digit_height)
    single = rng.random() < (cfg.single_prob * (3 if clean else 1))
    if not clean and rng.random() < cfg.table_prob:
        _table(rng, img)
    if not clean and rng.random() < cfg.text_prob:
        _printed_text(rng, img, float(np.clip(rng.uniform(lo_h, hi_h), 12, 60)))
    chalky = kind == "blackboard"
    pens = [_choose_pen(rng, cfg, surface.dark_on_light, chalky)
            for _ in range(1 if rng.random() < 0.6 else int(rng.integers(2, 4)))]
    canvas = _Canvas(h, w)
    numbers = _layout(rng, cfg, pool, canvas, pens, single)
    if not single and rng.random() < cfg.scribble_prob:
        for _ in range(int(rng.integers(1, 4))):
            _scribble(rng, canvas, pens[0], float(rng.uniform(lo_h, hi_h)))
    if cfg.words_prob > 0 and not single and rng.random() < cfg.words_prob:  # 0: old scenes
        for _ in range(int(rng.integers(1, 4))):
            _written_words(rng, cfg, canvas, pens[int(rng.integers(len(pens)))],
                           float(np.clip(rng.uniform(lo_h, hi_h), 14, 120)))
    hidden = covered_share(canvas) >= COVERED_SHARE  # draws nothing: the image is the same
    if hidden.any():
        numbers = drop_digits(canvas, numbers, hidden)
    img = _composite(rng, img, canvas)
    if not clean:
        img = apply_lighting(rng, img)
        page_edge = rng.random() < cfg.page_edge_prob
        if page_edge or rng.random() < cfg.perspective_prob:
            img = _perspective(rng, cfg, img, canvas, page_edge)
        if cfg.roll_prob > 0 and rng.random() < cfg.roll_prob:  # 0: no draw, old scenes as they were
            img = _roll(rng, cfg, img, canvas)
            gone = outside_share(canvas, h, w) > 0.5  # turned mostly out of the picture: unlabeled
            if gone.any():
                numbers = drop_digits(canvas, numbers, gone)
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if not clean and rng.random() < cfg.camera_prob:
        out = apply_camera(rng, out, cfg.blur_prob, cfg.motion_max)
    boxes = np.zeros((len(canvas.ink_points), 4), np.float32)
    for i, pts in enumerate(canvas.ink_points):
        boxes[i] = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max() + 1, pts[:, 1].max() + 1]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return Scene(out, boxes, np.asarray(canvas.classes, np.int64), numbers, kind)
