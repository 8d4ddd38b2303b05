"""Fast checks of the tune's worker side: pruner decisions through our callback, worker result lines,
the process-wide settings a long-lived worker keeps, and resuming runs recorded before a new config key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mnist_cnn import config
from mnist_cnn.tune import execute, worker
from mnist_cnn.tune import study as studies

GOOD, BAD = 0.9, 0.1


def _run_study(pruner: str, epochs: int = 4, trials: int = 16) -> list[tuple[bool, int, str | None]]:
    """Alternate good and bad trials through the callback's PruneCheck, epoch by epoch as fit would;
    (good?, last epoch trained, stop reason)."""
    import optuna

    from mnist_cnn.tune.pruning import PruneCheck

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = studies.TunePlan("t", "c.yaml", "s.yaml", (), pruner=pruner, startup_trials=2)
    study = optuna.create_study(study_name="decisions", direction="maximize", pruner=studies.make_pruner(plan, epochs))
    seen = []
    for number in range(trials):
        trial = study.ask()
        good = number % 2 == 0
        check, last, reason = PruneCheck(trial, "val_accuracy", pruner), 0, None
        for epoch in range(epochs):  # the callback's on_epoch_end asks this, and stops fit on a reason
            last = epoch + 1
            reason = check(epoch, {"val_accuracy": (GOOD if good else BAD) + 0.001 * epoch})
            if reason:
                break
        if reason:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, GOOD if good else BAD)
        seen.append((good, last, reason))
    return seen


@pytest.mark.parametrize("pruner", ["hyperband", "median"])
def test_pruners_stop_bad_trials_after_the_epoch_they_are_pruned_at_and_never_a_leading_one(pruner):
    seen = _run_study(pruner)
    bad_pruned = [(last, reason) for good, last, reason in seen if not good and reason]
    assert not [s for s in seen if s[0] and s[2]], seen  # a trial at the top is never pruned
    assert len(bad_pruned) >= 5, seen  # most of the 8 bad trials stop early...
    for last, reason in bad_pruned:
        assert last < 4  # ...after the epoch they were pruned at, not at the end
        assert reason.startswith(f"pruned by the tune's {pruner} pruner after epoch {last} (val_accuracy 0.1")
    unpruned = [last for _good, last, reason in seen if not reason]
    assert set(unpruned) == {4}  # a trial not pruned trains every epoch


def test_hyperband_spans_one_epoch_to_the_configs_epochs():
    plan = studies.TunePlan("t", "c.yaml", "s.yaml", (), pruner="hyperband")
    pruner = studies.make_pruner(plan, 7)
    assert (pruner._min_resource, pruner._max_resource) == (1, 7)
    assert type(studies.make_pruner(studies.TunePlan("t", "c", "s", (), pruner="none"), 7)).__name__ == "NopPruner"


def _worker_log(tmp_path: Path, text: bytes) -> execute.WorkerProcess:
    path = tmp_path / "worker.log"
    path.write_bytes(text)
    return execute.WorkerProcess(proc=None, path=path, handle=None)


def test_worker_result_lines_are_read_once_each_and_a_half_written_line_waits(tmp_path):
    first = {"trial": 0, "outcome": "complete", "value": 0.5}
    w = _worker_log(tmp_path, b"Epoch 1/2 ...\n" + (execute.RESULT_PREFIX + json.dumps(first)).encode() + b"\n"
                    + execute.RESULT_PREFIX.encode() + b'{"trial": 1, "outc')  # fmt: skip
    assert execute.new_results(w) == [first]
    assert execute.new_results(w) == []  # nothing new: the first line is not read again, the half line waits
    with w.path.open("ab") as handle:
        handle.write(b'ome": "pruned"}\n' + execute.RESULT_PREFIX.encode() + b"{not json\n")
    assert execute.new_results(w) == [{"trial": 1, "outcome": "pruned"}]
    assert w.results == 2


def test_a_worker_that_exits_without_a_result_line_counts_as_a_crash_and_three_stop_the_tune(tmp_path):
    tally, lines = execute.Tally(), []
    w = _worker_log(tmp_path, b"Traceback ...\nRuntimeError: boom\n")
    w.proc = SimpleNamespace(returncode=0)
    for _ in range(execute.MAX_CRASHES - 1):
        execute._record_exit(w, tally, lines.append)
    assert tally.crashes == 2 and "worker process FAILED" in lines[-1]
    execute._record({"trial": 3, "outcome": "complete", "value": 0.5}, w.path, tally, lines.append)
    assert tally.crashes == 0  # a trial that finished resets the count
    w.proc.returncode = 1
    with pytest.raises(execute.TuneError, match="worker processes in a row failed"):
        for _ in range(execute.MAX_CRASHES):
            execute._record_exit(w, tally, lines.append)


def _config(threads: int, deterministic: bool = True) -> config.Config:
    return config.loads("{}", [f"reproducibility.intra_op_threads={threads}",
                              f"reproducibility.deterministic={str(deterministic).lower()}"])  # fmt: skip


def test_a_worker_keeps_its_first_trials_thread_settings_and_hands_other_trials_to_a_fresh_process(monkeypatch):
    monkeypatch.setitem(worker._PROCESS, "settings", None)
    worker.take_settings(_config(1))
    worker.take_settings(_config(1))  # the same settings: trained in this process
    with pytest.raises(worker.FreshProcessNeeded, match="threads"):
        worker.take_settings(_config(2))  # TensorFlow cannot change its thread pools once started
    with pytest.raises(worker.FreshProcessNeeded):
        worker.take_settings(_config(1, deterministic=False))  # nor turn op determinism off


def test_trials_skip_export_and_plots_and_keep_their_sampled_values(tmp_path):
    sets = worker.trial_overrides({"model.dropout": 0.25}, tmp_path / "0003", 1)
    cfg = config.loads("{}", sets)
    assert cfg.model.dropout == 0.25 and cfg.output.export == [] and cfg.output.plots is False
    assert cfg.output.runs_dir == str(tmp_path / "0003") and cfg.reproducibility.intra_op_threads == 1


def test_a_run_recorded_before_a_new_config_key_still_matches_its_config():
    from mnist_cnn.train.resume_checks import same_as_recorded

    current = config.to_dict(config.loads("{}"))
    recorded = copy.deepcopy(current)
    del recorded["output"]["plots"]  # what a manifest written before output.plots existed holds
    assert same_as_recorded(recorded, current)
    changed = copy.deepcopy(current)
    changed["output"]["plots"] = False  # a new key NOT at its default: the config says something else
    assert not same_as_recorded(recorded, changed)
    changed = copy.deepcopy(current)
    changed["train"]["batch_size"] += 1
    assert not same_as_recorded(current, changed)
    assert not same_as_recorded(current, recorded)  # a recorded key that is gone is a difference too
