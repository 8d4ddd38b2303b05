"""Keras callbacks for one run: per-epoch seeding, commit of each epoch, divergence, progress, console lines."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import sys
import time
from collections.abc import Callable, Iterator

import keras

from mnist_cnn import interrupts
from mnist_cnn.config import Config
from mnist_cnn.train.stop_rules import Diverged, divergence, stop_reason


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 31-bit seed derived from (seed, epoch, stream): the same on every run and every resume."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{stream}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class EpochSeeding(keras.callbacks.Callback):
    """Reset every layer's random state (dropout) from (seed, epoch) at the start of each epoch.

    Keras advances these states step by step and does not save them in checkpoints; re-deriving
    them per epoch makes epoch k's dropout masks independent of how the run got to epoch k.
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        index = 0
        for layer in self.model._flatten_layers(include_self=False):
            for generator in getattr(layer, "_seed_generators", []):
                generator.state.assign([epoch_seed(self.seed, epoch, index + 1), 0])
                index += 1


class EpochCommit(keras.callbacks.Callback):
    """At each epoch end: record the row, then commit it (signals held off) and apply stop rules.

    `commit(rows, model, elapsed)` is supplied by the trainer and writes checkpoints, history and
    manifest; `elapsed()` gives the epoch's seconds so far, read just before the manifest is written.
    """

    def __init__(
        self,
        cfg: Config,
        rows: list[dict],
        commit: Callable[[list[dict], keras.Model, Callable[[], float]], None],
        log: Callable[[str], None],
    ):
        super().__init__()
        self.cfg, self.rows, self.commit, self.log = cfg, rows, commit, log
        self.stop_reason: str | None = None
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        row = {"epoch": epoch + 1}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if logs and key in logs:
                row[key] = float(logs[key])
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        diverged = divergence(row)
        if diverged:  # weights are no longer numbers: nothing of this epoch is worth committing
            raise Diverged(row["epoch"], diverged)
        with interrupts.deferred():
            # The epoch's time includes its bookkeeping: it is part of what the user waits for.
            self.commit([*self.rows, row], self.model, lambda: time.perf_counter() - self._started)
            self.rows.append(row)
        seconds = time.perf_counter() - self._started
        self.log(_epoch_line(row, self.params.get("epochs"), seconds))
        self.stop_reason = stop_reason(self.rows, self.cfg)
        if self.stop_reason:
            self.log(f"Stopping: {self.stop_reason}")
            self.model.stop_training = True


class TerminalProgress(keras.callbacks.Callback):
    """On a terminal, a live bar within each epoch (steps, time per step, ETA), erased at the epoch's end.

    Keras' own Progbar does the drawing; train.log and non-terminal output keep one line per epoch.
    """

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.bar = keras.utils.Progbar(self.params.get("steps"), stateful_metrics=["loss", "accuracy"])

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        values = [(k, float(logs[k])) for k in ("loss", "accuracy") if logs and k in logs]
        self.bar.update(batch + 1, values=values, finalize=False)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        sys.stdout.write("\r\x1b[2K")  # clear the bar's line; the epoch summary line follows
        sys.stdout.flush()


_ADDED: contextvars.ContextVar[tuple] = contextvars.ContextVar("added_callbacks", default=())


@contextlib.contextmanager
def added_to_fit(*callbacks: keras.callbacks.Callback) -> Iterator[None]:
    """Within the block, `fit` also runs these callbacks, after the epoch commit (e.g. tune's pruning).

    A callback with a `stop_reason` attribute that it sets when it stops training makes the run end
    as stopped early with that reason, exactly like the config's own stop rules.
    """
    token = _ADDED.set(_ADDED.get() + callbacks)
    try:
        yield
    finally:
        _ADDED.reset(token)


def added_callbacks() -> list[keras.callbacks.Callback]:
    """The callbacks `added_to_fit` put in place for this context (none normally)."""
    return list(_ADDED.get())


def progress_callbacks(log) -> list[keras.callbacks.Callback]:
    """The live progress bar when the console is an interactive terminal, else nothing."""
    return [TerminalProgress()] if getattr(log, "interactive", False) else []


def _epoch_line(row: dict, epochs: int | None, seconds: float) -> str:
    parts = [f"Epoch {row['epoch']}/{epochs}", f"{seconds:.1f}s"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"lr {row['learning_rate']:.2e}")
    return " - ".join(parts)
