"""Synthesis settings: a dataclass loaded from ``configs/synth.yaml`` or a file over it (``base:``).

Unknown keys are rejected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from digitdet.errors import UserError, closest


@dataclass
class SynthConfig:
    """Every knob of the scene synthesizer (sizes in pixels of the written image)."""

    seed: int = 0
    scenes: dict[str, int] = field(default_factory=lambda: {"train": 8000, "val": 500, "test": 500})
    # Which MNIST digits feed which split: "train" = MNIST training file, "t10k" = test file,
    # slices as [start, stop). Test scenes must use only t10k 5000-9999 (never seen in training).
    pools: dict[str, list[str]] = field(default_factory=lambda: {
        "train": ["train[0:4500]", "t10k[0:4500]"],
        "val": ["train[4500:5000]", "t10k[4500:5000]"],
        "test": ["t10k[5000:10000]"],
    })
    sizes: list[list[int]] = field(default_factory=lambda: [[640, 480], [480, 640], [560, 560]])
    size_weights: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    surfaces: dict[str, float] = field(default_factory=lambda: {
        "white": 1.0, "lined": 1.0, "squared": 1.0, "sticky": 0.5, "whiteboard": 1.0,
        "blackboard": 0.7, "blackpad": 0.5, "canvas_white": 0.8, "canvas_black": 0.5,
        "form": 0.8, "cardboard": 0.3})
    digit_height: list[float] = field(default_factory=lambda: [22.0, 200.0])
    single_prob: float = 0.3  # scenes with 1-4 big digits (drawing pads, sticky notes)
    natural_prob: float = 0.3  # keep the MNIST stroke instead of redrawing with a pen
    pen_rel: list[float] = field(default_factory=lambda: [0.03, 0.2])  # pen width / digit height
    hairline_prob: float = 0.15  # pens of 0.6-1.5 px whatever the digit height
    touch_prob: float = 0.25  # neighbours touching or slightly overlapping
    # gap between a touching number's inks as a share of its line's height ([min, max]; below 0
    # they overlap); the default draws as before this setting existed
    touch_gap: list[float] = field(default_factory=lambda: [-0.12, 0.02])
    one_flag_prob: float = 0.0  # a '1' gets a flag (and sometimes a foot), as many people write it
    stick_one_prob: float = 0.0  # a '1' drawn as a plain straight stroke instead of an MNIST one
    cross_seven_prob: float = 0.0  # a '7' gets a bar across its stem (the continental 7)
    class_weights: list[float] = field(default_factory=list)  # relative frequency of digits 0-9 ([]: even)
    hershey_prob: float = 0.0  # a digit from OpenCV's Hershey fonts instead of MNIST (designed shapes)
    font_prob: float = 0.0  # else a digit from one of `fonts` instead of MNIST (handwriting fonts)
    # font files or globs (relative ones under /usr/share/fonts); never val --fonts' held-out ones
    fonts: list[str] = field(default_factory=list)
    condense_prob: float = 0.0  # a number written narrower or wider (one width factor)
    condense_range: list[float] = field(default_factory=lambda: [0.55, 1.5])  # that factor's range
    short_prob: float = 0.0  # a digit 60-85 % of its line's height on the baseline (small round 0s)
    round_zero_prob: float = 0.0  # a 0 as a small round o: 45-70 % of the line's height, wider
    italic_prob: float = 0.0  # a number in an italic hand: it and its separators lean 0.2-0.45
    max_digits: int = 80
    separator_prob: float = 0.3
    underline_prob: float = 0.2
    box_prob: float = 0.2
    comb_prob: float = 0.1
    # a number written in a printed comb field: a box per digit, each digit centred in its box
    # (forms, cheques); the boxes' sides stand between the digits, unlabeled
    cell_prob: float = 0.0
    scribble_prob: float = 0.3
    text_prob: float = 0.4
    words_prob: float = 0.0  # handwriting-like words in a digit pen (hard negatives)
    label_prob: float = 0.0  # a number with a word written before it on its line ("Total 42")
    # of those words and the words_prob ones, the share written in one of `fonts` (handwriting
    # fonts) instead of a script or italic Hershey font
    word_font_prob: float = 0.0
    table_prob: float = 0.15
    page_edge_prob: float = 0.2
    perspective_prob: float = 0.4
    perspective: float = 0.06
    roll_prob: float = 0.0  # a photo taken with the camera turned: the whole scene rolled
    roll: float = 15.0  # ... by up to this many degrees either way
    camera_prob: float = 0.8
    blur_prob: float = 0.35  # of a camera-treated scene: blurred, shaken or out of focus
    motion_max: int = 7  # longest motion blur, px (odd, 3 or more)
    jpeg_quality: int = 92

    def validate(self) -> SynthConfig:
        """Check values; raise :class:`UserError` naming the bad setting."""
        for name, n in self.scenes.items():
            if name not in ("train", "val", "test") or n < 0:
                raise UserError(f"scenes: bad split or count {name}={n}")
        for name in self.scenes:
            if name not in self.pools:
                raise UserError(f"pools: no digit pool for split '{name}'")
        if len(self.sizes) != len(self.size_weights):
            raise UserError("sizes and size_weights must have the same length")
        pairs: tuple[tuple[str, list[float], Callable[[float, float], bool], str], ...] = (
            ("digit_height", self.digit_height, lambda a, b: 4 <= a < b, "4 <= min < max"),
            ("pen_rel", self.pen_rel, lambda a, b: 0 < a <= b <= 1, "0 < min <= max <= 1"),
            ("condense_range", self.condense_range, lambda a, b: 0.2 <= a <= b <= 3,
             "0.2 <= min <= max <= 3"),
            ("touch_gap", self.touch_gap, lambda a, b: -0.5 <= a <= b <= 0.1,
             "-0.5 <= min <= max <= 0.1"),
        )
        for name, pair, ok, rule in pairs:
            if len(pair) != 2 or not ok(*pair):
                raise UserError(f"{name} must be [min, max] with {rule}, got {pair}")
        if not 0.0 <= self.roll <= 45.0:
            raise UserError(f"roll must be 0-45 degrees, got {self.roll}")
        if self.motion_max < 3 or self.motion_max % 2 == 0:
            raise UserError(f"motion_max must be odd and at least 3, got {self.motion_max}")
        if self.class_weights and (len(self.class_weights) != 10 or min(self.class_weights) < 0
                                   or sum(self.class_weights) <= 0):
            raise UserError(f"class_weights must be 10 weights >= 0, not all 0, got {self.class_weights}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_prob") and not 0.0 <= value <= 1.0:
                raise UserError(f"{f.name} must be in [0, 1], got {value}")
        if self.font_prob > 0:
            if not self.fonts:
                raise UserError("font_prob > 0 needs fonts: a list of font files or globs")
            from digitdet.synth.glyphs import font_glyph, resolve_fonts

            try:
                for path in resolve_fonts(tuple(self.fonts)):
                    for digit in range(10):
                        font_glyph(path, digit)  # every digit drawn (cached for the scenes)
            except ValueError as exc:
                raise UserError(str(exc)) from None
        return self


def read_synth_settings(path: str | Path) -> dict[str, Any]:
    """Read a synthesis YAML into a dict of settings, its ``base:`` chain resolved.

    ``base: other.yaml`` (relative to the file's own folder) loads that file first; this file's
    keys then replace the base's whole values (a ``surfaces`` mapping is replaced, not merged).
    Keys are not checked here; :func:`load_synth_config` does that.
    """
    chain: list[Path] = []
    layers: list[dict[str, Any]] = []  # each file's own settings, the asked file first
    p = Path(path)
    while True:
        if not p.is_file():
            via = f" (base of {chain[-1]})" if chain else ""
            raise UserError(f"synthesis config {p} not found{via}")
        if p.resolve() in (q.resolve() for q in chain):
            raise UserError(f"{p}: base chain loops back ({' -> '.join(map(str, chain + [p]))})")
        chain.append(p)
        layers.append(_read_mapping(p))
        base = layers[-1].get("base")
        if base is None:
            break
        if not isinstance(base, str) or not base:
            raise UserError(f"{p}: base must be a file name, got {base!r}")
        p = p.parent / base
    settings: dict[str, Any] = {}
    for layer in reversed(layers):  # the root first, each file over its base
        settings.update(layer)
    settings.pop("base", None)
    return settings


def _read_mapping(p: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of settings")
    return data


def load_synth_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> SynthConfig:
    """Read a YAML file (see :func:`read_synth_settings`) into :class:`SynthConfig`, then apply
    ``overrides``; an unknown key is a :class:`UserError`."""
    data = read_synth_settings(path) if path is not None else {}
    data.update(overrides or {})
    known = {f.name for f in dataclasses.fields(SynthConfig)}
    for key in data:
        if key not in known:
            raise UserError(f"unknown synthesis setting '{key}'{closest(key, known)}")
    return SynthConfig(**data).validate()
