"""Stop rules and the best epoch, computed from the merged history alone (pure: no Keras).

Computed from history rather than kept as callback state (as Keras' EarlyStopping and
ModelCheckpoint do), so that a resumed run takes exactly the decisions an uninterrupted one would.
"""

from __future__ import annotations

import math

from mnist_cnn.config import Config
from mnist_cnn.runs.rundir import RunError


class Diverged(RunError):
    """The loss became NaN or infinite: training stops, the run is marked `diverged`."""

    def __init__(self, epoch: int, message: str):
        super().__init__(f"{message}; try a lower learning rate or another model")
        self.epoch = epoch


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


def divergence(row: dict) -> str | None:
    """Why an epoch's results are unusable (a loss that is NaN or infinite), or None if they are fine."""
    bad = [key for key in ("loss", "val_loss") if key in row and not math.isfinite(row[key])]
    if not bad:
        return None
    return f"training diverged at epoch {row['epoch']} ({', '.join(f'{k} is {row[k]}' for k in bad)})"
