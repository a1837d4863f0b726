"""Contact sheet of synthetic scenes with their boxes and numbers drawn."""

from __future__ import annotations

import cv2
import numpy as np

from digitdet.synth.scene import Scene


def draw_scene(scene: Scene) -> np.ndarray:
    """A copy of the scene with digit boxes (green), classes and number texts (magenta)."""
    img = scene.image.copy()
    for (x1, y1, x2, y2), c in zip(scene.boxes.astype(int), scene.classes, strict=True):
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 200, 0), 1)
        cv2.putText(img, str(int(c)), (x1, max(10, y1 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 160, 0), 1, cv2.LINE_AA)
    for digits in scene.numbers:
        b = scene.boxes[digits]
        text = "".join(str(int(scene.classes[i])) for i in digits)
        org = (int(b[:, 0].min()), int(b[:, 3].max()) + 12)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 0, 255), 1, cv2.LINE_AA)
    cv2.putText(img, scene.surface, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1)
    return img


def contact_sheet(scenes: list[Scene], cols: int = 4, cell: int = 400) -> np.ndarray:
    """Tile drawn scenes into one ``uint8 (H, W, 3)`` image, each fitted into a square cell."""
    rows = (len(scenes) + cols - 1) // cols
    sheet = np.full((rows * cell, cols * cell, 3), 40, np.uint8)
    for k, scene in enumerate(scenes):
        img = draw_scene(scene)
        s = cell / max(img.shape[:2])
        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)),
                         interpolation=cv2.INTER_AREA)
        r, c = divmod(k, cols)
        sheet[r * cell: r * cell + img.shape[0], c * cell: c * cell + img.shape[1]] = img
    return sheet
