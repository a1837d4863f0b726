"""Load benchmark for ``digitdet serve``: N concurrent clients on loopback for a bounded time.

Usage:
    python -m digitdet.loadtest                       # starts its own server on 127.0.0.1
    python -m digitdet.loadtest --clients 8 --seconds 20 --image assets/samples/pad.png
    python -m digitdet.loadtest --url http://127.0.0.1:8000   # an already running server

Reports requests/s, p50/p95 latency and the error count (which must be zero). Only loopback
addresses are accepted as targets.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

LOOPBACK = ("127.", "localhost", "::1", "[::1]")


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        n = len(self.latencies_ms)
        lat = np.array(self.latencies_ms or [0.0])
        return (f"{n} requests in {self.seconds:.1f}s = {n / max(self.seconds, 1e-9):.1f} req/s; "
                f"p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms; "
                f"errors {self.errors}")


def run_load(host: str, port: int, body: bytes, clients: int, seconds: float,
             max_requests: int = 100000) -> LoadResult:
    """Hammer ``POST /detect`` from ``clients`` threads for ``seconds`` (bounded in count too)."""
    if not host.startswith(LOOPBACK):
        raise ValueError(f"load tests only target loopback addresses, not {host}")
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    sent = [0]

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.perf_counter() < deadline:
            with lock:  # take a slot before sending, so the cap holds across threads
                if sent[0] >= max_requests:
                    break
                sent[0] += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/detect", body, {"Content-Type": "image/png"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            dt = (time.perf_counter() - t0) * 1e3
            with lock:
                if ok:
                    result.latencies_ms.append(dt)
                else:
                    result.errors += 1
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result


def start_server(app: object, port: int = 0) -> tuple[object, int, threading.Thread]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; return (server, port, thread)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, port, thread


def default_image() -> bytes:
    """A 640x480 PNG with a few digits drawn, for when no image is given."""
    import cv2

    img = np.full((480, 640, 3), 255, np.uint8)
    for i, ch in enumerate("2024"):
        cv2.putText(img, ch, (120 + 90 * i, 280), cv2.FONT_HERSHEY_SIMPLEX, 4, (20, 20, 20), 12)
    return cv2.imencode(".png", img)[1].tobytes()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitdet.loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=None, help="running server (loopback only)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--image", default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="as 'digitdet serve --no-augment' (default: as 'digitdet serve')")
    args = p.parse_args(argv)
    body = Path(args.image).read_bytes() if args.image else default_image()
    server = None
    if args.url:
        u = urlparse(args.url)
        host, port = u.hostname or "127.0.0.1", u.port or 80
    else:
        from digitdet.detector import DigitDetector
        from digitdet.serve import create_app

        server, port, _ = start_server(create_app(DigitDetector(args.weights, augment=args.augment)))
        host = "127.0.0.1"
    try:
        result = run_load(host, port, body, args.clients, args.seconds)
    except ValueError as exc:
        print(f"digitdet.loadtest: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
    print(f"{args.clients} clients: {result.summary()}")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
