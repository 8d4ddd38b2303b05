"""One base error for everything a user can cause or fix, carrying its exit code."""

from __future__ import annotations

EXIT_RUNTIME = 1  # the command ran but failed (bad input file, failed training, damaged run)
EXIT_USAGE = 2  # the command or its config cannot work as given


class MnistCnnError(Exception):
    """A user-facing problem: the CLI prints its first line (no traceback) and exits with `exit_code`."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(MnistCnnError):
    """Arguments that cannot work together, or point at nothing usable."""

    exit_code = EXIT_USAGE


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an exception's message (its type name if it has none)."""
    for line in str(exc).strip().splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__
