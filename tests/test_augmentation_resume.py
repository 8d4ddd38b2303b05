"""Augmented training is bit-identical on rerun and exact on resume (real subprocesses, real signals)."""

from __future__ import annotations

import signal

import pytest
from test_resume import _final_state, _run_dir, _start, _train, _wait_for_epochs

from conftest import ROOT
from mnist_cnn.runs import manifest as manifests

pytestmark = pytest.mark.smoke
AUGMENTED = ROOT / "configs" / "smoke-augment.yaml"
SETTINGS = ["--set", "train.epochs=3"]


def _fresh(runs_dir):
    code, out = _train(runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS)
    assert code == 0, out
    return _final_state(_run_dir(runs_dir))


@pytest.fixture(scope="module")
def straight(tmp_path_factory, mnist):
    """The uninterrupted augmented reference run."""
    return _fresh(tmp_path_factory.mktemp("straight") / "runs")


def test_augmented_rerun_is_bit_identical(tmp_path, straight):
    history, weights, status = straight
    assert status == "completed" and history.count(b"\n") == 4  # header + 3 epochs
    assert _fresh(tmp_path / "runs") == straight


def test_augmented_run_interrupted_then_resumed_equals_a_straight_one(tmp_path, straight):
    runs_dir = tmp_path / "runs"
    proc = _start(runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS)
    run = _wait_for_epochs(runs_dir, proc, 1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    done = manifests.read(run).to_json()["epochs_completed"]
    assert 1 <= done < 3, "the interruption must land mid-run for this test to mean anything"
    code, out = _train(runs_dir, "--resume", str(run.root))
    assert code == 0, out
    assert f"Resuming {run.root} from epoch {done}" in out
    assert _final_state(run) == straight


def test_augmentation_changes_training(tmp_path, straight):
    """The augmented config really trains on different images than the same config without augmentation."""
    runs_dir = tmp_path / "runs"
    code, out = _train(
        runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS, "--set", "data.augmentation=null"
    )
    assert code == 0, out
    assert _final_state(_run_dir(runs_dir))[1] != straight[1]
