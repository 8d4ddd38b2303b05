"""Augmented training is bit-identical on rerun and exact on resume (a real subprocess, a real signal).

On the synthetic digits (tests/synthetic.py): augmentation and its random state do not depend on
which digits they distort, and four short epochs leave the interruption room to land mid-run. The
reference run and the resume run in this process through the real CLI; the rerun and the
interrupted run are child processes, so "bit-identical" holds across processes too.
"""

from __future__ import annotations

import signal

import pytest

from conftest import ROOT, final_state, only_run, skip_plots, start_training, train_subprocess, wait_for_epochs
from mnist_cnn.runs import manifest as manifests

pytestmark = pytest.mark.smoke
AUGMENTED = ROOT / "configs" / "smoke-augment.yaml"
EPOCHS = 4
SETTINGS = ["--set", f"train.epochs={EPOCHS}"]


def _train_here(runs_dir, *args: str) -> tuple[bytes, str, str]:
    """Train the augmented recipe in this process on the synthetic digits (no plots: not under test here)."""
    import synthetic
    from mnist_cnn.cli import main
    from mnist_cnn.data import acquire

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(acquire, "load_mnist", synthetic.load_synthetic)
        skip_plots(patch)
        try:
            main(["train", "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS, *args])
        except SystemExit as exc:
            pytest.fail(f"training exited with {exc.code}")
    return final_state(only_run(runs_dir))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted augmented reference run."""
    return _train_here(tmp_path_factory.mktemp("straight") / "runs")


def test_augmented_rerun_in_another_process_is_bit_identical(tmp_path, straight):
    history, weights, status = straight
    assert status == "completed" and history.count(b"\n") == EPOCHS + 1  # header + one row per epoch
    runs_dir = tmp_path / "runs"
    code, out = train_subprocess(runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS,
                                 synthetic=True)  # fmt: skip
    assert code == 0, out
    assert final_state(only_run(runs_dir)) == straight


def test_augmented_run_interrupted_then_resumed_equals_a_straight_one(
    tmp_path, straight, synthetic_mnist, no_plots, run_cli
):
    runs_dir = tmp_path / "runs"
    proc = start_training(runs_dir, "--config", str(AUGMENTED), "--runs-dir", str(runs_dir), *SETTINGS, synthetic=True)
    run = wait_for_epochs(runs_dir, proc, 1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    done = manifests.read(run).to_json()["epochs_completed"]
    assert 1 <= done < EPOCHS, "the interruption must land mid-run for this test to mean anything"
    resumed = run_cli("train", "--resume", str(run.root))
    assert resumed.code == 0, resumed.out + resumed.err
    assert f"Resuming {run.root} from epoch {done}" in resumed.out
    assert final_state(run) == straight


def test_augmentation_changes_training(tmp_path, straight):
    """The augmented config really trains on different images than the same config without augmentation."""
    assert _train_here(tmp_path / "runs", "--set", "data.augmentation=null")[1] != straight[1]
