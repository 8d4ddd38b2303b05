"""Tunes that train (tiny real MNIST subsets): a pruned study with two workers, a killed worker, PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CLI, SMOKE, cli_subprocess_env

pytestmark = [pytest.mark.smoke, pytest.mark.usefixtures("mnist")]  # the trials load the cached MNIST

TINY = ["--set", "data.subset.train=300", "--set", "data.subset.test=100", "--set", "train.epochs=2"]
# One terrible and one good learning rate, so the median pruner has work: with --sampler random and
# --seed 2 the rates come in the order good, good (the start-up trials), bad, bad, good, bad.
SPACE = "train.optimizer.learning_rate: {choices: [0.00001, 0.003]}\nmodel.dropout: {low: 0.0, high: 0.5}\n"
FAST_HEARTBEAT = ["--heartbeat", "1", "--grace-period", "4"]


def _start(*args: str, log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - the child holds it; closed when the test's process ends
    return subprocess.Popen([*CLI, *args], stdout=handle, stderr=subprocess.STDOUT, env=cli_subprocess_env(),
                            start_new_session=True)  # fmt: skip


def _wait(proc: subprocess.Popen, log: Path, timeout: float = 600) -> str:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    return text


def _wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _study(tune_dir: Path):
    from mnist_cnn.tune import study

    plan = study.read(tune_dir)
    return study.open_study(tune_dir, plan)


def _runs_per_slot(tune_dir: Path) -> dict[str, list[Path]]:
    return {s.name: sorted(p.parent for p in s.glob("*/manifest.json")) for s in (tune_dir / "trials").iterdir()}


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _assert_counted_once(tune_dir: Path, finished: int) -> list:
    """`finished` completed or pruned trials, each in its own slot with one run directory; none left running."""
    trials = _study(tune_dir).get_trials(deepcopy=False)
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == finished, [(t.number, t.state.name) for t in trials]
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    slots = [t.user_attrs["slot"] for t in done]
    assert len(set(slots)) == len(slots)  # no trial trained twice
    runs = _runs_per_slot(tune_dir)
    for slot in slots:
        assert len(runs[slot]) == 1, runs[slot]  # a retried trial resumed its run; it did not start another
    return done


def test_two_workers_share_a_sqlite_study_that_prunes_completes_and_retrains_the_best(tmp_path, run_cli):
    """...with --trials-per-worker 2: no worker process trains more than two trials, fresh ones take over."""
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    tune_dir = tmp_path / "tune"
    first = _start("tune", str(SMOKE), "--space", str(space), *TINY, "--set", "data.subset.train=400",
                   "--trials", "6", "--sampler", "random", "--seed", "2", "--startup-trials", "2",
                   "--final-seeds", "2", "--tune-dir", str(tune_dir), "--trials-per-worker", "2",
                   log=tmp_path / "first.log")  # fmt: skip
    _wait_for(lambda: (tune_dir / "tune.json").exists(), first, tmp_path / "first.log")
    second = _start("tune", "run", str(tune_dir), "--no-final", "--trials-per-worker", "2", log=tmp_path / "second.log")
    second_out = _wait(second, tmp_path / "second.log")
    first_out = _wait(first, tmp_path / "first.log")
    assert "trial " in first_out and "trial " in second_out  # both workers trained trials of the one study

    done = _assert_counted_once(tune_dir, 6)
    states = {t.state.name for t in done}
    assert states == {"COMPLETE", "PRUNED"}, states
    trained = [sum(line.startswith("TRIAL-RESULT ") and '"idle"' not in line for line in log.read_text().splitlines())
               for log in (tune_dir / "logs").glob("*.log")]  # fmt: skip
    assert max(trained) <= 2 and sum(trained) >= 6 and len(trained) >= 3, trained  # recycled every two trials
    assert (tune_dir / "study.db").exists()
    for t in done:
        run = Path(t.user_attrs["run_dir"])
        m = _manifest(run)
        if t.state.name == "PRUNED":  # stopped after the epoch it was pruned at, that epoch committed
            assert m["status"] == "stopped_early" and m["stop_reason"].startswith("pruned by the tune's median")
            assert m["epochs_completed"] == max(t.intermediate_values) < 2
        else:
            assert m["status"] == "completed" and m["epochs_completed"] == 2
        assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + m["epochs_completed"]

    report = json.loads((tune_dir / "report" / "report.json").read_text())
    assert report["finished"] == 6 and report["best"]["state"] == "complete"
    fin = report["final"]
    assert fin["best"]["n"] == 2 and fin["base"]["n"] == 2 and "seed-to-seed spread" in fin["verdict"]
    for name in ("report.md", "optimization_history.png", "param_importances.png"):
        assert (tune_dir / "report" / name).stat().st_size > 0
    from mnist_cnn import config

    best = config.load(tune_dir / "best.yaml")  # a ready recipe with the best values
    assert best.train.optimizer.learning_rate == report["best"]["params"]["train.optimizer.learning_rate"]
    final_runs = [p for p in (tune_dir / "final-best").rglob("manifest.json")]
    assert {_manifest(p.parent)["seed"] for p in final_runs} == {7, 8}  # smoke.yaml's seed and the next

    listed = run_cli("runs", "list", str(tmp_path), "--json")
    assert listed.code == 0, listed.err
    assert len(json.loads(listed.out)["runs"]) == 6 + 4  # trials and final re-trainings are ordinary runs


def test_a_killed_worker_loses_at_most_an_epoch_and_its_trial_is_resumed_and_counted_once(tmp_path, run_cli):
    """...and both trials the re-run's one worker process trained one after another (the resumed one
    and the other) are bit-identical to `train --config` of their config.yaml in a fresh process."""
    space = tmp_path / "space.yaml"
    space.write_text("model.dropout: {low: 0.0, high: 0.5}\n")
    tune_dir = tmp_path / "tune"
    args = ["tune", str(SMOKE), "--space", str(space), *TINY, "--set", "data.subset.train=600",
            "--set", "train.epochs=5", "--trials", "2", "--pruner", "none", "--no-final", *FAST_HEARTBEAT,
            "--tune-dir", str(tune_dir)]  # fmt: skip
    worker = _start(*args, log=tmp_path / "first.log")

    def mid_trial() -> bool:
        for manifest in (tune_dir / "trials").glob("*/*/manifest.json"):
            try:
                if _manifest(manifest.parent)["epochs_completed"] >= 1:  # one epoch committed
                    return True
            except (OSError, ValueError):
                pass
        return False

    _wait_for(mid_trial, worker, tmp_path / "first.log")
    slot = next((tune_dir / "trials").iterdir())
    trial_pid = json.loads((slot / ".lock").read_text())["pid"]
    os.kill(trial_pid, signal.SIGKILL)  # the trial process and the worker loop die without a word
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    (run,) = _runs_per_slot(tune_dir)[slot.name]
    assert _manifest(run)["status"] == "running"  # nobody could record anything
    kept = _manifest(run)["epochs_completed"]
    assert 1 <= kept < 5

    again_log = tmp_path / "again.log"
    again = _start("tune", "run", str(tune_dir), "--no-final", log=again_log)
    _wait(again, again_log)
    done = _assert_counted_once(tune_dir, 2)
    m = _manifest(run)
    assert m["status"] == "completed" and m["epochs_completed"] == 5
    assert [r["from_epoch"] for r in m["resumes"]] == [kept]  # resumed from the last committed epoch
    epochs = [int(line.split(",")[0]) for line in (run / "history.csv").read_text().splitlines()[1:]]
    assert epochs == [1, 2, 3, 4, 5]
    trials = _study(tune_dir).get_trials(deepcopy=False)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].user_attrs["slot"] == slot.name  # the dead attempt, failed by heartbeat
    retry = next(t for t in done if t.user_attrs["slot"] == slot.name)
    assert retry.system_attrs["failed_trial"] == failed[0].number and retry.params == failed[0].params

    # The killed worker's log and ONE more: the re-run's worker process trained both trials, one after the other.
    assert len(list((tune_dir / "logs").iterdir())) == 2
    trial_runs = [Path(t.user_attrs["run_dir"]) for t in done]
    fresh = [tmp_path / f"fresh{i}" for i in range(2)]
    training = [subprocess.Popen([*CLI, "train", "--config", str(r / "config.yaml"), "--runs-dir", str(f)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_subprocess_env())
                for r, f in zip(trial_runs, fresh, strict=True)]  # fmt: skip
    for proc in training:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    for r, f in zip(trial_runs, fresh, strict=True):
        (other,) = f.iterdir()
        compared = run_cli("runs", "compare", str(r), str(other), "--json")
        assert compared.code == 0, compared.out  # identical history and weights


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (Debian: apt-get install postgresql; scripts/test does it)")
    return found[-1].parent


@pytest.fixture
def postgres_url():
    """A throw-away PostgreSQL server on a Unix socket only (no TCP), stopped and deleted afterwards."""
    bin_dir = _pg_bin()
    # Not under tmp_path: PostgreSQL refuses to run as root, and pytest's folders are private to root.
    root = Path(tempfile.mkdtemp(prefix="mnist-cnn-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = root / "data"

    def pg(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    pg(str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8")
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "start",
       "-o", f"-c listen_addresses='' -c unix_socket_directories={root} -c fsync=off")  # fmt: skip
    try:
        yield f"postgresql+psycopg2://postgres@/postgres?host={root}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_real_postgresql_study(tmp_path, postgres_url):
    space = tmp_path / "space.yaml"
    space.write_text("model.dropout: {low: 0.0, high: 0.5}\n")
    tune_dir = tmp_path / "tune"
    first = _start("tune", str(SMOKE), "--space", str(space), *TINY, "--trials", "4", "--pruner", "none",
                   "--storage", postgres_url, "--no-final", "--tune-dir", str(tune_dir),
                   log=tmp_path / "a.log")  # fmt: skip
    _wait_for(lambda: (tune_dir / "tune.json").exists(), first, tmp_path / "a.log")
    second = _start("tune", "run", str(tune_dir), "--no-final", log=tmp_path / "b.log")
    outputs = [_wait(second, tmp_path / "b.log"), _wait(first, tmp_path / "a.log")]
    assert all("trial " in out for out in outputs)  # both workers trained trials of the one study
    assert not (tune_dir / "study.db").exists()  # the study lives in PostgreSQL
    done = _assert_counted_once(tune_dir, 4)
    assert all(t.state.name == "COMPLETE" for t in done)
