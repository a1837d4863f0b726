"""Flags shared by the out-of-distribution checks (``paintset``, ``stickset``, ``scanset``,
``robustset``): the detector they measure, where the MNIST digits are, and the confidence they
count at."""

from __future__ import annotations

import argparse
from typing import Any

from digitdet import stageargs
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError


def add_arguments(p: argparse.ArgumentParser, mnist: bool = True) -> None:
    """``--weights --mnist-dir --conf-thres --imgsz`` and the second stage's flags; no
    ``--mnist-dir`` unless ``mnist`` (a check that reads synthesized scenes)."""
    p.add_argument("--weights", default=None, help="model (default: the shipped one)")
    if mnist:
        p.add_argument("--mnist-dir", default=None)
    p.add_argument("--conf-thres", type=float, default=DEFAULT_CONF)
    p.add_argument("--imgsz", type=int, default=None)
    stageargs.add_arguments(p)


def build_detector(args: argparse.Namespace, **settings: Any) -> Any:
    """The :class:`~digitdet.detector.DigitDetector` those flags ask for (``settings``: more of
    its keyword arguments); a :class:`UserError` for a confidence out of (0, 1) or bad weights."""
    if not 0.0 < args.conf_thres < 1.0:
        raise UserError(f"--conf-thres must lie between 0 and 1, got {args.conf_thres:g}")
    from digitdet.detector import DigitDetector

    return DigitDetector(args.weights, imgsz=args.imgsz, conf=args.conf_thres,
                         **stageargs.settings(args), **settings)
