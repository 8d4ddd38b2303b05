"""Interruption and exact resume, driven by real signals to a training subprocess.

The children train on the synthetic digits (tests/synthetic.py): the resume protocol does not
depend on the data, and short epochs leave the time to TensorFlow's start-up. Six epochs give every
interruption (after epoch 1 or 2) room to land mid-run even on a loaded machine. Only what needs a
separate process (a real signal, a second process holding the lock) runs in one; the reference run
and the resumes run in this process through the real CLI (`run_cli`), as a user's next command would.
"""

from __future__ import annotations

import functools
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    SMOKE,
    checkpoint_path,
    final_state,
    skip_plots,
    start_training,
    train_in_process,
    wait_for_epochs,
)
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

# Plots are not under test here: the in-process runs skip drawing them.
pytestmark = [pytest.mark.smoke, pytest.mark.usefixtures("no_plots")]
EPOCHS = 6
SETTINGS = ["--set", f"train.epochs={EPOCHS}"]


def _start(runs_dir: Path, *args: str) -> subprocess.Popen:
    return start_training(runs_dir, "--config", str(SMOKE), "--runs-dir", str(runs_dir), *args, synthetic=True)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> rundir.RunDir:
    """The uninterrupted reference run, trained in this process on the synthetic digits."""
    import synthetic
    from mnist_cnn.data import acquire

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(acquire, "load_mnist", synthetic.load_synthetic)
        skip_plots(patch)
        return train_in_process(tmp_path_factory.mktemp("straight") / "runs", *SETTINGS)


@pytest.fixture(scope="module")
def straight(straight_run) -> tuple[bytes, str, str]:
    """What every interrupted-then-resumed run must end with."""
    return final_state(straight_run)


@pytest.fixture
def resume(synthetic_mnist, run_cli):
    """`mnist-cnn train --resume RUN ARGS` in this process (on the synthetic digits): exit code and stdout + stderr."""

    def call(run: rundir.RunDir, *args: str) -> tuple[int, str]:
        result = run_cli("train", "--resume", str(run.root), *args)
        return result.code, result.out + result.err

    return call


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """stopped(sig): a training child stopped by `sig` once 2 epochs are committed (one per signal, shared).

    Returns the run, the child's exit code and output; tests that change the run take a copy (`_copy`).
    """

    @functools.cache
    def stop(sig: signal.Signals) -> tuple[rundir.RunDir, int, str]:
        runs_dir = tmp_path_factory.mktemp(sig.name) / "runs"
        proc = _start(runs_dir, *SETTINGS)
        run = wait_for_epochs(runs_dir, proc, 2)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
        return run, proc.returncode, out

    return stop


def _copy(run: rundir.RunDir, folder: Path) -> rundir.RunDir:
    """A private copy of `run` under folder/runs, to damage or resume."""
    root = folder / "runs" / run.root.name
    shutil.copytree(run.root, root)
    return rundir.RunDir(root)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_then_resume_is_exact(tmp_path, straight, stopped, resume, sig, code):
    original, returncode, out = stopped(sig)
    assert returncode == code, out
    manifest = manifests.read(original).to_json()
    assert manifest["status"] == "interrupted"
    assert f"Resume with: mnist-cnn train --resume {original.root}" in out
    assert "Traceback" not in out
    done = manifest["epochs_completed"]
    assert len(rundir.read_history(original)) == done and 2 <= done < EPOCHS

    run = _copy(original, tmp_path)
    resumed, out = resume(run)
    assert resumed == 0, out
    assert f"Resuming {run.root} from epoch {done}" in out
    assert final_state(run) == straight


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3])
def test_sigkill_then_resume(tmp_path, straight, resume, delay):
    """SIGKILL `delay` s after epoch 1 commits leaves no torn file; resume reaches the uninterrupted result."""
    runs_dir = tmp_path / "runs"
    proc = _start(runs_dir, *SETTINGS)
    run = wait_for_epochs(runs_dir, proc, 1)
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=60)
    manifest = manifests.read(run).to_json()  # parses: not torn
    assert manifest["status"] == "running"  # SIGKILL gives no chance to say more
    assert rundir.read_history(run)  # parses too
    code, out = resume(run)  # the dead process's lock went with it
    assert code == 0, out
    assert final_state(run) == straight


def test_truncated_last_checkpoint_falls_back_to_previous(tmp_path, stopped, straight, resume):
    run = _copy(stopped(signal.SIGINT)[0], tmp_path)
    last = checkpoint_path(run, "last")
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    code, out = resume(run)
    assert code == 0, out
    assert "the last checkpoint is unusable; resuming from epoch" in out
    assert final_state(run) == straight


def test_no_usable_checkpoint_stops_with_a_message(tmp_path, stopped, resume):
    run = _copy(stopped(signal.SIGINT)[0], tmp_path)
    for path in run.checkpoints.iterdir():
        path.write_bytes(b"garbage")
    code, out = resume(run)
    assert code == 1
    assert "no usable checkpoint to resume from" in out and "Traceback" not in out
    assert manifests.read(run).to_json()["status"] == "interrupted"


def test_changed_config_is_refused_but_more_epochs_are_allowed(tmp_path, stopped, straight, resume):
    run = _copy(stopped(signal.SIGINT)[0], tmp_path)
    before = run.manifest.read_bytes()
    code, out = resume(run, "--set", "train.batch_size=16")
    assert code == 2
    assert "only train.epochs may change, but train.batch_size differ" in out
    assert run.manifest.read_bytes() == before
    code, out = resume(run, "--set", f"train.epochs={EPOCHS + 1}")
    assert code == 0, out
    assert len(rundir.read_history(run)) == EPOCHS + 1
    # The first EPOCHS rows are byte for byte those of the straight run (same header, same values).
    assert run.history_csv.read_bytes().startswith(straight[0])


def test_resuming_a_completed_run_does_nothing(tmp_path, straight_run, resume):
    run = _copy(straight_run, tmp_path)
    before = {p: p.read_bytes() for p in run.root.rglob("*") if p.is_file() and p.name not in ("train.log", ".lock")}
    code, out = resume(run)
    assert code == 0
    assert f"run already completed ({EPOCHS} epochs); nothing to resume." in out
    assert {p: p.read_bytes() for p in before} == before


def test_a_second_trainer_is_refused_and_readers_see_committed_state(tmp_path, resume, run_cli):
    """While a run trains in another process: a resume here is refused touching nothing; predict reads its last
    committed epoch."""
    runs_dir = tmp_path / "runs"
    # Long enough to still be training while the checks below run; stopped with SIGINT at the end.
    proc = _start(runs_dir, "--set", "train.epochs=200")
    run = wait_for_epochs(runs_dir, proc, 1)
    code, out = resume(run)
    assert code == 1, out
    assert "being trained by another process (pid " in out and "Traceback" not in out
    sample = str(Path(__file__).resolve().parents[1] / "samples" / "seven-photo.jpg")
    reader = run_cli("predict", sample, "--model", str(run.root))
    assert proc.poll() is None, "training ended before the reader ran"
    assert reader.code == 0, reader.err
    assert "run in progress, using its last committed state" in reader.out
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    manifest = manifests.read(run).to_json()
    assert manifest["status"] == "interrupted" and manifest.get("resumes", []) == []  # the refused one left no trace
    for role in manifest["checkpoints"]:
        assert rundir.file_sha256(checkpoint_path(run, role)) == manifest["checkpoints"][role]["sha256"]
