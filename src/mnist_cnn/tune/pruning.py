"""Report the objective to Optuna each epoch and stop a trial it prunes: the decision, and its Keras callback.

Written here rather than taken from optuna-integration (a separate package): it is a few lines, and
it must run after the epoch commit so the pruned epoch is kept (train.callbacks.added_to_fit). The
decision is plain Python (tested without TensorFlow); the callback only asks it and stops fit.
"""

from __future__ import annotations


class PruneCheck:
    """Report `objective` for an epoch; the reason to stop if the pruner prunes the trial there, else None."""

    def __init__(self, trial, objective: str, pruner: str):
        self.trial, self.objective, self.pruner = trial, objective, pruner

    def __call__(self, epoch: int, logs: dict | None) -> str | None:
        value = (logs or {}).get(self.objective)
        if value is None:
            return None
        self.trial.report(float(value), epoch + 1)
        if not self.trial.should_prune():
            return None
        shown = f"{self.objective} {float(value):.4f}"
        return f"pruned by the tune's {self.pruner} pruner after epoch {epoch + 1} ({shown})"


def report_and_prune(trial, objective: str, pruner: str):
    """The Keras callback: PruneCheck at each epoch's end; a pruned trial stops after that epoch."""
    import keras

    check = PruneCheck(trial, objective, pruner)

    class ReportAndPrune(keras.callbacks.Callback):
        stop_reason: str | None = None  # read by train.training.fit: the run ends as stopped early

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            reason = check(epoch, logs)
            if reason:
                self.stop_reason = reason
                self.model.stop_training = True

    return ReportAndPrune()
