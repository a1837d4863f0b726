"""MNIST in the standard IDX format: parse, find locally, or download with md5 checks.

Local files (``.gz`` or raw) come from ``--mnist-dir`` or the ``DIGITDET_MNIST_DIR`` environment
variable; otherwise the real MNIST is downloaded from the canonical mirrors into
``datasets/mnist/``. Every problem is raised as :class:`MnistError` with a one-line message.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "DIGITDET_MNIST_DIR"
DEFAULT_CACHE = Path("datasets/mnist")
HELDOUT_START = 5000  # t10k digits from here on are never used for training (test split, val)
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# name -> md5 of the canonical gzip files
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_DTYPES: dict[int, np.dtype] = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class MnistError(RuntimeError):
    """Missing, corrupt or undownloadable MNIST data (message is one line)."""


@dataclass(frozen=True)
class Mnist:
    """MNIST arrays: images ``(N, 28, 28) uint8`` (white ink on black), labels ``(N,) uint8``."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one IDX blob (raw or gzip) into an array; raise MnistError if malformed."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise MnistError(f"{name}: corrupt gzip data ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise MnistError(f"{name}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES or ndim == 0:
        raise MnistError(f"{name}: not an IDX file (type code {code:#x}, {ndim} dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise MnistError(
            f"{name}: truncated or padded IDX data: header says shape {shape} "
            f"({expected} bytes), file has {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file from disk (``.gz`` or raw)."""
    try:
        return parse_idx(path.read_bytes(), path.name)
    except OSError as exc:
        raise MnistError(f"cannot read {path}: {exc.strerror}") from None


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem, folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    return None


def load_dir(folder: Path) -> Mnist:
    """Load the four MNIST IDX files from ``folder`` and check that they are consistent."""
    arrays = []
    for gz_name in FILES:
        stem = gz_name.removesuffix(".gz")
        path = _find(folder, stem)
        if path is None:
            raise MnistError(f"{folder}: missing {stem}[.gz]")
        arrays.append(read_idx(path))
    tr_x, tr_y, te_x, te_y = arrays
    for x, y, split in ((tr_x, tr_y, "train"), (te_x, te_y, "t10k")):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise MnistError(f"{folder}: {split} images have shape {x.shape}, expected (N, 28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise MnistError(f"{folder}: {split} has {len(x)} images but labels shape {y.shape}")
        if y.size and int(y.max()) > 9:
            raise MnistError(f"{folder}: {split} labels outside 0-9 (max {int(y.max())})")
    return Mnist(tr_x, tr_y, te_x, te_y)


def md5sum(path: Path) -> str:
    """Hex md5 of a file."""
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(dest: Path, mirrors: Sequence[str] = MIRRORS, files: dict[str, str] | None = None,
             progress: bool = True, timeout: float = 30.0) -> Path:
    """Download MNIST into ``dest`` trying each mirror, verifying md5; return ``dest``."""
    from tqdm import tqdm

    files = FILES if files is None else files
    dest.mkdir(parents=True, exist_ok=True)
    for name, md5 in files.items():
        target = dest / name
        if target.is_file() and md5sum(target) == md5:
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            part = target.with_suffix(target.suffix + ".part")
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp, part.open("wb") as out:
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    with tqdm(total=total, unit="B", unit_scale=True, desc=name,
                              disable=not progress, leave=False) as bar:
                        while chunk := resp.read(1 << 16):
                            out.write(chunk)
                            bar.update(len(chunk))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                part.unlink(missing_ok=True)
                errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            got = md5sum(part)
            if got != md5:
                part.unlink(missing_ok=True)
                errors.append(f"{url}: md5 mismatch (got {got}, expected {md5})")
                continue
            shutil.move(part, target)
            break
        else:
            raise MnistError(
                f"could not download {name} ({'; '.join(errors)}); offline? pass --mnist-dir DIR "
                f"or set {ENV_VAR}=DIR to a folder with the MNIST IDX files"
            )
    return dest


def resolve_dir(mnist_dir: str | Path | None = None, cache: Path = DEFAULT_CACHE,
                mirrors: Sequence[str] = MIRRORS) -> Path:
    """Folder holding MNIST: the argument, then ``$DIGITDET_MNIST_DIR``, then a download."""
    chosen = mnist_dir or os.environ.get(ENV_VAR)
    if chosen:
        folder = Path(chosen).expanduser()
        if not folder.is_dir():
            raise MnistError(f"MNIST folder {folder} does not exist")
        return folder
    return download(cache, mirrors)


def load(mnist_dir: str | Path | None = None, cache: Path = DEFAULT_CACHE,
         mirrors: Sequence[str] = MIRRORS) -> Mnist:
    """Load MNIST from a local folder or download it (see :func:`resolve_dir`)."""
    return load_dir(resolve_dir(mnist_dir, cache, mirrors))


def heldout(data: Mnist) -> tuple[np.ndarray, np.ndarray]:
    """The held-out test digits (t10k from :data:`HELDOUT_START` on): ``(N, 28, 28) uint8``
    images and ``(N,)`` labels; a test set that stops before them is a :class:`MnistError`."""
    if len(data.test_labels) <= HELDOUT_START:
        raise MnistError(f"the MNIST test set has {len(data.test_labels)} digits; "
                         f"the held-out ones start at {HELDOUT_START}")
    return data.test_images[HELDOUT_START:], data.test_labels[HELDOUT_START:]
