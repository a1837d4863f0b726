"""Drawing pad in the browser and a REST API for digit detection.

Usage:
    digitdet serve                          # http://127.0.0.1:8000 (drawing pad + API)
    python -m digitdet.serve --port 9000 --weights model.onnx
    python -m digitdet.serve --no-augment   # one pass only (default adds a zoomed-out pass)
    python -m digitdet.serve --host 0.0.0.0 # reachable from other machines: only when asked

API:
    POST /detect   image as multipart (field 'file') or raw bytes; ?conf=0.25
                   ?tile=auto (default) reads a big image with small digits (a scan) in
                   tiles too; ?tile=640 any image over 640 px; ?tile=0 whole
                   -> the same JSON as one predictions.jsonl line
    GET  /health   -> {"status": "ok", ...}
Uploads over --max-mb get 413; data that is not a readable image gets 400.
"""


import argparse  # no "from __future__ import annotations": FastAPI reads the hints at runtime
import email.parser
import email.policy
import socket
import sys
from importlib import resources
from typing import Any

import numpy as np

from digitdet import stageargs
from digitdet.decode import DEFAULT_CONF
from digitdet.errors import UserError, error_exit, os_error_line
from digitdet.image import decode_image
from digitdet.tiles import Tile, parse_tile

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
PROG = "digitdet.serve"  # the name its errors start with


class BadUpload(ValueError):
    """An upload that is not a usable image (HTTP 400)."""


def extract_upload(body: bytes, content_type: str) -> bytes:
    """The image bytes of a request: the first file part of a multipart body, or the body."""
    if not content_type.lower().startswith("multipart/form-data"):
        return body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise BadUpload("malformed multipart body")
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() or name in ("file", "image"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise BadUpload("multipart body has no 'file' part")


def decode_upload(data: bytes) -> np.ndarray:
    """Uploaded bytes as an upright ``(H, W, 3) uint8`` BGR image
    (:func:`digitdet.image.decode_image`); :class:`BadUpload` when they are not one."""
    if not data:
        raise BadUpload("empty upload: send an image (PNG, JPEG, ...)")
    try:
        img = decode_image(np.frombuffer(data, np.uint8))
    except UserError as exc:  # a HEIC upload to a server without pillow-heif
        raise BadUpload(str(exc)) from None
    if img is None:
        raise BadUpload("not an image, or a corrupt one: send PNG, JPEG, BMP, WebP or TIFF bytes")
    return img


def create_app(detector: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The FastAPI app around one shared, already loaded ``detector``."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, JSONResponse

    from digitdet.detect import prediction_record

    app = FastAPI(title="digitdet", version="0.1.0")
    page = (resources.files("digitdet") / "web" / "index.html").read_text()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "weights": str(getattr(detector, "weights", "")),
                "imgsz": getattr(detector, "imgsz", None), "max_bytes": max_bytes}

    def run_detect(img: np.ndarray, conf: float | None, tile: Tile) -> dict[str, Any]:
        # the detector is stateless per call and ONNX Runtime sessions are thread-safe
        return prediction_record(detector.predict(img, conf=conf, tile=tile), "upload", 0)

    @app.post("/detect")
    async def detect(request: Request, conf: float | None = None,
                     tile: str | None = None) -> JSONResponse:
        if conf is not None and not 0.0 <= conf <= 1.0:
            return JSONResponse({"detail": "conf must be between 0 and 1"}, status_code=422)
        try:
            setting = None if tile is None else parse_tile(tile)
        except UserError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        length = request.headers.get("content-length")
        too_big = JSONResponse({"detail": f"upload larger than {max_bytes} bytes"},
                               status_code=413)
        if length and length.isdigit() and int(length) > max_bytes:
            return too_big
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                return too_big
        try:
            data = extract_upload(bytes(body), request.headers.get("content-type", ""))
            img = decode_upload(data)
        except BadUpload as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        record = await run_in_threadpool(run_detect, img, conf, setting)
        return JSONResponse(record)

    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--weights", default=None)
    p.add_argument("--imgsz", type=int, default=None)
    p.add_argument("--conf-thres", type=float, default=DEFAULT_CONF)
    p.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1024 / 1024)
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="skip the zoomed-out pass that reads digits drawn big on the pad")
    stageargs.add_arguments(p)
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        return error_exit(PROG, UserError(f"--port must lie between 0 and 65535, got {args.port}"))
    if args.max_mb <= 0:
        return error_exit(PROG, UserError(f"--max-mb must be positive, got {args.max_mb:g}"))
    try:
        import uvicorn

        from digitdet.detector import DigitDetector
    except ImportError:
        return error_exit(PROG, UserError("install the serve extra: pip install 'digitdet[serve]'"))
    try:
        detector = DigitDetector(args.weights, imgsz=args.imgsz, conf=args.conf_thres,
                                 augment=args.augment, **stageargs.settings(args))
    except UserError as exc:
        return error_exit(PROG, exc)
    try:  # bound here, not by uvicorn, so a taken port is one line of ours and exit 2
        sock = listen_socket(args.host, args.port)
    except OSError as exc:
        return error_exit(PROG, UserError(f"cannot serve on {args.host}:{args.port}: "
                                          f"{os_error_line(exc)}"))
    app = create_app(detector, int(args.max_mb * 1024 * 1024))
    print(f"digitdet: drawing pad on http://{args.host}:{sock.getsockname()[1]}/", file=sys.stderr)
    with sock:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (IPv6 when ``host`` has a colon; port 0: any
    free one); raises ``OSError`` when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


if __name__ == "__main__":
    sys.exit(main())
