"""The run lock: one process trains or resumes a run at a time; the OS releases it if that process dies.

An advisory `fcntl.flock` on `<run>/.lock`, held for the whole training session. flock (not a
pid file) because the kernel drops it when the holder exits for any reason, SIGKILL included,
so a crash never leaves a stale lock. The holder writes who it is (pid, host, since) into the
file so that a refused second trainer can say whom it waited for. Readers never take the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from mnist_cnn import safe_read
from mnist_cnn.errors import MnistCnnError

LOCK_NAME = ".lock"


class RunLocked(MnistCnnError):
    """Another live process holds the run's lock."""


class LockRefused(MnistCnnError):
    """The lock file is a link or not a regular file: the tool will not write through it."""


def identity(root: Path) -> tuple[int, int] | None:
    """(device, inode) of the run's lock file now, or None if it is gone (training checks it stays its own)."""
    try:
        info = os.lstat(lock_path(root))
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def lock_path(root: Path) -> Path:
    """The lock file of the run at `root`."""
    return Path(root) / LOCK_NAME


def holder(root: Path) -> dict | None:
    """Who holds the run's lock now (pid, host, since), or None if nobody does (or the lock file is not ours)."""
    path = lock_path(root)
    try:
        # A link, FIFO or device named .lock was not made by the tool: nobody holds a lock through it.
        fd = safe_read.open_regular(path, None, "run lock", follow_links=False)
    except (OSError, safe_read.FileRefused):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd, path) or {"pid": None, "host": None, "since": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int, path: Path) -> dict | None:
    try:
        info = json.loads(safe_read.read_fd(fd, safe_read.LOCK_LIMIT, path, "run lock"))
    except (OSError, ValueError, safe_read.FileRefused):
        return None
    return info if isinstance(info, dict) else None


def _linked(path: Path) -> LockRefused:
    return LockRefused(
        f"{path}: the run's lock file is a symbolic link, which the tool never makes; "
        "remove it and try again (nothing was written through it)"
    )


def _open_lock(path: Path) -> int:
    """The lock file's descriptor, created if absent; never through a link, and only a regular file."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        before = None
    if before is not None and stat.S_ISLNK(before.st_mode):
        raise _linked(path)
    if before is not None and not stat.S_ISREG(before.st_mode):
        raise LockRefused(f"{path}: the run's lock file is not a regular file; remove it and try again")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # made a link since the lstat
            raise _linked(path) from None
        if exc.errno == errno.ENXIO:  # a FIFO with no writer, opened non-blocking for writing
            raise LockRefused(f"{path}: the run's lock file is a FIFO, not a regular file; remove it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        what = "has other hard links" if stat.S_ISREG(info.st_mode) else "is not a regular file"
        raise LockRefused(f"{path}: the run's lock file {what}; remove it and try again (nothing was written to it)")
    return fd


def describe(info: dict) -> str:
    """'pid 123 on host since 2026-...' for messages."""
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"


@contextlib.contextmanager
def hold(root: Path) -> Iterator[tuple[int, int]]:
    """Hold the run's exclusive lock for the block; RunLocked (touching nothing else) if it is taken.

    Yields the lock file's (device, inode): a trainer checks at each commit that its run still has it.
    """
    path = lock_path(root)
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_holder(fd, path) or {}
            raise RunLocked(
                f"{root}: the run is being trained by another process ({describe(info)}); "
                "wait for it to finish or stop it first"
            ) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}  # fmt: skip
        # Written in place (not atomically replaced): the lock belongs to this inode.
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        info = os.fstat(fd)
        yield info.st_dev, info.st_ino
    finally:
        os.close(fd)  # closing the descriptor releases the flock
