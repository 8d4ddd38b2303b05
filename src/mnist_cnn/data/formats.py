"""Readers for the MNIST file formats people have: Keras' mnist.npz, IDX files, the classic pickle.

Each returns the four arrays by name (x_train, y_train, x_test, y_test); checking them against
the known digests is `data.verify`'s job.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from mnist_cnn import safe_read
from mnist_cnn.errors import MnistCnnError

SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class DataError(MnistCnnError):
    """The dataset could not be found, read or verified; the message says what to do."""


# MNIST in any of its forms is at most ~60 MB on disk and ~220 MB decoded (the pickle's float32
# images); a file or a compressed member past these limits is not MNIST and is refused unread.
MAX_FILE_BYTES = 256 * 2**20
MAX_DECODED_BYTES = 256 * 2**20


def _raw(path: Path) -> bytes:
    """The file's bytes, decompressed if it ends in .gz, within the limits above (DataError otherwise)."""
    try:
        data = safe_read.read_bytes(path, MAX_FILE_BYTES, "dataset file")
    except safe_read.FileRefused as exc:
        raise DataError(str(exc)) from None
    if path.suffix != ".gz":
        return data
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        inflated = handle.read(MAX_DECODED_BYTES + 1)
    if len(inflated) > MAX_DECODED_BYTES:
        raise DataError(f"{path}: decompresses to more than {MAX_DECODED_BYTES // 2**20} MB; not an MNIST file")
    return inflated


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Keras' mnist.npz (x_train, y_train, x_test, y_test); pickled objects are refused."""
    try:
        safe_read.check_regular(path, MAX_FILE_BYTES, "dataset file")
    except safe_read.FileRefused as exc:
        raise DataError(str(exc)) from None
    with zipfile.ZipFile(path) as archive:  # declared sizes bound what np.load may inflate
        inflated = sum(info.file_size for info in archive.infolist())
    if inflated > MAX_DECODED_BYTES:
        raise DataError(f"{path}: its arrays inflate to {inflated // 2**20} MB; not an MNIST file")
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in SHAPES if name in npz.files}


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file (the format of the original MNIST distribution), optionally gzipped."""
    raw = _raw(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file")
    return body.reshape(dims)


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """A folder with the four IDX files, plain or .gz (dots or dashes before 'idx' both accepted)."""
    arrays = {}
    for name, stem in IDX_FILES.items():
        candidates = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
        found = next((folder / c for c in candidates if (folder / c).is_file()), None)
        if found is None:
            raise DataError(f"{folder}: no {stem}[.gz] file in this folder")
        arrays[name] = _read_idx(found)
    return arrays


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild NumPy arrays and nothing else.

    The classic mnist.pkl.gz is a pickle; plain pickle.load would run any code a tampered file
    names, so only the three globals an ndarray pickle needs are allowed.
    """

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("_codecs", "encode"),  # how Python 3 writes bytes into protocol-2 pickles
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load '{module}.{name}' from a pickle")
        return super().find_class(module, name)


def decode_pickle(raw: bytes) -> dict[str, np.ndarray]:
    """Classic mnist.pkl (uncompressed bytes): (train 50k, valid 10k, test 10k) of x = pixel/256, labels."""
    parts = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts

    def to_bytes(x: np.ndarray) -> np.ndarray:
        # pixel/256 is exact in float32, so rounding restores the original bytes.
        scaled = np.round(np.asarray(x, dtype=np.float32) * 256)
        if scaled.size and (scaled.min() < 0 or scaled.max() > 255):
            raise DataError("pickled images are not pixel/256 values in [0, 1)")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": to_bytes(np.concatenate([x_tr, x_va])),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.int64),
        "x_test": to_bytes(x_te),
        "y_test": np.asarray(y_te),
    }


def read_any(path: Path) -> dict[str, np.ndarray]:
    """Read an explicit dataset path in any supported format."""
    try:
        if path.is_dir():
            return read_idx_folder(path)
        if path.name.endswith(".pkl.gz") or path.name.endswith(".pkl"):
            return decode_pickle(_raw(path))
        if path.suffix == ".npz":
            return read_npz(path)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read MNIST from this file ({exc})") from None
    raise DataError(f"{path}: unsupported dataset file; use mnist.npz, mnist.pkl.gz or a folder of IDX files")
