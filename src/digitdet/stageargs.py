"""The second stage's flags, for every CLI that builds a DigitDetector (``detect``, ``serve``,
``val`` and the checks of :mod:`digitdet.checkargs`): the recognizer and its blur member, the
box refiner, context lifting, deskew and brightening, each module's own flags in one place."""

from __future__ import annotations

import argparse
from typing import Any

from digitdet import deskew, exposure, recognize, refine


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--recognizer / --no-recognizer``, ``--blur-recognizer / --no-blur-recognizer``,
    ``--no-context``, ``--refiner / --no-refiner``, ``--no-deskew`` and ``--no-brighten``."""
    recognize.add_arguments(p)
    refine.add_arguments(p)
    deskew.add_arguments(p)
    exposure.add_arguments(p)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """DigitDetector's keyword arguments for those flags."""
    return {**recognize.from_arguments(args), "refiner": refine.from_arguments(args),
            "deskew": deskew.from_arguments(args), "brighten": exposure.from_arguments(args)}
