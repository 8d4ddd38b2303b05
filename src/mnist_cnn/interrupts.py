"""Turn SIGINT/SIGTERM into an exception, and hold them off while a checkpoint is being committed."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised in the main thread when SIGINT or SIGTERM arrives.

    A BaseException, like KeyboardInterrupt, so that broad `except Exception` blocks in
    libraries cannot swallow it.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class _State:
    deferring = False
    pending: int | None = None


def _raise(signum: int, _frame) -> None:
    if _State.deferring:
        _State.pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def raising_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted`; old handlers come back afterwards.

    Outside the main thread (where Python cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold off SIGINT/SIGTERM for the block; one that arrived meanwhile is raised at its end.

    Used around the end-of-epoch commit (checkpoint, history, manifest) so that an interrupt
    lands either before the epoch is committed or after, never half way. A flag rather than
    pthread_sigmask, because TensorFlow's threads would still receive a blocked signal.
    """
    _State.deferring, _State.pending = True, None
    try:
        yield
    finally:
        _State.deferring = False
    if _State.pending is not None:
        signum, _State.pending = _State.pending, None
        raise Interrupted(signum)
