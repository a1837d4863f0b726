"""digitdet: find and read handwritten digits with a YOLOv5u detector."""

__version__ = "0.1.0"
