"""The Keras callback that reports the objective to Optuna each epoch and stops a trial it prunes.

Written here rather than taken from optuna-integration (a separate package): it is a few lines, and
it must run after the epoch commit so the pruned epoch is kept (train.callbacks.added_to_fit).
"""

from __future__ import annotations

import keras


class ReportAndPrune(keras.callbacks.Callback):
    """Report `objective` at each epoch's end; if the pruner says so, stop after this epoch."""

    def __init__(self, trial, objective: str, pruner: str):
        super().__init__()
        self.trial, self.objective, self.pruner = trial, objective, pruner
        self.stop_reason: str | None = None  # read by train.training.fit: the run ends as stopped early

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        value = (logs or {}).get(self.objective)
        if value is None:
            return
        self.trial.report(float(value), epoch + 1)
        if self.trial.should_prune():
            self.stop_reason = f"pruned by the tune's {self.pruner} pruner after epoch {epoch + 1} " \
                               f"({self.objective} {float(value):.4f})"  # fmt: skip
            self.model.stop_training = True
