"""Camera effects (photometric only, so boxes stay put) through albumentations."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=4)
def _pipeline(blur_prob: float, motion_max: int) -> Any:
    import albumentations as A

    return A.Compose([
        A.OneOf([
            A.GaussianBlur(blur_limit=(3, 5), p=1.0),
            A.MotionBlur(blur_limit=(3, motion_max), p=1.0),
            A.Defocus(radius=(1, 3), p=1.0),
        ], p=blur_prob),
        A.Downscale(scale_range=(0.4, 0.8), p=0.15),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=(-0.4, 0.2), p=0.6),
        A.OneOf([
            A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=1.0),
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=25, val_shift_limit=0, p=1.0),
            A.ToSepia(p=1.0),
        ], p=0.35),
        A.OneOf([
            A.GaussNoise(std_range=(0.01, 0.06), p=1.0),
            A.ISONoise(color_shift=(0.01, 0.04), intensity=(0.1, 0.4), p=1.0),
        ], p=0.45),
        A.ImageCompression(quality_range=(35, 90), p=0.4),
    ])


def apply_camera(rng: np.random.Generator, image: np.ndarray, blur_prob: float = 0.35,
                 motion_max: int = 7) -> np.ndarray:
    """Blur, noise, JPEG, colour casts on ``uint8 (H, W, 3)``; seeded from ``rng``. One of a
    Gaussian blur, a motion blur up to ``motion_max`` px or defocus with probability
    ``blur_prob`` (the defaults: ``configs/synth.yaml``'s, the test split's)."""
    pipe = _pipeline(blur_prob, motion_max)
    pipe.set_random_seed(int(rng.integers(2**31 - 1)))
    return np.ascontiguousarray(pipe(image=image)["image"])
