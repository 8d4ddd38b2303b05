"""The Ray executor: each unfinished trial a Ray task running `mnist-cnn sweep run DIR --index I`.

Like the local executor, Ctrl-C or SIGTERM reaches the running trials (each records itself
`interrupted`) and the executor waits for them before it stops. The stop travels through a file in
the sweep directory (on the filesystem every node shares): `ray.cancel` alone cannot do it, since
its KeyboardInterrupt never reaches a task waiting on a child process. Ray's own logging and what
its C++ core writes to stderr go to `SWEEP_DIR/ray.log`, not the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import mnist_cnn
from mnist_cnn import atomic, interrupts
from mnist_cnn.sweep.execute import Tally, available_cores, pending, record_exit, trial_command
from mnist_cnn.sweep.plan import Plan, trial_slot

RAY_LOG = "ray.log"  # in the sweep directory: what Ray logged while it ran this sweep's trials
STOP_FILE = ".stop"  # in the sweep directory while a stop is being passed on: the signal's number


def run_ray(
    sweep_dir: Path, plan: Plan, address: str | None, cpus_per_trial: int, echo: Callable[[str], None]
) -> Tally:
    """Submit every unfinished trial as a Ray task (each runs the trial command on the node it lands on).

    The sweep directory must be on a filesystem every node sees at the same path, and mnist-cnn
    installed on every node, as with Slurm or Kubernetes. Starts (and stops) a local Ray unless
    Ray is already initialised in this process or `address` names a cluster.
    """
    import ray

    from mnist_cnn.errors import UsageError

    sweep_dir = Path(sweep_dir).resolve()
    (sweep_dir / STOP_FILE).unlink(missing_ok=True)  # left by an executor that was killed mid-stop
    tally = Tally()
    queue = pending(sweep_dir, plan, tally)
    with _ray_output_to(sweep_dir / RAY_LOG) as terminal:
        echo = _beside_ray(echo, terminal)
        started_here = not ray.is_initialized()
        if started_here:
            try:
                # log_to_driver=False: trial output goes to each slot's worker.log, not through Ray.
                # A local Ray gets this process's cores (its affinity mask: taskset, a batch slot), not
                # the machine's, which Ray would count: more trials at once than cores to run them.
                local = {"num_cpus": available_cores()} if address is None else {}
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                         **local)  # fmt: skip
            except ConnectionError as exc:
                raise UsageError(f"--address {address}: cannot reach a Ray cluster ({exc})") from None
        try:
            _run_tasks(ray, sweep_dir, plan, queue, cpus_per_trial, tally, echo)
        finally:
            if started_here:
                ray.shutdown()  # here, while Ray's stderr still goes to the log (not at interpreter exit)
    return tally


def _run_tasks(ray, sweep_dir: Path, plan: Plan, queue: list[int], cpus: int, tally: Tally, echo) -> None:
    task = ray.remote(num_cpus=cpus, max_retries=0)(_ray_task_body())
    src = str(Path(mnist_cnn.__file__).resolve().parents[1])
    refs = {}
    with _signals_noted() as stop:
        for i in queue:
            args = trial_command(sweep_dir, i, cpus)[1:]  # the node's own Python runs it
            slot = str(trial_slot(sweep_dir, plan.trials[i]))
            refs[task.remote(args, slot, src, str(sweep_dir / STOP_FILE))] = i
        echo(f"submitted {len(refs)} of {len(plan.trials)} trials to Ray ({cpus} CPU each)")
        while refs and not stop:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            if ready:
                index = refs.pop(ready[0])
                record_exit(sweep_dir, plan, index, ray.get(ready[0]), tally, echo)
        if stop:
            echo(f"{signal.Signals(stop[0]).name}: stopping {len(refs)} unfinished trial(s); running ones record "
                 "themselves interrupted (re-run to resume)")  # fmt: skip
            _stop_tasks(ray, list(refs), sweep_dir / STOP_FILE, stop[0])
            raise interrupts.Interrupted(stop[0])


@contextlib.contextmanager
def _signals_noted() -> Iterator[list[int]]:
    """SIGINT/SIGTERM are noted in the yielded list rather than raised, for the block.

    Raising from a signal handler inside Ray's compiled calls (ray.wait) corrupts their return, so
    the loop polls the list instead. This also replaces the SIGTERM handler ray.init installs
    (sys.exit, which would leave the trials to be killed with Ray).
    """
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = {sig: signal.signal(sig, lambda signum, _frame: noted.append(signum)) for sig in interrupts.HANDLED}
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_tasks(ray, refs: list, stop_file: Path, signum: int) -> None:
    """Running tasks pass `signum` to their trial and wait for it; pending ones never start it. Waits for all."""
    atomic.write_text(stop_file, str(signum))
    try:
        for ref in refs:
            ray.cancel(ref)  # a pending task is dropped; a running one reads the stop file (see _ray_task_body)
        if refs:
            ray.wait(refs, num_returns=len(refs))
    finally:
        stop_file.unlink(missing_ok=True)


def _beside_ray(echo: Callable[[str], None], terminal: TextIO) -> Callable[[str], None]:
    """`echo`, writing to the real stderr (in --json mode progress goes there) while Ray's goes to its log."""

    def say(line: str) -> None:
        redirected, sys.stderr = sys.stderr, terminal
        try:
            echo(line)
        finally:
            sys.stderr = redirected
            terminal.flush()

    return say


@contextlib.contextmanager
def _ray_output_to(path: Path) -> Iterator[TextIO]:
    """Ray's Python logging and everything written to file descriptor 2 go to `path` for the block.

    Ray's compiled core prints notices through sys.stderr and the processes ray.init starts inherit
    descriptor 2, all bypassing Python's logging: both go to the log. Yields the original stderr,
    for our own lines (see `_beside_ray`).
    """
    ray_logger = logging.getLogger("ray")
    saved_handlers, saved_propagate = ray_logger.handlers[:], ray_logger.propagate
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with open(path, "ab") as log_file:
        handler = logging.StreamHandler(open(log_file.fileno(), "w", closefd=False))  # noqa: SIM115
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ray_logger.handlers, ray_logger.propagate = [handler], False
        terminal = open(saved_fd, "w", closefd=False, encoding=sys.stderr.encoding, errors="backslashreplace")  # noqa: SIM115
        os.dup2(log_file.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stderr.flush()
            terminal.flush()
            handler.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            ray_logger.handlers, ray_logger.propagate = saved_handlers, saved_propagate


def _ray_task_body():
    """The Ray task: run one trial command, output to the slot's worker log; return its exit code.

    Made inside a function so that Ray ships it by value: nodes need mnist-cnn installed, not
    this module's exact version on their path.
    """

    def run_trial_command(args: list[str], slot: str, src: str, stop_file: str) -> int:
        import os
        import signal
        import subprocess
        import sys
        import time

        def stop_signal() -> int | None:
            try:
                with open(stop_file) as handle:
                    return int(handle.read().strip() or signal.SIGINT)
            except (OSError, ValueError):
                return None

        if stop_signal() is not None:  # the sweep was stopped before this task began
            return 128 + signal.SIGINT
        os.makedirs(slot, exist_ok=True)
        # The driver's checkout first on the path where it exists (a shared filesystem), else the install.
        path = os.pathsep.join(p for p in (src if os.path.isdir(src) else "", os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONPATH=path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC  # never through a link
        with os.fdopen(os.open(os.path.join(slot, "worker.log"), flags, 0o644), "ab") as handle:
            # Ray workers block SIGINT, and a child inherits the signal mask: unblocked just for the
            # fork, or the trial could never hear the Ctrl-C passed on below.
            blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                # Own session: only the signal passed on below reaches the trial, once.
                proc = subprocess.Popen([sys.executable, *args], stdout=handle, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)  # fmt: skip
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            signum = sent = None
            # Poll, not proc.wait(): the stop file is checked between naps.
            while proc.poll() is None:
                try:
                    time.sleep(0.2)
                    signum = signum or stop_signal()
                except KeyboardInterrupt:  # ray.cancel, where it does reach the task
                    signum = signum or stop_signal() or signal.SIGINT
                if signum and not sent:
                    proc.send_signal(signum)  # the trial records itself interrupted, then exits 128 + signum
                    sent = signum
            return proc.returncode

    return run_trial_command
