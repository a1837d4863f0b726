"""digitdet: find and read handwritten digits with a YOLOv5u detector.

``from digitdet import DigitDetector`` (also ``Detections``, ``Prediction``, ``Number``): the
names are looked up on first use, so importing the package imports nothing else.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["DigitDetector", "Detections", "Number", "Prediction", "__version__"]

_LAZY = {"DigitDetector": "digitdet.detector", "Detections": "digitdet.results",
         "Number": "digitdet.results", "Prediction": "digitdet.results"}


def __getattr__(name: str) -> Any:
    """The public classes, imported from their modules when first asked for (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'digitdet' has no attribute {name!r}")
