"""Sweeps that train: workers, resume, index-addressed trials, Ray and its signals, trial == train.

Every trial is a child process training on the synthetic digits (tests/synthetic.py, through
`cli_subprocess_env(synthetic=True)`): sweep mechanics do not depend on the data, and each trial's
time goes to TensorFlow's start-up rather than to epochs.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest

import synthetic
from conftest import CLI, SMOKE, cli_subprocess_env, need_package, skip_plots, train_in_process
from mnist_cnn.data import acquire
from mnist_cnn.sweep import plan
from mnist_cnn.sweep.execute import available_cores

pytestmark = pytest.mark.smoke

SMALL: list[str] = []  # the synthetic set is already small (400 training, 200 test digits)
ENV = cli_subprocess_env(synthetic=True)
# Epochs of a trial that is stopped once its first is committed: enough that the stop lands mid-run
# (one synthetic epoch takes a fraction of a second; Ray passes a stop on within about a second).
INTERRUPTED_EPOCHS = 6
RAY_EPOCHS = 8


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def _runs(sweep_dir: Path) -> dict[str, list[Path]]:
    """Run directories per trial slot."""
    return {s.name: sorted(p.parent for p in s.glob("*/manifest.json")) for s in (sweep_dir / "trials").iterdir()}


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _epochs_done(slot: Path) -> int:
    """Epochs the trial in `slot` has committed so far (0 before its run directory exists)."""
    manifests = list(slot.glob("*/manifest.json"))
    return _manifest(manifests[0].parent).get("epochs_completed", 0) if manifests else 0


def _wait_for_first_epoch(executor: subprocess.Popen, slot) -> None:
    """Wait until trial 0 has committed an epoch; fail (killing the executor) if it ends or 240 s pass first."""
    deadline = time.monotonic() + 240
    while not _epochs_done(slot):
        if time.monotonic() > deadline or executor.poll() is not None:
            executor.kill()
            pytest.fail(f"trial 0 committed no epoch within 240 s, or the executor ended: {executor.communicate()}")
        time.sleep(0.1)


def test_grid_sweep_with_two_workers_then_rerun_skips_everything(tmp_path, run_cli):
    sweep_dir = tmp_path / "s"
    args = ["sweep", str(SMOKE), *SMALL, "--set", "train.epochs=1", "--grid", "train.batch_size=32,64",
            "--seeds", "2", "--workers", "2", "--sweep-dir", str(sweep_dir), "--json"]  # fmt: skip
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)["finished_now"]) == 4
    runs = _runs(sweep_dir)
    assert all(len(r) == 1 for r in runs.values()) and len(runs) == 4
    for (run,) in runs.values():
        facts = _manifest(run)["reproducibility"]
        assert facts["intra_op_threads"] >= 1  # each worker got its share of the cores, recorded
        assert _manifest(run)["status"] == "completed"

    again = run_cli(*args)  # in this process: it trains nothing
    assert again.code == 0, again.err
    assert json.loads(again.out) | {"sweep_dir": None} == {
        "sweep_dir": None, "finished_now": [], "already_finished": sorted(runs), "failed": [], "held_elsewhere": []
    }  # fmt: skip
    assert _runs(sweep_dir) == runs  # nothing new was trained

    report = json.loads(run_cli("sweep", "report", str(sweep_dir), "--json").out)
    for point in report["points"]:
        batch = point["point"].split("=")[1]
        accs = [json.loads((r / "metrics.json").read_text())["test"]["accuracy"]
                for slot, (r,) in runs.items() if f"batch_size={batch}-" in slot]  # fmt: skip
        assert point["test_accuracy"]["n"] == 2
        assert point["test_accuracy"]["mean"] == pytest.approx(statistics.fmean(accs))
        assert point["test_accuracy"]["std"] == pytest.approx(statistics.stdev(accs))
        assert point["test_accuracy"]["mean"] > 0.2  # above chance (0.1) after one epoch on 360 digits
    assert report["unfinished"] == []


def test_interrupted_sweep_resumes_and_trials_equal_standalone_runs(tmp_path, run_cli):
    sweep_dir = tmp_path / "s"
    # Six short synthetic epochs: after the first is seen, five remain (seconds) for the interruption
    # to land in, even when a loaded machine starves this polling loop.
    epochs = ["--set", f"train.epochs={INTERRUPTED_EPOCHS}"]
    planned = run_cli("sweep", str(SMOKE), *SMALL, *epochs, "--seeds", "2",
                      "--sweep-dir", str(sweep_dir), "--plan-only")  # fmt: skip
    assert planned.code == 0, planned.err
    the_plan = plan.read(sweep_dir)
    executor = subprocess.Popen([*CLI, "sweep", "run", str(sweep_dir)], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    slot = plan.trial_slot(sweep_dir, the_plan.trials[0])
    _wait_for_first_epoch(executor, slot)
    executor.send_signal(signal.SIGINT)
    out, _ = executor.communicate(timeout=120)
    assert executor.returncode == 130, out
    status = json.loads(run_cli("sweep", "status", str(sweep_dir), "--json").out)
    states = {r["trial"]: r["state"] for r in status["trials"]}
    assert states[the_plan.trials[0].id] == "interrupted"
    assert states[the_plan.trials[1].id] == "pending"

    resumed = _cli("sweep", "run", str(sweep_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    runs = _runs(sweep_dir)
    (trial0,), (trial1,) = runs[the_plan.trials[0].id], runs[the_plan.trials[1].id]
    assert 1 <= _manifest(trial0)["resumes"][0]["from_epoch"] < INTERRUPTED_EPOCHS
    assert _manifest(trial0)["status"] == _manifest(trial1)["status"] == "completed"

    # The standalone runs: `mnist-cnn train` in this process (no plots: they are not compared).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(acquire, "load_mnist", synthetic.load_synthetic)
        skip_plots(patch)
        standalone = {seed: train_in_process(tmp_path / f"standalone-{seed}", *SMALL, *epochs, "--set", f"seed={seed}")
                      for seed in (7, 8)}  # fmt: skip
    for seed, trial_run in ((7, trial0), (8, trial1)):
        alone = standalone[seed].root
        assert (alone / "history.csv").read_bytes() == (trial_run / "history.csv").read_bytes()
        weights = {k: v["weights_sha256"] for k, v in _manifest(alone)["checkpoints"].items()}
        assert weights == {k: v["weights_sha256"] for k, v in _manifest(trial_run)["checkpoints"].items()}


def test_index_addressed_trials_in_parallel_processes_run_each_trial_once(tmp_path, run_cli):
    sweep_dir = tmp_path / "s"
    planned = run_cli("sweep", str(SMOKE), *SMALL, "--set", "train.epochs=1", "--seeds", "2",
                      "--sweep-dir", str(sweep_dir), "--plan-only")  # fmt: skip
    assert planned.code == 0, planned.err
    # Like a Slurm array where task 0 was also started twice (a requeue): the lock lets one of them train.
    procs = [subprocess.Popen([*CLI, "sweep", "run", str(sweep_dir), "--index", str(i), "--json"],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in (0, 1, 0)]  # fmt: skip
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out)["outcome"])
    assert outcomes[1] == "started"
    assert sorted([outcomes[0], outcomes[2]])[1] == "started"  # one of the two trained trial 0...
    assert sorted([outcomes[0], outcomes[2]])[0] in ("busy", "skipped")  # ...the other left it alone
    runs = _runs(sweep_dir)
    assert sorted(len(r) for r in runs.values()) == [1, 1]
    assert all(_manifest(r)["status"] == "completed" for (r,) in runs.values())


@pytest.mark.ray
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ray_executor_passes_a_stop_to_its_trials_and_keeps_ray_out_of_the_terminal(tmp_path, run_cli, sig, code):
    """SIGINT/SIGTERM to `sweep --executor ray`: the running trial is recorded interrupted (not stale), the
    pending one never starts, stderr holds our one line and nothing of Ray's; a re-run through Ray finishes both."""
    need_package("ray", extra="ray")
    sweep_dir = tmp_path / "s"
    planned = run_cli("sweep", str(SMOKE), "--set", f"train.epochs={RAY_EPOCHS}", "--seeds", "2",
                      "--sweep-dir", str(sweep_dir), "--plan-only")  # fmt: skip
    assert planned.code == 0, planned.err
    the_plan = plan.read(sweep_dir)
    # Two CPUs per trial on this 2-core machine: one trial runs, the other waits as a pending Ray task.
    ray_run = [*CLI, "sweep", "run", str(sweep_dir), "--executor", "ray", "--cpus-per-trial", str(available_cores())]
    executor = subprocess.Popen(ray_run, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    slot = plan.trial_slot(sweep_dir, the_plan.trials[0])
    _wait_for_first_epoch(executor, slot)
    executor.send_signal(sig)
    out, err = executor.communicate(timeout=180)
    assert executor.returncode == code, (out, err)
    assert err == ""  # no Ray warnings, tracebacks or C++ notices
    assert f"{sig.name}: stopping 2 unfinished trial(s)" in out
    assert (sweep_dir / "ray.log").is_file()  # where Ray's own messages went
    states = {r["trial"]: r["state"] for r in
              json.loads(run_cli("sweep", "status", str(sweep_dir), "--json").out)["trials"]}  # fmt: skip
    assert states == {the_plan.trials[0].id: "interrupted", the_plan.trials[1].id: "pending"}
    if sig == signal.SIGINT:
        return
    again = subprocess.run(ray_run, capture_output=True, text=True, env=ENV, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stderr == "" and "2 finished now" in again.stdout
    runs = _runs(sweep_dir)
    (first,), (second,) = runs[the_plan.trials[0].id], runs[the_plan.trials[1].id]
    assert _manifest(first)["status"] == _manifest(second)["status"] == "completed"
    assert _manifest(first)["resumes"][0]["from_epoch"] >= 1
    assert _manifest(second)["reproducibility"]["intra_op_threads"] == available_cores()  # --cpus-per-trial
