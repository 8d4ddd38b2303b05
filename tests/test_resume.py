"""Interruption and exact resume, driven by real signals to a training subprocess.

The children train on the synthetic digits (tests/synthetic.py): the resume protocol does not
depend on the data, and short epochs leave the time to TensorFlow's start-up. Ten epochs give
every interruption room to land mid-run even on a loaded machine.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CLI, SMOKE, checkpoint_path, cli_subprocess_env, start_training, train_subprocess, wait_for_epochs
from conftest import final_state as _final_state
from conftest import only_run as _run_dir
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

pytestmark = pytest.mark.smoke
EPOCHS = 10
SETTINGS = ["--set", f"train.epochs={EPOCHS}"]


def _start(runs_dir: Path, *args: str) -> subprocess.Popen:
    return start_training(runs_dir, *args, synthetic=True)


def _train(runs_dir: Path, *args: str) -> tuple[int, str]:
    return train_subprocess(runs_dir, *args, synthetic=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted reference run."""
    runs_dir = tmp_path_factory.mktemp("straight") / "runs"
    code, out = _train(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), *SETTINGS)
    assert code == 0, out
    return _final_state(_run_dir(runs_dir))


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_then_resume_is_exact(tmp_path, straight, sig, code):
    runs_dir = tmp_path / "runs"
    proc = _start(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), *SETTINGS)
    run = wait_for_epochs(runs_dir, proc, 2)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, out
    manifest = manifests.read(run).to_json()
    assert manifest["status"] == "interrupted"
    assert f"Resume with: mnist-cnn train --resume {run.root}" in out
    assert "Traceback" not in out
    done = manifest["epochs_completed"]
    assert len(rundir.read_history(run)) == done and 2 <= done < EPOCHS

    resumed, out = _train(runs_dir, "--resume", str(run.root))
    assert resumed == 0, out
    assert f"Resuming {run.root} from epoch {done}" in out
    assert _final_state(run) == straight


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3])
def test_sigkill_then_resume(tmp_path, straight, delay):
    """SIGKILL `delay` s after epoch 1 commits leaves no torn file; resume reaches the uninterrupted result."""
    runs_dir = tmp_path / "runs"
    proc = _start(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), *SETTINGS)
    run = wait_for_epochs(runs_dir, proc, 1)
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=60)
    manifest = manifests.read(run).to_json()  # parses: not torn
    assert manifest["status"] == "running"  # SIGKILL gives no chance to say more
    assert rundir.read_history(run)  # parses too
    code, out = _train(runs_dir, "--resume", str(run.root))  # the dead process's lock went with it
    assert code == 0, out
    assert _final_state(run) == straight


@pytest.fixture(scope="module")
def interrupted_once(tmp_path_factory) -> rundir.RunDir:
    """A run stopped by SIGINT with at least 2 epochs committed; tests take copies (`interrupted`)."""
    runs_dir = tmp_path_factory.mktemp("interrupted") / "runs"
    proc = _start(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), *SETTINGS)
    run = wait_for_epochs(runs_dir, proc, 2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    return run


@pytest.fixture
def interrupted(tmp_path, interrupted_once) -> rundir.RunDir:
    """A private copy of the interrupted run, to damage or resume (one training start shared by the tests)."""
    root = tmp_path / "runs" / interrupted_once.root.name
    shutil.copytree(interrupted_once.root, root)
    return rundir.RunDir(root)


def test_truncated_last_checkpoint_falls_back_to_previous(interrupted, straight):
    run = interrupted
    last = checkpoint_path(run, "last")
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    code, out = _train(run.root.parent, "--resume", str(run.root))
    assert code == 0, out
    assert "the last checkpoint is unusable; resuming from epoch" in out
    assert _final_state(run) == straight


def test_no_usable_checkpoint_stops_with_a_message(interrupted):
    run = interrupted
    for path in run.checkpoints.iterdir():
        path.write_bytes(b"garbage")
    code, out = _train(run.root.parent, "--resume", str(run.root))
    assert code == 1
    assert "no usable checkpoint to resume from" in out and "Traceback" not in out
    assert manifests.read(run).to_json()["status"] == "interrupted"


def test_changed_config_is_refused_but_more_epochs_are_allowed(interrupted, straight):
    run = interrupted
    before = run.manifest.read_bytes()
    code, out = _train(run.root.parent, "--resume", str(run.root), "--set", "train.batch_size=16")
    assert code == 2
    assert "only train.epochs may change, but train.batch_size differ" in out
    assert run.manifest.read_bytes() == before
    code, out = _train(run.root.parent, "--resume", str(run.root), "--set", f"train.epochs={EPOCHS + 1}")
    assert code == 0, out
    assert len(rundir.read_history(run)) == EPOCHS + 1
    # The first EPOCHS rows are byte for byte those of the straight run (same header, same values).
    assert run.history_csv.read_bytes().startswith(straight[0])


def test_resuming_a_completed_run_does_nothing(tmp_path, straight):
    runs_dir = tmp_path / "runs"
    code, _ = _train(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), "--set", "train.epochs=1")
    assert code == 0
    run = _run_dir(runs_dir)
    before = {p: p.read_bytes() for p in run.root.rglob("*") if p.is_file() and p.name not in ("train.log", ".lock")}
    code, out = _train(runs_dir, "--resume", str(run.root))
    assert code == 0
    assert "run already completed (1 epochs); nothing to resume." in out
    assert {p: p.read_bytes() for p in before} == before


def test_a_second_trainer_is_refused_and_readers_see_committed_state(tmp_path):
    """While a run trains: another resume is refused touching nothing; predict reads its last committed epoch."""
    runs_dir = tmp_path / "runs"
    # Long enough to still be training while the checks below run; stopped with SIGINT at the end.
    proc = _start(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), "--set", "train.epochs=200")
    run = wait_for_epochs(runs_dir, proc, 1)
    code, out = _train(runs_dir, "--resume", str(run.root))
    assert code == 1, out
    assert "being trained by another process (pid " in out and "Traceback" not in out
    sample = str(Path(__file__).resolve().parents[1] / "samples" / "seven-photo.jpg")
    reader = subprocess.run([*CLI, "predict", sample, "--model", str(run.root)], capture_output=True, text=True,
                            env=cli_subprocess_env(synthetic=True), timeout=120)  # fmt: skip
    assert proc.poll() is None, "training ended before the reader ran"
    assert reader.returncode == 0, reader.stderr
    assert "run in progress, using its last committed state" in reader.stdout
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    manifest = manifests.read(run).to_json()
    assert manifest["status"] == "interrupted" and manifest.get("resumes", []) == []  # the refused one left no trace
    for role in manifest["checkpoints"]:
        assert rundir.file_sha256(checkpoint_path(run, role)) == manifest["checkpoints"][role]["sha256"]
