"""Run a tune: worker processes until the study has its finished trials, then the final re-training.

Trials run in child worker processes (`mnist-cnn tune work DIR`, see worker.py), each training
trial after trial in-process and printing one result line per trial; this loop keeps `workers` of
them going (a fresh one when one ends while the study still has room) and stops once the study
holds --trials completed or pruned trials. Several such loops (other shells, machines, Slurm
tasks) may share one study.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mnist_cnn import atomic, interrupts
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.sweep.execute import child_env, last_line, threads_per_worker
from mnist_cnn.tune import study as studies

LOGS_DIR = "logs"
RESULT_PREFIX = "TRIAL-RESULT "  # a worker's line after each trial: what happened, as JSON
MAX_CRASHES = 3  # worker processes in a row that died of an error: stop rather than burn the machine
READ_LIMIT = 1 << 20  # bytes of a worker's log read per look (a second of log is far less)
IDLE_WAIT = 2.0  # seconds between looks at a study whose remaining trials run elsewhere
# Trials per worker process before a fresh one takes over (--trials-per-worker): clearing Keras'
# session does not give back everything (the benchmark's workers grew 1.1 -> 1.4 GB over ~20
# trials), so memory stays bounded at the price of one TensorFlow start-up (seconds) per this many.
TRIALS_PER_WORKER = 10


class TuneError(MnistCnnError):
    """Trials keep crashing or the space keeps producing configs that cannot train."""


@dataclass
class Tally:
    """What this worker loop's trial processes did."""

    outcomes: dict[str, int] = field(default_factory=dict)
    crashes: int = 0

    def add(self, outcome: str) -> None:
        """Count one outcome."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def worker_command(tune_dir: Path, threads: int | None, per_worker: int = TRIALS_PER_WORKER) -> list[str]:
    """The command line of one worker process (it trains trials until the study has no room, at most
    `per_worker`; the loop then starts a fresh one if there is still room)."""
    cmd = [sys.executable, "-m", "mnist_cnn.cli", "tune", "work", str(tune_dir), "--max-trials", str(per_worker)]
    return cmd + (["--threads", str(threads)] if threads else [])


@dataclass
class WorkerProcess:
    """One child worker: its process, its log, and how far this loop has read the log."""

    proc: subprocess.Popen
    path: Path
    handle: object
    offset: int = 0
    results: int = 0


def _launch(tune_dir: Path, threads: int | None, serial: int, per_worker: int) -> WorkerProcess:
    folder = Path(tune_dir) / LOGS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{socket.gethostname()}-{int(time.time())}-{serial:04d}.log"
    handle = atomic.open_append(path)  # never through a link; closed when the process ends
    proc = subprocess.Popen(
        worker_command(tune_dir, threads, per_worker), stdout=handle, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, env=child_env(),
        start_new_session=True,  # our signal handling passes Ctrl-C on once (see sweep)
    )  # fmt: skip
    return WorkerProcess(proc, path, handle)


def new_results(worker: WorkerProcess) -> list[dict]:
    """Result lines the worker wrote since the last look (complete lines only); advances its offset."""
    from mnist_cnn import safe_read

    try:
        fd = safe_read.open_regular(worker.path, None, "worker log", follow_links=False)
    except (OSError, safe_read.FileRefused):
        return []
    try:
        data = os.pread(fd, READ_LIMIT, worker.offset)
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1
    if not end and len(data) == READ_LIMIT:  # a line longer than the limit is no result line: skip it
        end = len(data)
    worker.offset += end
    found = []
    for line in data[:end].decode("utf-8", errors="replace").splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                found.append(json.loads(line[len(RESULT_PREFIX) :]))
            except ValueError:
                continue
    worker.results += len(found)
    return found


def study_state(study) -> dict[str, int]:
    """Trials per state now, after failing (and re-queueing) trials whose heartbeat stopped."""
    import optuna

    optuna.storages.fail_stale_trials(study)
    return studies.counts(study)


def _room(tally: dict[str, int], plan: studies.TunePlan, mine: int) -> bool:
    """Whether another trial may be asked: a queued retry, or fewer than --trials finished or running."""
    running = max(tally.get("RUNNING", 0), mine)
    return bool(tally.get("WAITING")) or studies.finished(tally) + running < plan.trials


def run_workers(
    tune_dir: Path, workers: int, echo: Callable[[str], None], per_worker: int = TRIALS_PER_WORKER
) -> Tally:
    """Keep `workers` worker processes going (each for at most `per_worker` trials) until the study
    has --trials finished trials."""
    plan = studies.read(tune_dir)
    threads = threads_per_worker(workers)
    tally, serial = Tally(), 0
    running: dict[int, WorkerProcess] = {}
    study = studies.open_study(tune_dir, plan)
    state = study_state(study)
    echo(f"{studies.finished(state)} of {plan.trials} trials finished; {workers} worker process(es)"
         + (f", {threads} intra-op threads each" if threads else ""))  # fmt: skip
    try:
        with interrupts.raising_on_signals():
            while True:
                state = study_state(study)
                if studies.finished(state) >= plan.trials and not running:
                    break
                launched = False
                while len(running) < workers and _room(state, plan, len(running)):
                    serial += 1
                    running[serial] = _launch(tune_dir, threads, serial, per_worker)
                    launched = True
                    state["RUNNING"] = state.get("RUNNING", 0) + 1
                if not running and not launched:
                    time.sleep(IDLE_WAIT)  # the rest run elsewhere: wait for them to finish or go stale
                    continue
                time.sleep(1.0)  # a trial takes seconds; polling the database more often only costs CPU
                for key, worker in list(running.items()):
                    ended = worker.proc.poll() is not None
                    for result in new_results(worker):
                        _record(result, worker.path, tally, echo)
                    if ended:
                        worker.handle.close()
                        del running[key]
                        _record_exit(worker, tally, echo)
    except BaseException as exc:
        # Ctrl-C or SIGTERM: pass it on so each worker records its run as interrupted and re-queues its trial.
        signum = exc.signum if isinstance(exc, interrupts.Interrupted) else signal.SIGINT
        for worker in running.values():
            worker.proc.send_signal(signum)
        for worker in running.values():
            worker.proc.wait()
            worker.handle.close()
        raise
    return tally


def _record(result: dict, path: Path, tally: Tally, echo: Callable[[str], None]) -> None:
    """Count and show one trial's result line."""
    tally.crashes = 0
    tally.add(result["outcome"])
    if result["outcome"] not in ("idle", "restart"):
        value = result.get("value")
        shown = f", objective {value:.4f}" if isinstance(value, float) else ""
        echo(f"trial {result.get('trial')} {result['outcome']}{shown} ({result.get('epochs', 0)} epochs): "
             f"{result.get('params')}")  # fmt: skip
    invalid = tally.outcomes.get("invalid", 0) + tally.outcomes.get("diverged", 0)
    if invalid >= 5 and 2 * invalid > sum(tally.outcomes.values()):  # mostly unusable: the space is wrong
        raise TuneError(f"{invalid} trials could not train (invalid or diverged); narrow the space ({path})")


def _record_exit(worker: WorkerProcess, tally: Tally, echo: Callable[[str], None]) -> None:
    """A worker process ended: fine if it exited 0 having said why, a crash otherwise."""
    code = worker.proc.returncode
    if code == 0 and worker.results:
        return
    tally.crashes += 1
    tally.add("crashed")
    echo(f"worker process FAILED (exit {code}): {last_line(worker.path)}  (log: {worker.path})")
    if tally.crashes >= MAX_CRASHES:
        raise TuneError(f"{MAX_CRASHES} worker processes in a row failed; last: {last_line(worker.path)} "
                        f"(log: {worker.path})")  # fmt: skip
