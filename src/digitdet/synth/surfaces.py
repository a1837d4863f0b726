"""Writing surfaces and lighting: each returns ``float32 (H, W, 3)`` BGR in [0, 1].

A :class:`Surface` also says which ink colours suit it (dark ink on light paper, chalk on a
blackboard) and whether it is a clean digital canvas (no camera effects).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# BGR ink colours
INKS_DARK = {"black": (0.08, 0.08, 0.08), "blue": (0.55, 0.2, 0.08), "red": (0.12, 0.1, 0.7),
             "green": (0.2, 0.45, 0.1), "pencil": (0.3, 0.3, 0.32)}
INKS_LIGHT = {"white": (0.95, 0.95, 0.95), "chalk": (0.85, 0.88, 0.86), "yellow": (0.55, 0.9, 0.95)}
KINDS = ("white", "lined", "squared", "sticky", "whiteboard", "blackboard", "blackpad",
         "canvas_white", "canvas_black", "form", "cardboard")


@dataclass
class Surface:
    """A background image plus what ink it takes."""

    image: np.ndarray  # float32 (H, W, 3)
    kind: str
    dark_on_light: bool
    digital: bool
    rules: list[tuple[str, float, float]]  # ("h"|"v", position px, period px) of ruled lines


def _noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth noise field ``(H, W) float32`` with features of about ``scale`` px, mean 0 std ~1."""
    sh, sw = max(2, int(h / scale)), max(2, int(w / scale))
    small = rng.standard_normal((sh, sw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _tint(rng: np.random.Generator, base: tuple[float, float, float], spread: float) -> np.ndarray:
    return np.clip(np.array(base, np.float32) + rng.uniform(-spread, spread, 3), 0, 1)


def make_surface(rng: np.random.Generator, h: int, w: int, kind: str) -> Surface:
    """Draw a surface of ``kind`` (one of :data:`KINDS`)."""
    rules: list[tuple[str, float, float]] = []
    dark_on_light, digital = True, False
    if kind in ("canvas_white", "canvas_black"):
        val = 1.0 if kind == "canvas_white" else 0.0
        img = np.full((h, w, 3), val, np.float32)
        return Surface(img, kind, kind == "canvas_white", True, rules)
    if kind == "blackboard":
        col = _tint(rng, (0.18, 0.22, 0.16) if rng.random() < 0.6 else (0.12, 0.12, 0.12), 0.05)
        dark_on_light = False
    elif kind == "blackpad":
        col = _tint(rng, (0.05, 0.05, 0.05), 0.04)
        dark_on_light = False
    elif kind == "sticky":
        col = np.array([(0.55, 0.95, 0.98), (0.75, 0.8, 1.0), (0.7, 0.95, 0.75), (0.95, 0.85, 0.7)][
            rng.integers(4)], np.float32)
    elif kind == "cardboard":
        col = _tint(rng, (0.45, 0.6, 0.72), 0.06)
    elif kind == "whiteboard":
        col = _tint(rng, (0.93, 0.94, 0.94), 0.04)
    else:
        col = _tint(rng, (0.95, 0.95, 0.94), 0.05)
    img = np.empty((h, w, 3), np.float32)
    img[:] = col
    # paper / board texture: fine grain plus low-frequency blotches
    grain = rng.uniform(0.005, 0.04 if kind in ("cardboard", "blackboard") else 0.02)
    tex = _noise(rng, h, w, rng.uniform(1.0, 3.0)) * grain + _noise(rng, h, w, 60) * grain
    img += tex[..., None]
    if kind == "blackboard":  # chalk smudges from erasing
        smudge = np.clip(_noise(rng, h, w, rng.uniform(20, 80)), 0, None) * rng.uniform(0.02, 0.08)
        img += smudge[..., None]
    if kind in ("lined", "squared", "form") or (kind == "sticky" and rng.random() < 0.3):
        period = float(rng.uniform(18, 45))
        offset = float(rng.uniform(0, period))
        rule_col = np.array([(0.8, 0.6, 0.4), (0.7, 0.7, 0.7), (0.85, 0.75, 0.6)][rng.integers(3)],
                            np.float32)
        thick = int(rng.integers(1, 3))
        rules.append(("h", offset, period))
        if kind == "squared":
            rules.append(("v", float(rng.uniform(0, period)), period))
        for axis, off, per in rules:
            n = h if axis == "h" else w
            for p in np.arange(off, n, per):
                pt = int(p)
                if axis == "h":
                    img[pt: pt + thick, :] = img[pt: pt + thick, :] * 0.3 + rule_col * 0.7
                else:
                    img[:, pt: pt + thick] = img[:, pt: pt + thick] * 0.3 + rule_col * 0.7
        if kind == "lined" and rng.random() < 0.5:  # red margin line
            x = int(rng.uniform(0.05, 0.2) * w)
            img[:, x: x + 2] = (0.3, 0.3, 0.85)
    return Surface(np.clip(img, 0, 1), kind, dark_on_light, digital, rules)


def apply_lighting(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Gradient, soft shadow, glare and vignette on ``float32 (H, W, 3)``; returns a new image."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gain = np.ones((h, w), np.float32)
    if rng.random() < 0.7:  # linear light gradient
        ang = rng.uniform(0, 2 * np.pi)
        g = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5))
        gain *= 1 + g * rng.uniform(0.1, 0.5)
    if rng.random() < 0.35:  # soft shadow of a hand or phone: a dark blurred polygon
        mask = np.zeros((h, w), np.float32)
        pts = rng.uniform([-0.2 * w, -0.2 * h], [1.2 * w, 1.2 * h], (4, 2)).astype(np.int32)
        cv2.fillPoly(mask, [cv2.convexHull(pts)], 1.0)
        k = int(rng.uniform(0.05, 0.2) * max(h, w)) | 1
        shadow = cv2.GaussianBlur(mask, (k, k), 0)
        gain *= 1 - shadow * rng.uniform(0.15, 0.5)
    if rng.random() < 0.25:  # vignette
        r = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
        gain *= 1 - r * rng.uniform(0.3, 0.9)
    out = img * gain[..., None]
    if rng.random() < 0.2:  # glare: a bright blurred ellipse
        glare = np.zeros((h, w), np.float32)
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        ax = (int(rng.uniform(0.05, 0.3) * w), int(rng.uniform(0.05, 0.3) * h))
        cv2.ellipse(glare, c, ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        k = int(max(ax) * 0.8) | 1
        glow = cv2.GaussianBlur(glare, (k, k), 0)
        out = out + glow[..., None] * rng.uniform(0.2, 0.6)
    return np.clip(out, 0, 1)
