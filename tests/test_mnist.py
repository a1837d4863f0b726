"""MNIST IDX parsing, local loading, and checksummed download (local server, no network)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from digitdet import mnist
from digitdet.mnist import MnistError, parse_idx

from conftest import idx_bytes, write_mnist

GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 2, 2))


@pytest.mark.parametrize("data, shape", [
    (GOOD, (3, 2, 2)),                                  # raw 3-d uint8
    (gzip.compress(GOOD), (3, 2, 2)),                   # gzip-compressed
    (idx_bytes(np.array([7, 1], np.uint8)), (2,)),      # 1-d labels
    (idx_bytes(np.zeros((0, 28, 28), np.uint8)), (0, 28, 28)),  # empty but well-formed
])
def test_parse_idx_valid(data: bytes, shape: tuple[int, ...]) -> None:
    assert parse_idx(data).shape == shape


def test_parse_idx_values() -> None:
    arr = parse_idx(GOOD)
    assert arr.dtype == np.uint8 and arr[2, 1, 1] == 11 and arr[0, 0, 1] == 1


@pytest.mark.parametrize("data, message", [
    (GOOD[:-1], "truncated"),                           # one byte short
    (GOOD + b"\x00", "padded"),                         # one byte too many
    (b"\x01\x00\x08\x01" + GOOD[4:], "bad magic"),      # first byte must be 0
    (b"\x00\x00\x42\x01\x00\x00\x00\x01\x00", "type code"),  # unknown element type
    (GOOD[:6], "truncated IDX header"),                 # header cut short
    (gzip.compress(GOOD)[:-6], "corrupt gzip"),         # gzip stream cut short
    (b"", "bad magic"),                                 # empty file
])
def test_parse_idx_rejects_corrupt(data: bytes, message: str) -> None:
    with pytest.raises(MnistError, match=message):
        parse_idx(data, "x.idx")


@pytest.mark.parametrize("gz", [True, False])  # .gz and raw files are both found
def test_load_dir(tmp_path: Path, gz: bool) -> None:
    folder = write_mnist(tmp_path / "m", n_train=30, n_test=20, gz=gz)
    data = mnist.load_dir(folder)
    assert data.train_images.shape == (30, 28, 28)
    assert data.test_labels.shape == (20,)
    assert list(data.train_labels[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_load_dir_missing_file(tmp_path: Path) -> None:
    folder = write_mnist(tmp_path / "m")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistError, match="missing t10k-labels-idx1-ubyte"):
        mnist.load_dir(folder)


def test_load_dir_label_count_mismatch(tmp_path: Path) -> None:
    folder = write_mnist(tmp_path / "m", n_train=30)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(29, np.uint8))))
    with pytest.raises(MnistError, match="30 images but labels shape"):
        mnist.load_dir(folder)


def test_env_var_points_at_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_mnist(tmp_path / "m", n_train=20)
    monkeypatch.setenv(mnist.ENV_VAR, str(folder))
    assert mnist.load().train_images.shape[0] == 20


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no request lines in test output
        pass


def _served(folder: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _md5s(folder: Path) -> dict[str, str]:
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in mnist.FILES}


def test_download_from_local_server(tmp_path: Path) -> None:
    src = write_mnist(tmp_path / "mirror")
    server = _served(src)
    try:
        dest = mnist.download(tmp_path / "cache", [f"http://127.0.0.1:{server.server_port}/"],
                              files=_md5s(src), progress=False)
    finally:
        server.shutdown()
    assert mnist.load_dir(dest).train_images.shape == (60, 28, 28)


def test_download_falls_back_to_second_mirror_via_file_url(tmp_path: Path) -> None:
    src = write_mnist(tmp_path / "mirror")
    dead = "http://127.0.0.1:9/"  # discard port: connection refused at once
    dest = mnist.download(tmp_path / "cache", [dead, src.as_uri() + "/"], files=_md5s(src),
                          progress=False)
    assert (dest / "train-images-idx3-ubyte.gz").is_file()


def test_download_bad_checksum_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    src = write_mnist(tmp_path / "mirror")
    sums = _md5s(src)
    sums["train-images-idx3-ubyte.gz"] = "0" * 32
    with pytest.raises(MnistError, match="md5 mismatch"):
        mnist.download(tmp_path / "cache", [src.as_uri() + "/"], files=sums, progress=False)
    assert not (tmp_path / "cache" / "train-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "cache").glob("*.part"))


def test_offline_error_says_how_to_use_local_files(tmp_path: Path) -> None:
    with pytest.raises(MnistError) as info:
        mnist.download(tmp_path / "cache", ["http://127.0.0.1:9/"], progress=False)
    msg = str(info.value)
    assert "--mnist-dir" in msg and mnist.ENV_VAR in msg and "\n" not in msg


def test_real_md5s_are_the_canonical_ones() -> None:
    # the t10k sums are also printed in ../shared/mnist/README.md
    assert mnist.FILES["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert mnist.FILES["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
