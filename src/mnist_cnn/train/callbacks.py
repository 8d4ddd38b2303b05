"""Keras callbacks for one run: per-epoch seeding, commit of each epoch, stop rules, console lines.

Stop rules and the best checkpoint are computed from the merged history rather than kept as
callback state (as Keras' EarlyStopping and ModelCheckpoint do), so that a resumed run takes
exactly the decisions an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import keras

from mnist_cnn import interrupts
from mnist_cnn.config import Config


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


def is_better(monitor: str, value: float, best: float, min_delta: float = 0.0) -> bool:
    """Loss-like metrics improve downwards, accuracies upwards."""
    if "loss" in monitor:
        return value < best - min_delta
    return value > best + min_delta


def best_epoch(rows: list[dict], monitor: str) -> int | None:
    """1-based epoch with the best `monitor` value (first one on ties), or None if never logged."""
    best = None
    for row in rows:
        if monitor in row and (best is None or is_better(monitor, row[monitor], best[1])):
            best = (row["epoch"], row[monitor])
    return best[0] if best else None


def stop_reason(rows: list[dict], cfg: Config) -> str | None:
    """Why training should stop after the last row, or None to go on."""
    last = rows[-1]
    rule = cfg.train.stop_at
    if rule and last.get(rule.monitor, float("nan")) > rule.threshold:
        return f"{rule.monitor} {last[rule.monitor]:.4f} > {rule.threshold} at epoch {last['epoch']}"
    patience = cfg.train.early_stopping
    if patience:
        # Keras' EarlyStopping rule: stop once `patience` epochs in a row brought no improvement.
        best, wait = None, 0
        for row in rows:
            value = row.get(patience.monitor)
            if value is None:
                continue
            if best is None or is_better(patience.monitor, value, best, patience.min_delta):
                best, wait = value, 0
            else:
                wait += 1
        if wait >= patience.patience:
            return f"no {patience.monitor} improvement for {wait} epochs (early stopping)"
    return None


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
        with interrupts.deferred():
            self.rows.append(row)
            # The epoch's time includes its bookkeeping: it is part of what the user waits for.
            self.commit(self.rows, self.model, lambda: time.perf_counter() - self._started)
        seconds = time.perf_counter() - self._started
        self.log(_epoch_line(row, self.params.get("epochs"), seconds))
        self.stop_reason = stop_reason(self.rows, self.cfg)
        if self.stop_reason:
            self.log(f"Stopping: {self.stop_reason}")
            self.model.stop_training = True


def _epoch_line(row: dict, epochs: int | None, seconds: float) -> str:
    parts = [f"Epoch {row['epoch']}/{epochs}", f"{seconds:.1f}s"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"lr {row['learning_rate']:.2e}")
    return " - ".join(parts)
