"""Run a tune: worker processes until the study has its finished trials, then the final re-training.

Each trial runs in a fresh child process (`mnist-cnn tune trial DIR`, see worker.py); this loop
keeps `workers` of them going and stops asking once the study holds --trials completed or pruned
trials. Several such loops (other shells, machines, Slurm tasks) may share one study.
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
RESULT_PREFIX = "TRIAL-RESULT "  # the child's last line: what happened, as JSON
MAX_CRASHES = 3  # trial processes in a row that died of an error: stop rather than burn the machine
IDLE_WAIT = 2.0  # seconds between looks at a study whose remaining trials run elsewhere


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


def trial_command(tune_dir: Path, threads: int | None) -> list[str]:
    """The command line that runs one trial in its own process."""
    cmd = [sys.executable, "-m", "mnist_cnn.cli", "tune", "trial", str(tune_dir)]
    return cmd + (["--threads", str(threads)] if threads else [])


def _launch(tune_dir: Path, threads: int | None, serial: int) -> tuple[subprocess.Popen, Path, object]:
    folder = Path(tune_dir) / LOGS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{socket.gethostname()}-{int(time.time())}-{serial:04d}.log"
    handle = atomic.open_append(path)  # never through a link; closed when the process ends
    proc = subprocess.Popen(
        trial_command(tune_dir, threads), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=child_env(), start_new_session=True,  # our signal handling passes Ctrl-C on once (see sweep)
    )  # fmt: skip
    return proc, path, handle


def _result(path: Path) -> dict:
    """The child's result line, or {} if it printed none (it crashed)."""
    from mnist_cnn import safe_read

    try:  # the result line is the last thing a trial prints: the end of its log is enough
        fd = safe_read.open_regular(path, None, "trial log", follow_links=False)
    except (OSError, safe_read.FileRefused):
        return {}
    try:
        size = os.fstat(fd).st_size
        lines = os.pread(fd, 1 << 20, max(0, size - (1 << 20))).decode("utf-8", errors="replace").splitlines()
    finally:
        os.close(fd)
    for line in reversed(lines):
        if line.startswith(RESULT_PREFIX):
            try:
                return json.loads(line[len(RESULT_PREFIX) :])
            except ValueError:
                return {}
    return {}


def study_state(study) -> dict[str, int]:
    """Trials per state now, after failing (and re-queueing) trials whose heartbeat stopped."""
    import optuna

    optuna.storages.fail_stale_trials(study)
    return studies.counts(study)


def _room(tally: dict[str, int], plan: studies.TunePlan, mine: int) -> bool:
    """Whether another trial may be asked: a queued retry, or fewer than --trials finished or running."""
    running = max(tally.get("RUNNING", 0), mine)
    return bool(tally.get("WAITING")) or studies.finished(tally) + running < plan.trials


def run_workers(tune_dir: Path, workers: int, echo: Callable[[str], None]) -> Tally:
    """Keep `workers` trial processes going until the study has --trials finished trials."""
    plan = studies.read(tune_dir)
    threads = threads_per_worker(workers)
    tally, serial = Tally(), 0
    running: dict[int, tuple[subprocess.Popen, Path, object]] = {}
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
                    running[serial] = _launch(tune_dir, threads, serial)
                    launched = True
                    state["RUNNING"] = state.get("RUNNING", 0) + 1
                if not running and not launched:
                    time.sleep(IDLE_WAIT)  # the rest run elsewhere: wait for them to finish or go stale
                    continue
                time.sleep(1.0)  # a trial takes many seconds; polling the database more often only costs CPU
                for key, (proc, path, handle) in list(running.items()):
                    if proc.poll() is None:
                        continue
                    handle.close()
                    del running[key]
                    _record(proc.returncode, path, tally, echo)
    except BaseException as exc:
        # Ctrl-C or SIGTERM: pass it on so each trial records its run as interrupted and re-queues itself.
        signum = exc.signum if isinstance(exc, interrupts.Interrupted) else signal.SIGINT
        for proc, _path, _handle in running.values():
            proc.send_signal(signum)
        for proc, _path, handle in running.values():
            proc.wait()
            handle.close()
        raise
    return tally


def _record(code: int, path: Path, tally: Tally, echo: Callable[[str], None]) -> None:
    result = _result(path)
    if code == 0 and result:
        tally.crashes = 0
        tally.add(result["outcome"])
        if result["outcome"] != "idle":
            value = result.get("value")
            shown = f", objective {value:.4f}" if isinstance(value, float) else ""
            echo(f"trial {result.get('trial')} {result['outcome']}{shown} ({result.get('epochs', 0)} epochs): "
                 f"{result.get('params')}")  # fmt: skip
        invalid = tally.outcomes.get("invalid", 0) + tally.outcomes.get("diverged", 0)
        if invalid >= 5 and 2 * invalid > sum(tally.outcomes.values()):  # mostly unusable: the space is wrong
            raise TuneError(f"{invalid} trials could not train (invalid or diverged); narrow the space ({path})")
        return
    tally.crashes += 1
    tally.add("crashed")
    echo(f"trial process FAILED (exit {code}): {last_line(path)}  (log: {path})")
    if tally.crashes >= MAX_CRASHES:
        raise TuneError(f"{MAX_CRASHES} trial processes in a row failed; last: {last_line(path)} (log: {path})")
