"""Executors: run a sweep's trials in local worker processes (Ray tasks: sweep/ray_executor.py).

Every trial runs in a fresh process (`mnist-cnn sweep run DIR --index I`): TensorFlow's thread
pools and seeds are per process and fixed once set, so a fresh process is what makes a trial
equal to a standalone `train`. Slurm arrays and Kubernetes indexed Jobs call the same command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mnist_cnn
from mnist_cnn import atomic, interrupts
from mnist_cnn.sweep import trial as trials
from mnist_cnn.sweep.plan import Plan, trial_slot

WORKER_LOG = "worker.log"  # in each trial's slot: the trial process's stdout and stderr


@dataclass
class Tally:
    """What an executor did, trial by trial."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


def available_cores() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int | None:
    """Cores split evenly between workers; None for one worker (the config's own settings stand)."""
    if workers <= 1:
        return None
    return max(1, (cores or available_cores()) // workers)


def trial_command(sweep_dir: Path, index: int, threads: int | None) -> list[str]:
    """The command line that runs one trial in its own process."""
    cmd = [sys.executable, "-m", "mnist_cnn.cli", "sweep", "run", str(sweep_dir), "--index", str(index)]
    return cmd + (["--threads", str(threads)] if threads else [])


def child_env() -> dict[str, str]:
    """This process's environment, with this package first on the path (for checkouts run without install)."""
    src = str(Path(mnist_cnn.__file__).resolve().parents[1])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))


def pending(sweep_dir: Path, plan: Plan, tally: Tally) -> list[int]:
    """Indices still to run; finished ones are tallied as skipped without starting a process."""
    todo = []
    for t in plan.trials:
        if trials.is_done(trials.state_of(sweep_dir, t)):
            tally.skipped.append(t.id)
        else:
            todo.append(t.index)
    return todo


def run_local(sweep_dir: Path, plan: Plan, workers: int, echo: Callable[[str], None]) -> Tally:
    """Run every unfinished trial, `workers` processes at a time, each on its share of the cores."""
    tally = Tally()
    queue = pending(sweep_dir, plan, tally)
    threads = threads_per_worker(workers)
    share = f", {threads} intra-op threads each" if threads else ""
    echo(f"{len(queue)} of {len(plan.trials)} trials to run with {workers} worker(s){share}")
    running: dict[int, tuple[subprocess.Popen, object]] = {}
    try:
        with interrupts.raising_on_signals():
            while queue or running:
                while queue and len(running) < workers:
                    index = queue.pop(0)
                    running[index] = _launch(sweep_dir, plan, index, threads)
                    echo(f"started {plan.trials[index].id}")
                time.sleep(0.2)
                for index, (proc, handle) in list(running.items()):
                    if proc.poll() is not None:
                        handle.close()
                        del running[index]
                        record_exit(sweep_dir, plan, index, proc.returncode, tally, echo)
    except BaseException as exc:
        # Ctrl-C or SIGTERM (a scheduler's stop): pass it on so each running trial records itself
        # as interrupted at an epoch boundary, wait for them, then stop.
        signum = exc.signum if isinstance(exc, interrupts.Interrupted) else signal.SIGINT
        for proc, _handle in running.values():
            proc.send_signal(signum)
        for proc, handle in running.values():
            proc.wait()
            handle.close()
        raise
    return tally


def _launch(sweep_dir: Path, plan: Plan, index: int, threads: int | None):
    slot = trials.own_slot(sweep_dir, plan.trials[index])
    handle = atomic.open_append(slot / WORKER_LOG)  # never through a link; closed when the process ends
    proc = subprocess.Popen(
        trial_command(sweep_dir, index, threads),
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=child_env(),
        # Own session: a terminal's Ctrl-C reaches only this executor, which passes it on once.
        # Twice (from the terminal and from us) could land while a trial records its interruption.
        start_new_session=True,
    )
    return proc, handle


def record_exit(sweep_dir: Path, plan: Plan, index: int, code: int, tally: Tally, echo: Callable[[str], None]) -> None:
    """Tally one finished trial process and say how it went in one line."""
    trial = plan.trials[index]
    state = trials.state_of(sweep_dir, trial)
    if code == 0 and trials.is_finished(state):
        tally.done.append(trial.id)
        echo(f"finished {trial.id}: {describe(state)}")
    elif code == 0:
        tally.busy.append(trial.id)
        echo(f"skipped {trial.id}: another executor holds it")
    else:
        tally.failed.append(trial.id)
        echo(f"FAILED {trial.id} (exit {code}): {last_line(trial_slot(sweep_dir, trial) / WORKER_LOG)}")


def describe(state: trials.TrialState) -> str:
    """'test accuracy 0.9912, fit 123.4 s' from the trial's metrics, or its state."""
    metrics = state.run.read_metrics() if state.run else {}
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    accuracy, fit = test.get("accuracy"), metrics.get("fit_seconds")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (accuracy, fit)):
        return state.state  # no metrics yet, or a hand-edited file: say what is known
    return f"test accuracy {accuracy:.4f}, fit {fit:.1f} s"


LOG_TAIL_BYTES = 64 * 1024  # the end of a trial's log is what holds its error


def last_line(path: Path) -> str:
    """The last non-empty line of a log (the error the trial printed); only its end is read, never through a link."""
    from mnist_cnn import safe_read

    try:
        fd = safe_read.open_regular(path, None, "trial log", follow_links=False)
    except (OSError, safe_read.FileRefused):
        return "no log"
    try:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, LOG_TAIL_BYTES, max(0, size - LOG_TAIL_BYTES))
    finally:
        os.close(fd)
    lines = [ln for ln in tail.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"
