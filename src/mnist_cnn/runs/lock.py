"""The run lock: one process trains or resumes a run at a time; the OS releases it if that process dies.

An advisory `fcntl.flock` on `<run>/.lock`, held for the whole training session. flock (not a
pid file) because the kernel drops it when the holder exits for any reason, SIGKILL included,
so a crash never leaves a stale lock. The holder writes who it is (pid, host, since) into the
file so that a refused second trainer can say whom it waited for. Readers never take the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from mnist_cnn.errors import MnistCnnError

LOCK_NAME = ".lock"


class RunLocked(MnistCnnError):
    """Another live process holds the run's lock."""


def lock_path(root: Path) -> Path:
    """The lock file of the run at `root`."""
    return Path(root) / LOCK_NAME


def holder(root: Path) -> dict | None:
    """Who holds the run's lock now (pid, host, since), or None if nobody does."""
    path = lock_path(root)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path) or {"pid": None, "host": None, "since": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def describe(info: dict) -> str:
    """'pid 123 on host since 2026-...' for messages."""
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"


@contextlib.contextmanager
def hold(root: Path) -> Iterator[None]:
    """Hold the run's exclusive lock for the block; RunLocked (touching nothing else) if it is taken."""
    path = lock_path(root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_holder(path) or {}
            raise RunLocked(
                f"{root}: the run is being trained by another process ({describe(info)}); "
                "wait for it to finish or stop it first"
            ) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}  # fmt: skip
        # Written in place (not atomically replaced): the lock belongs to this inode.
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
