"""Atomic file writes: a crash at any instant leaves the old file or the new one, never a torn one."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    The temporary name keeps the final suffix because some writers (Keras, matplotlib)
    choose the format from it. On any exception the temporary file is removed and
    `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, payload: Any) -> None:
    """Write `payload` as indented, strict JSON atomically (NaN or Infinity is a ValueError, never written)."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")


def open_append(path: str | Path):
    """Open a log for appending (binary), never through a link and only if it is a regular file (OSError else)."""
    import stat

    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        why = {errno.ELOOP: "is a symbolic link", errno.ENXIO: "is a FIFO"}.get(exc.errno)  # ENXIO: nobody reads it
        if why:
            raise OSError(exc.errno, f"{why}; the tool never writes its log through one", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "is not a regular file; the tool will not write its log there", str(path))
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")
