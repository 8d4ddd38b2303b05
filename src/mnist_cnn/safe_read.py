"""Bounded reads of regular files: the one way the tool reads its own state and the files users give it.

Every read here:
  - refuses anything that is not a regular file (FIFO, device, socket, directory) before reading a byte:
    the path is stat'ed first, then opened with O_NONBLOCK (a FIFO never blocks the open) and checked
    again on the descriptor, so a file swapped in between is caught too;
  - refuses a symbolic link as the file itself when `follow_links` is False (the tool's own state:
    manifest, history, lock, plan), since a link there was not made by the tool;
  - caps the size: a file larger than `limit` is refused from its stat (a sparse 4 GB file costs nothing),
    and a file that grows while being read is cut off at `limit + 1` bytes and refused.
Errors are `FileRefused` (one line naming the file and what is wrong); a missing file stays
`FileNotFoundError` so callers keep their own "no such file" wording.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from mnist_cnn.errors import MnistCnnError

KB, MB = 2**10, 2**20
# Per-kind limits: far above what the tool writes (sizes in comments), far below what hurts.
CONFIG_LIMIT = 1 * MB  # a recipe is ~1 KB
MANIFEST_LIMIT = 4 * MB  # ~6 KB, growing ~200 bytes per resume
METRICS_LIMIT = 4 * MB  # metrics.json / evaluation.json: ~10 KB
HISTORY_LIMIT = 16 * MB  # ~100 bytes per epoch
PLAN_LIMIT = 16 * MB  # ~300 bytes per trial
LOCK_LIMIT = 4 * KB  # {"pid", "host", "since"}: ~80 bytes
LOG_LIMIT = 16 * MB  # train.log: one line per epoch and a model summary


class FileRefused(MnistCnnError):
    """A file the tool was asked to read is not a regular file, is a link where none belongs, or is too big."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def _size_text(n: int) -> str:
    for unit, name in ((2**30, "GB"), (MB, "MB"), (KB, "KB")):
        if n >= unit:
            return f"{n / unit:.3g} {name}"
    return f"{n} bytes"


def _link(path: Path, what: str) -> FileRefused:
    return FileRefused(f"{path}: is a symbolic link; the tool does not follow links for its own {what}")


def _not_regular(path: Path, mode: int, what: str) -> FileRefused:
    return FileRefused(f"{path}: is {_kind(mode)}, not a regular file; refusing to read it as a {what}")


def _too_big(path: Path, size: int, limit: int, what: str) -> FileRefused:
    return FileRefused(f"{path}: {_size_text(size)} is more than a {what} may be ({_size_text(limit)}); not read")


def check_regular(path: str | Path, limit: int | None = None, what: str = "file", follow_links: bool = True) -> int:
    """The size of `path` after checking, from its stat alone, that it is a regular file within `limit`."""
    path = Path(path)
    info = os.stat(path) if follow_links else os.lstat(path)  # FileNotFoundError passes through
    if stat.S_ISLNK(info.st_mode):
        raise _link(path, what)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode, what)
    if limit is not None and info.st_size > limit:
        raise _too_big(path, info.st_size, limit, what)
    return info.st_size


def open_regular(path: str | Path, limit: int | None = None, what: str = "file", follow_links: bool = True) -> int:
    """A read-only descriptor of `path`, checked like `check_regular` on the descriptor itself."""
    path = Path(path)
    check_regular(path, limit, what, follow_links)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise _link(path, what) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode, what)
        if limit is not None and info.st_size > limit:
            raise _too_big(path, info.st_size, limit, what)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: str | Path, limit: int, what: str = "file", follow_links: bool = True) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them (FileRefused otherwise)."""
    fd = open_regular(path, limit, what, follow_links)
    try:
        return read_fd(fd, limit, Path(path), what)
    finally:
        os.close(fd)


def read_fd(fd: int, limit: int, path: Path, what: str = "file") -> bytes:
    """Up to `limit` bytes from `fd` (from offset 0); FileRefused if there are more."""
    chunks, total = [], 0
    offset = 0
    while True:
        block = os.pread(fd, min(MB, limit + 1 - total), offset)
        if not block:
            break
        chunks.append(block)
        total += len(block)
        offset += len(block)
        if total > limit:
            raise FileRefused(f"{path}: grew past the {_size_text(limit)} a {what} may be while being read")
    return b"".join(chunks)


def read_text(path: str | Path, limit: int, what: str = "file", follow_links: bool = True) -> str:
    """UTF-8 text of `path`, bounded like `read_bytes`; FileRefused if it is not UTF-8 or holds NUL bytes."""
    data = read_bytes(path, limit, what, follow_links)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FileRefused(f"{path}: holds a NUL byte at offset {nul}; not a text {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"{path}: not UTF-8 text (byte {exc.start}); not a readable {what}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def loads_strict(text: str) -> Any:
    """Strict JSON (no NaN or Infinity, as the tool writes it); ValueError for anything else, deep nesting included."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_json(path: str | Path, limit: int, what: str = "file", follow_links: bool = True) -> Any:
    """Parsed strict JSON of `path`, bounded like `read_text`; ValueError if it is not strict JSON."""
    return loads_strict(read_text(path, limit, what, follow_links))


def confined(root: str | Path, relative: Any, what: str = "path") -> Path:
    """`root / relative` if `relative` is a plain relative path that stays inside `root` once links are resolved.

    For paths read back from the tool's own state files: a hand-edited `../../x`, an absolute path
    or a link pointing out of the directory is refused (FileRefused naming the value).
    """
    root = Path(root)
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise FileRefused(f"{root}: {what} {json.dumps(relative)[:80]} is not a file name")
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or "\\" in relative:
        raise FileRefused(f"{root}: {what} {relative!r} points outside {root}; refused")
    full = root / candidate
    try:
        inside = full.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        raise FileRefused(f"{root}: {what} {relative!r} leads outside {root} through a link; refused")
    return full
