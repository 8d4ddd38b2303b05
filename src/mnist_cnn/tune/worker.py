"""Trials in this process, one after another: ask the study (or take up a retried trial), train it as a run, tell.

A worker process imports TensorFlow and loads MNIST once, then trains trial after trial in-process
(`tune work`): that fixed cost (seconds per process, tens of seconds on a loaded machine) is what
made short trials slow. Each trial still equals `train --config <its config.yaml>` bit for bit:
Keras' session is cleared and every seed set again before each trial (the smoke tests compare).
TensorFlow's thread pools and op determinism are fixed once per process, so a trial that needs
other settings than the process's first one (a trial resumed from a worker with another thread
count) is re-queued and the process ends; the next, fresh process takes it up.

Faults: Ctrl-C/SIGTERM record the run as interrupted and re-queue the trial with its own values;
SIGKILL stops the heartbeat, so after the grace period any worker fails the trial and Optuna's
RetryHeartbeatStaleTrialCallback re-queues it. A re-queued trial keeps its slot (the first
attempt's number), so it resumes that run directory and counts once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from mnist_cnn import config
from mnist_cnn.config import ConfigError
from mnist_cnn.runs import lock, rundir
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.sweep.trial import find_run
from mnist_cnn.tune import space as spaces
from mnist_cnn.tune import study as studies

IDLE = "idle"  # nothing to ask: the study has its trials (finished or running elsewhere)
RESTART = "restart"  # the trial needs a fresh process (other thread settings): re-queued, this process ends


class FreshProcessNeeded(Exception):
    """The trial's process-wide TensorFlow settings differ from those this process has fixed."""


# What this process keeps between its trials: MNIST as loaded (checksummed once) and the settings
# TensorFlow fixed at the first trial. Module state on purpose: it lives exactly as long as the process.
_PROCESS: dict = {"mnist": {}, "settings": None, "studies": {}}


def process_settings(cfg: config.Config) -> tuple:
    """The config's settings that TensorFlow fixes once per process: thread pools and op determinism."""
    repro = cfg.reproducibility
    return (repro.intra_op_threads, repro.inter_op_threads, repro.deterministic)


def take_settings(cfg: config.Config) -> None:
    """Fix this process's settings at its first trial; FreshProcessNeeded if a later trial needs others."""
    wanted = process_settings(cfg)
    if _PROCESS["settings"] is None:
        _PROCESS["settings"] = wanted
    elif _PROCESS["settings"] != wanted:
        raise FreshProcessNeeded(f"needs threads/determinism {wanted}; this process has {_PROCESS['settings']}")


def _mnist(cfg: config.Config, console):
    """MNIST for `cfg`, loaded and verified once per process (trials only differ in what they sample)."""
    from mnist_cnn.data.acquire import load_mnist

    key = str(cfg.data.path)
    if key not in _PROCESS["mnist"]:
        _PROCESS["mnist"][key] = load_mnist(cfg.data.path, log=console)
    return _PROCESS["mnist"][key]


def trial_overrides(values: dict, slot: Path, threads: int | None) -> list[str]:
    """--set texts for a trial: the sampled values, its run's home, no export or plots, this worker's threads."""
    sets = [spaces.override(k, v) for k, v in values.items()]
    # No export and no plots: the search reads only the history (docs/tuning.md, "What a trial skips").
    sets += [f"output.runs_dir={json.dumps(str(slot))}", "output.export=[]", "output.plots=false"]
    if threads:
        sets += [f"reproducibility.intra_op_threads={threads}", f"reproducibility.inter_op_threads={min(threads, 2)}"]
    return sets


def _study(tune_dir: Path, plan: studies.TunePlan):
    """The study, opened once per process (a storage connection pool, not one per trial)."""
    key = str(Path(tune_dir).resolve())
    if key not in _PROCESS["studies"]:
        _PROCESS["studies"][key] = studies.open_study(tune_dir, plan)
    return _PROCESS["studies"][key]


def _claim(tune_dir: Path, plan: studies.TunePlan, stack: contextlib.ExitStack):
    """(study, trial) with its heartbeat running, or (study, None) when there is nothing to ask."""
    import optuna

    with studies.ask_lock(tune_dir):
        study = _study(tune_dir, plan)
        optuna.storages.fail_stale_trials(study)  # dead workers' trials: failed, then re-queued
        tally = studies.counts(study)
        if not tally.get("WAITING") and studies.finished(tally) + tally.get("RUNNING", 0) >= plan.trials:
            return study, None
        study.sampler = studies.make_sampler(plan, sum(tally.values()))
        trial = study.ask()
        stack.enter_context(studies.Heartbeat(study._storage, trial._trial_id))
    return study, trial


def run_one(tune_dir: Path, threads: int | None, log: Callable[[str], None]) -> dict:
    """Ask for one trial and train it; a dict saying what happened ({'outcome': 'idle'} if nothing to do)."""
    from optuna.trial import TrialState

    from mnist_cnn.interrupts import Interrupted
    from mnist_cnn.train.stop_rules import Diverged

    tune_dir = Path(tune_dir)
    plan = studies.read(tune_dir)
    with contextlib.ExitStack() as stack:
        study, trial = _claim(tune_dir, plan, stack)
        if trial is None:
            return {"outcome": IDLE}
        values = spaces.suggest(trial, plan.params)
        number = studies.slot_number(study._storage.get_trial(trial._trial_id))
        slot = studies.trial_slot(tune_dir, number)
        trial.set_user_attr("slot", slot.name)
        result = {"trial": trial.number, "slot": slot.name, "params": values}
        try:
            cfg = config.load(tune_dir / studies.BASE_CONFIG_FILE, trial_overrides(values, slot, threads))
        except ConfigError as exc:  # the sampled combination cannot train: an invalid trial, not a crash
            trial.set_user_attr("invalid", str(exc)[:500])
            study.tell(trial, state=TrialState.FAIL)
            log(f"trial {trial.number}: invalid configuration: {exc}")
            return {**result, "outcome": "invalid", "reason": str(exc)}
        try:
            run = _train(slot, cfg, trial, plan, log)
        except FreshProcessNeeded as exc:  # nothing trained: hand the trial to a fresh process, unchanged
            _requeue(study, trial)
            log(f"trial {trial.number}: {exc}; re-queued for a fresh worker process")
            return {**result, "outcome": RESTART}
        except Interrupted:
            _requeue(study, trial)
            log(f"trial {trial.number}: interrupted; re-queued to resume from {slot}")
            raise
        except Diverged as exc:  # deterministic: training these values again would diverge again
            trial.set_user_attr("error", f"diverged: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            return {**result, "outcome": "diverged", "reason": str(exc)}
        except lock.RunLocked as exc:  # a stale-declared trial whose process is in fact alive: leave it be
            study.tell(trial, state=TrialState.FAIL)
            log(f"trial {trial.number}: {exc}")
            return {**result, "outcome": "busy"}
        except BaseException as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            raise
        return {**result, **_tell(study, trial, run, plan, log)}


def _train(slot: Path, cfg: config.Config, trial, plan: studies.TunePlan, log: Callable[[str], None]):
    """Start, resume or (if it finished before its trial was told) reuse the slot's run; the run directory."""

    from mnist_cnn.train import runner
    from mnist_cnn.train.callbacks import added_to_fit
    from mnist_cnn.train.console import Console
    from mnist_cnn.tune.pruning import report_and_prune

    slot.mkdir(parents=True, exist_ok=True)
    console = Console(log)
    load = lambda c: _mnist(c, console)  # noqa: E731
    with lock.hold(slot):
        run = find_run(slot)
        status = manifests.read(run).status if run is not None else None
        if run is not None and status not in (*manifests.FINISHED, "diverged"):
            for row in rundir.read_history(run):  # the pruner sees the epochs trained before the fault
                if row.get(plan.objective) is not None:
                    trial.report(float(row[plan.objective]), int(row["epoch"]))
        if run is None or status not in (*manifests.FINISHED, "diverged"):
            prepare_process(run, cfg)
        with added_to_fit(report_and_prune(trial, plan.objective, plan.pruner)):
            if run is None:
                _remove_unstarted(slot)
                runner.start(cfg, load(cfg), console)
                run = find_run(slot)
            elif status not in (*manifests.FINISHED, "diverged"):
                # The run keeps its own config (threads included): resume refuses any other change.
                runner.resume(run, [], load, console)
    return run


def _requeue(study, trial) -> None:
    """Fail the trial and queue its values again (Optuna's retry callback), for a worker to take up."""
    from optuna.trial import TrialState

    study.tell(trial, state=TrialState.FAIL)
    studies.retry_callback()(study, study._storage.get_trial(trial._trial_id))


def prepare_process(run, cfg: config.Config) -> None:
    """Before training a run in this process: its thread settings checked (FreshProcessNeeded), Keras cleared."""
    import keras

    take_settings(resumed_config(run, cfg) if run is not None else cfg)
    keras.backend.clear_session()  # nothing of an earlier run (layer names, graphs) leaks into this one


def resumed_config(run, cfg: config.Config) -> config.Config:
    """The config a resume will train with: the run's own (runner.resume reports it if it is unusable)."""
    try:
        return config.load(run.config)
    except ConfigError:
        return cfg


def run_many(tune_dir: Path, threads: int | None, log: Callable[[str], None], limit: int | None = None):
    """Run trials in this process until there is nothing to ask (or `limit` trials); yield each result."""
    done = 0
    while limit is None or done < limit:
        result = run_one(tune_dir, threads, log)
        yield result
        if result["outcome"] in (IDLE, RESTART):
            return
        done += 1


def _remove_unstarted(slot: Path) -> None:
    """Drop run folders a killed start left before writing its manifest (we hold the slot's lock)."""
    for child in slot.iterdir():
        if child.is_dir() and not (child / rundir.MANIFEST_FILE).exists():
            shutil.rmtree(child)


def objective_value(rows: list[dict], objective: str, direction: str) -> float | None:
    """The best value of the objective over the run's epochs (the best checkpoint's, by that metric)."""
    values = [float(r[objective]) for r in rows if r.get(objective) is not None]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


def _tell(study, trial, run, plan: studies.TunePlan, log: Callable[[str], None]) -> dict:
    """Tell the study how the trial's run ended: COMPLETE with the objective, PRUNED, or FAIL."""
    from optuna.trial import TrialState

    manifest = manifests.read(run)
    rows = rundir.read_history(run)
    trial.set_user_attr("run_dir", str(run.root))
    trial.set_user_attr("epochs", manifest.epochs_completed)
    trial.set_user_attr("fit_seconds", round(sum(manifest.epoch_seconds), 3))
    value = objective_value(rows, plan.objective, plan.direction)
    if manifest.status == "stopped_early" and (manifest.stop_reason or "").startswith("pruned"):
        study.tell(trial, state=TrialState.PRUNED)
        outcome = "pruned"
    elif manifest.status in manifests.FINISHED and value is not None:
        study.tell(trial, value)
        outcome = "complete"
    else:
        trial.set_user_attr("error", manifest.error or manifest.status)
        study.tell(trial, state=TrialState.FAIL)
        outcome = manifest.status
    log(f"trial {trial.number}: {outcome}, {plan.objective} {value}, {manifest.epochs_completed} epochs ({run.root})")
    return {"outcome": outcome, "value": value, "epochs": manifest.epochs_completed, "run_dir": str(run.root)}
