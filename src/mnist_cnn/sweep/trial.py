"""One trial, in this process: claim it, then start, resume or skip it through the `train` code path.

A trial is an ordinary run directory inside its slot `trials/<id>/`. The slot's lock (the run
lock module, taken on the slot rather than the run, because the run directory does not exist
yet when a trial starts) keeps two executors from running one trial at once; whoever finds it
taken skips the trial and says who holds it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnist_cnn.runs import lock
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.rundir import MANIFEST_FILE, RunDir, RunError
from mnist_cnn.sweep.plan import Trial, trial_config, trial_slot

# Trial states as `sweep status` shows them.
PENDING, BUSY = "pending", "running"


@dataclass
class TrialState:
    """What is on disk for one trial."""

    trial: Trial
    state: str  # pending | running (locked now) | completed | stopped_early | interrupted | failed | stale
    run: RunDir | None
    manifest: manifests.Manifest | None


def find_run(slot: Path) -> RunDir | None:
    """The trial's run directory (the newest one with a manifest), if it was ever started."""
    # A linked folder was not made by a trial: following it would train (write) outside the sweep.
    runs = sorted(p.parent for p in slot.glob(f"*/{MANIFEST_FILE}") if not p.parent.is_symlink())
    return RunDir(runs[-1]) if runs else None


def state_of(sweep_dir: Path, trial: Trial) -> TrialState:
    """The trial's state without touching anything (readers never take the lock)."""
    slot = trial_slot(sweep_dir, trial)
    run = find_run(slot)
    manifest = None
    if run is not None:
        try:
            manifest = manifests.read(run)
        except RunError:
            manifest = None
    if lock.holder(slot) is not None:
        return TrialState(trial, BUSY, run, manifest)
    if run is None:
        return TrialState(trial, PENDING, None, None)
    status = manifest.status if manifest else "failed"
    # 'running' with nobody holding the lock: the process died without a word (SIGKILL, power loss).
    return TrialState(trial, "stale" if status == "running" else status, run, manifest)


def is_finished(state: TrialState) -> bool:
    """Completed or stopped early: it has test metrics."""
    return state.state in manifests.FINISHED


def is_done(state: TrialState) -> bool:
    """Nothing left to run: finished, or diverged (training again would diverge again, deterministically)."""
    return is_finished(state) or state.state == "diverged"


def own_slot(sweep_dir: Path, trial: Trial) -> Path:
    """The trial's slot folder, made if absent; RunError if it (or trials/) is a link the sweep did not make."""
    slot = trial_slot(sweep_dir, trial)
    for folder in (slot.parent, slot):
        if folder.is_symlink():
            raise RunError(f"{folder}: is a symbolic link, which a sweep never makes; it will not write through it")
    slot.mkdir(parents=True, exist_ok=True)
    return slot


def run_trial(sweep_dir: Path, trial: Trial, threads: int | None, log: Callable[[str], None]) -> str:
    """Run `trial` to its end unless it is finished or claimed; return what happened (one word).

    Raises what `train` raises (the trial's run records failed/interrupted like any run).
    """
    from mnist_cnn.train import runner
    from mnist_cnn.train.console import Console

    slot = own_slot(sweep_dir, trial)
    try:
        with lock.hold(slot):
            run = find_run(slot)
            console = Console(log)
            status = manifests.read(run).status if run is not None else None
            if status in (*manifests.FINISHED, "diverged"):
                log(f"{trial.id}: already {status.replace('_', ' ')} ({run.root}); skipped")
                return "skipped"
            if run is not None:
                # The run keeps its own config (threads included): resume refuses any other change.
                runner.resume(run, [], _load_data(console), console)
                return "resumed"
            _remove_unstarted(slot)
            cfg = trial_config(sweep_dir, trial, _thread_overrides(threads))
            runner.start(cfg, _load_data(console)(cfg), console)
            return "started"
    except lock.RunLocked as exc:
        log(f"{trial.id}: skipped, {exc}")
        return "busy"


def _thread_overrides(threads: int | None) -> list[str]:
    """Per-worker thread settings (recorded in the trial's config and manifest); None keeps the config's."""
    if not threads:
        return []
    return [f"reproducibility.intra_op_threads={threads}", f"reproducibility.inter_op_threads={min(threads, 2)}"]


def _remove_unstarted(slot: Path) -> None:
    """Drop run folders a killed start left before writing its manifest (we hold the slot's lock)."""
    for child in slot.iterdir():
        if child.is_dir() and not child.is_symlink() and not (child / MANIFEST_FILE).exists():
            shutil.rmtree(child)


def _load_data(log: Callable[[str], None]):
    from mnist_cnn.data.acquire import load_mnist

    return lambda cfg: load_mnist(cfg.data.path, log=log)
