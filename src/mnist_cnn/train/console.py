"""The train command's console: what it prints, mirrored into the run's train.log."""

from __future__ import annotations

from collections.abc import Callable

from mnist_cnn import atomic, safe_read
from mnist_cnn.runs.rundir import RunDir


class Console:
    """Prints to the terminal and keeps train.log equal to what was printed.

    `interactive` (a terminal, not JSON output) adds a live progress bar within each epoch.
    If train.log cannot be written (disk full), printing goes on and the mirroring stops, with a warning.
    """

    def __init__(self, echo: Callable[[str], None] = print, interactive: bool = False):
        self.echo, self.interactive = echo, interactive
        self.lines: list[str] = []
        self.run: RunDir | None = None

    def attach(self, run: RunDir) -> None:
        """Start mirroring into run/train.log, keeping what an earlier session wrote there."""
        self.run = run
        try:
            data = safe_read.read_bytes(run.log, safe_read.LOG_LIMIT, "train log", follow_links=False)
        except FileNotFoundError:
            data = b""
        except (OSError, safe_read.FileRefused) as exc:  # not worth stopping a run for: start the log afresh
            self.echo(f"Warning: {exc}; train.log starts afresh")
            data = b""
        if data:
            self.lines = data.decode("utf-8", errors="replace").splitlines() + self.lines
        self._flush()

    def __call__(self, message: str) -> None:
        self.echo(message)
        self.lines.extend(message.splitlines() or [""])
        self._flush()

    def _flush(self) -> None:
        if self.run is None:
            return
        if not self.run.root.is_dir():  # the run folder went away: never re-create it just for the log
            self.run = None
            return
        try:
            atomic.write_text(self.run.log, "\n".join(self.lines) + "\n")
        except OSError as exc:
            self.run = None
            self.echo(f"Warning: cannot write train.log any more ({exc.strerror or exc}); the console goes on")
