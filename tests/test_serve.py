"""REST API: good, bad, oversize and concurrent requests; the bounded load benchmark."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from digitdet.detector import DigitDetector
from digitdet.loadtest import run_load, start_server
from digitdet.serve import create_app

from conftest import make_onnx, yolo_output

ROWS = [(100, 108, 20, 40, 4, 0.9), (126, 108, 20, 40, 2, 0.8)]


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> DigitDetector:
    path = make_onnx(tmp_path_factory.mktemp("w") / "m.onnx", yolo_output(ROWS))
    return DigitDetector(path)


@pytest.fixture
def client(detector: DigitDetector) -> TestClient:
    return TestClient(create_app(detector, max_bytes=200_000))


def png(w: int = 640, h: int = 480, specked: bool = False) -> bytes:
    """A white ``w x h`` PNG; ``specked``: with a speck every 100 px (test_tiles.specked), so
    that no tile of it is blank (a blank tile is not read, digitdet.tiles.inked)."""
    from test_tiles import specked as specks

    img = specks(h, w) if specked else np.full((h, w, 3), 255, np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def test_page_slider_starts_at_the_default_confidence(client: TestClient) -> None:
    import re

    from digitdet.decode import DEFAULT_CONF

    page = client.get("/").text
    # the slider and its label start where detect, serve and the API do
    slider = re.search(r'<input id="conf"[^>]*value="([0-9.]+)"', page)
    label = re.search(r'<span id="confv">([0-9.]+)</span>', page)
    assert slider and label
    assert float(slider.group(1)) == float(label.group(1)) == DEFAULT_CONF


def test_health_and_page(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "detect?conf=" in page.text


@pytest.mark.parametrize("kind", ["multipart", "raw"])  # both upload styles give the same JSON
def test_detect_good_image(client: TestClient, kind: str) -> None:
    if kind == "multipart":
        r = client.post("/detect", files={"file": ("a.png", png(), "image/png")})
    else:
        r = client.post("/detect", content=png(), headers={"Content-Type": "image/png"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"source", "frame", "width", "height", "tiles", "detections", "numbers"}
    assert (body["width"], body["height"]) == (640, 480)
    assert body["tiles"] == 0  # a 640x480 frame is read whole
    assert [d["cls"] for d in body["detections"]] == [4, 2]
    assert body["detections"][0]["box"] == [180.0, 160.0, 220.0, 240.0]
    assert [n["text"] for n in body["numbers"]] == ["42"]


def test_phone_photo_is_read_upright(client: TestClient) -> None:
    from test_core import exif_jpeg

    # stored 640x480 with the EXIF tag a phone held upright writes: read (and boxed) as 480x640,
    # as the browser shows it
    r = client.post("/detect", content=exif_jpeg(np.full((480, 640, 3), 255, np.uint8), 6))
    assert r.status_code == 200
    assert (r.json()["width"], r.json()["height"]) == (480, 640)


def test_heic_upload(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from test_core import heic_bytes

    data = heic_bytes(np.full((480, 640, 3), 255, np.uint8))
    r = client.post("/detect", content=data)
    assert r.status_code == 200 and (r.json()["width"], r.json()["height"]) == (640, 480)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # a server without the heic extra
    r = client.post("/detect", content=data)
    assert r.status_code == 400 and "pip install 'digitdet[heic]'" in r.text


def test_conf_query_is_per_request(client: TestClient) -> None:
    hi = client.post("/detect?conf=0.85", content=png()).json()
    lo = client.post("/detect", content=png()).json()
    assert [d["cls"] for d in hi["detections"]] == [4] and len(lo["detections"]) == 2


@pytest.mark.parametrize("data, ctype, status, message", [
    (b"hello, not an image", "application/octet-stream", 400, "not an image"),  # text bytes
    (png()[:60], "image/png", 400, "not an image"),                              # truncated PNG
    (b"", "image/png", 400, "empty upload"),                                     # nothing
    (b"--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n",
     "multipart/form-data; boundary=x", 400, "no 'file' part"),                  # wrong field
    (b"\x00" * 300_000, "image/png", 413, "larger than"),                        # oversize
])
def test_detect_bad_input(client: TestClient, data: bytes, ctype: str, status: int,
                          message: str) -> None:
    r = client.post("/detect", content=data, headers={"Content-Type": ctype})
    assert r.status_code == status and message in r.json()["detail"]


@pytest.mark.parametrize("query", [
    "conf=3",   # confidence out of range
    "tile=10",  # a tile too small to hold a digit's overlap
    "tile=-5",  # a negative tile
    "tile=all",  # a word other than auto
])
def test_bad_query_is_422(client: TestClient, query: str) -> None:
    assert client.post(f"/detect?{query}", content=png()).status_code == 422


@pytest.mark.parametrize("query, numbers", [
    ("", 1),           # a 2000x1500 image read whole: the fake model's "42", once
    ("tile=0", 1),     # tile 0: read whole, the same
    ("tile=auto", 1),  # auto: the fake's boxes are 40 model px tall, so whole is enough
    ("tile=1000", 7),  # in 1000-px tiles (3 x 2), the fake model finds "42" in each tile, and the
                       # whole pass's boxes, 250 px tall, are over the overlap (246 px): kept too
])
def test_tile_query_is_per_request(client: TestClient, query: str, numbers: int) -> None:
    r = client.post(f"/detect?{query}", content=png(2000, 1500, specked=True))
    assert r.status_code == 200
    assert [n["text"] for n in r.json()["numbers"]] == ["42"] * numbers


def test_concurrent_requests_share_one_model(client: TestClient) -> None:
    sizes = [(640, 480), (320, 240), (100, 300), (640, 480)] * 6
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: client.post("/detect", content=png(*s)), sizes))
    assert all(r.status_code == 200 for r in results)
    assert [(r.json()["width"], r.json()["height"]) for r in results] == sizes


def test_load_benchmark_is_bounded_and_error_free(detector: DigitDetector) -> None:
    server, port, thread = start_server(create_app(detector))
    try:
        result = run_load("127.0.0.1", port, png(), clients=3, seconds=1.0, max_requests=60)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(5)
    assert result.errors == 0 and 0 < len(result.latencies_ms) <= 60
    assert "req/s" in result.summary()


def test_load_benchmark_refuses_non_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_load("10.0.0.1", 80, b"", 1, 0.1)


def test_serve_cli_bad_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from digitdet.serve import main

    assert main(["--weights", str(tmp_path / "none.onnx")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--port", "70000"], "--port must lie between 0 and 65535, got 70000"),  # no such port
    (["--max-mb", "0"], "--max-mb must be positive, got 0"),                  # nothing fits
    (["--port", "{taken}"], "cannot serve on 127.0.0.1:{taken}: Address already in use"),
])
def test_serve_cli_bad_setting_is_one_line_exit_2(tmp_path: Path, detector: DigitDetector,
                                                  flags: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from digitdet.serve import listen_socket, main

    with listen_socket("127.0.0.1", 0) as taken:  # a port someone else is listening on
        port = str(taken.getsockname()[1])
        argv = ["--weights", str(detector.weights)] + [f.format(taken=port) for f in flags]
        assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("digitdet.serve: error: " + message.format(taken=port))
    assert len(err) == 1

