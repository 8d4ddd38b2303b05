"""Augmented training is bit-identical on rerun and exact on resume (real subprocesses, real signals).

On the synthetic digits (tests/synthetic.py): augmentation and its random state do not depend on
which digits they distort, and six short epochs leave the interruption room to land mid-run.
"""

from __future__ import annotations

import signal

import pytest

from conftest import ROOT, final_state, only_run, start_training, train_subprocess, wait_for_epochs
from mnist_cnn.runs import manifest as manifests

pytestmark = pytest.mark.smoke
AUGMENTED = ROOT / "configs" / "smoke-augment.yaml"
EPOCHS = 6
SETTINGS = ["--set", f"train.epochs={EPOCHS}"]


def _fresh(runs_dir):
    code, out = train_subprocess(runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS,
                                 synthetic=True)  # fmt: skip
    assert code == 0, out
    return final_state(only_run(runs_dir))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted augmented reference run."""
    return _fresh(tmp_path_factory.mktemp("straight") / "runs")


def test_augmented_rerun_is_bit_identical(tmp_path, straight):
    history, weights, status = straight
    assert status == "completed" and history.count(b"\n") == EPOCHS + 1  # header + one row per epoch
    assert _fresh(tmp_path / "runs") == straight


def test_augmented_run_interrupted_then_resumed_equals_a_straight_one(tmp_path, straight):
    runs_dir = tmp_path / "runs"
    proc = start_training(runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS, synthetic=True)
    run = wait_for_epochs(runs_dir, proc, 1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    done = manifests.read(run).to_json()["epochs_completed"]
    assert 1 <= done < EPOCHS, "the interruption must land mid-run for this test to mean anything"
    code, out = train_subprocess(runs_dir, "--resume", str(run.root), synthetic=True)
    assert code == 0, out
    assert f"Resuming {run.root} from epoch {done}" in out
    assert final_state(run) == straight


def test_augmentation_changes_training(tmp_path, straight):
    """The augmented config really trains on different images than the same config without augmentation."""
    runs_dir = tmp_path / "runs"
    code, out = train_subprocess(
        runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS, "--set", "data.augmentation=null",
        synthetic=True,
    )  # fmt: skip
    assert code == 0, out
    assert final_state(only_run(runs_dir))[1] != straight[1]
