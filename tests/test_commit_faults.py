"""The commit protocol: exact resume, I/O errors at every commit step, a signal during final scoring, divergence.

Fast tier: a one-layer model on the synthetic digits (tests/synthetic.py), so each fault costs a
fraction of a second of training; what is under test is the commit protocol, not the network.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal

import pytest

from conftest import skip_plots
from mnist_cnn import atomic
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

# Plots are skipped (the synthetic reference run in test_train_synthetic covers them): drawing costs
# more than these epochs, and the commit protocol under test does not depend on them.
pytestmark = pytest.mark.usefixtures("no_plots")

TINY = """
name: faults
seed: 7
data: {validation: {mode: fraction, fraction: 0.1}}
model:
  name: custom
  layers: [{type: Flatten}, {type: Dense, args: {units: 10, activation: softmax}}]
train: {epochs: 2, batch_size: 32}
output: {export: []}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny recipe on the synthetic digits, and its uninterrupted run that every faulty one must end equal to."""
    import synthetic
    from mnist_cnn.cli import main
    from mnist_cnn.data import acquire

    folder = tmp_path_factory.mktemp("tiny")
    recipe = folder / "tiny.yaml"
    recipe.write_text(TINY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(acquire, "load_mnist", synthetic.load_synthetic)
        skip_plots(patch)
        with contextlib.suppress(SystemExit):
            main(["train", "--config", str(recipe), "--runs-dir", str(folder / "straight")])
        straight = _only_run(folder / "straight")
        assert manifests.read(straight).status == "completed"
        yield recipe, straight


def _state(run: rundir.RunDir) -> tuple[bytes, str, str]:
    m = manifests.read(run)
    return run.history_csv.read_bytes(), m.checkpoints["last"].weights_sha256, m.status


def _only_run(runs_dir) -> rundir.RunDir:
    (root,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return rundir.RunDir(root)


def _assert_files_match_manifest(run: rundir.RunDir) -> None:
    m = manifests.read(run)
    for role, record in m.checkpoints.items():
        assert rundir.file_sha256(record.path(run, role)) == record.sha256, role
    assert len(rundir.read_history(run)) >= m.epochs_completed


def test_resume_to_more_epochs_ends_where_a_straight_run_ends(tmp_path, run_cli, tiny):
    recipe, straight = tiny
    result = run_cli("train", "--config", str(recipe), "--runs-dir", str(tmp_path / "runs"), "--set", "train.epochs=1")
    assert result.code == 0, result.err
    short = _only_run(tmp_path / "runs")
    assert rundir.read_history(short)[0] == rundir.read_history(straight)[0]
    resumed = run_cli("train", "--resume", str(short.root), "--set", "train.epochs=2")
    assert resumed.code == 0, resumed.err
    assert f"Resuming {short.root} from epoch 1" in resumed.out
    assert _state(short) == _state(straight)
    assert json.loads(short.metrics.read_text())["test"] == json.loads(straight.metrics.read_text())["test"]


@pytest.mark.parametrize("target", ["epoch-0002.keras", "history.csv", "history.json", "manifest.json"])
def test_disk_full_at_any_commit_step_leaves_a_resumable_run(tmp_path, monkeypatch, run_cli, tiny, target):
    recipe, straight = tiny
    real = atomic.atomic_path
    armed = {"on": target == "epoch-0002.keras"}

    @contextlib.contextmanager
    def full_disk(path):
        name = os.path.basename(str(path))
        if name == "epoch-0002.keras":
            armed["on"] = True
        if armed["on"] and name == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        with real(path) as tmp:
            yield tmp

    monkeypatch.setattr(atomic, "atomic_path", full_disk)
    runs_dir = tmp_path / "runs"
    result = run_cli("train", "--config", str(recipe), "--runs-dir", str(runs_dir))
    monkeypatch.setattr(atomic, "atomic_path", real)
    run = _only_run(runs_dir)
    assert result.code == 1, result.err
    assert "No space left on device" in result.err and "Traceback" not in result.err
    assert f"Resume with: mnist-cnn train --resume {run.root}" in result.out
    m = manifests.read(run)
    assert m.epochs_completed == 1
    # With the manifest itself unwritable, the status cannot say "failed": it stays as last written.
    assert m.status == ("running" if target == "manifest.json" else "failed")
    _assert_files_match_manifest(run)

    resumed = run_cli("train", "--resume", str(run.root))
    assert resumed.code == 0, resumed.err
    assert _state(run) == _state(straight)
    _assert_files_match_manifest(run)


def test_a_signal_during_final_scoring_leaves_a_resumable_run(tmp_path, monkeypatch, run_cli, tiny):
    recipe, straight = tiny
    from mnist_cnn import evaluate

    real_score = evaluate.score

    def score_then_sigterm(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_score(*args, **kwargs)

    monkeypatch.setattr(evaluate, "score", score_then_sigterm)
    runs_dir = tmp_path / "runs"
    result = run_cli("train", "--config", str(recipe), "--runs-dir", str(runs_dir))
    monkeypatch.setattr(evaluate, "score", real_score)
    run = _only_run(runs_dir)
    assert result.code == 143
    assert f"Resume with: mnist-cnn train --resume {run.root}" in result.out
    assert manifests.read(run).status == "interrupted"

    resumed = run_cli("train", "--resume", str(run.root))
    assert resumed.code == 0, resumed.err
    assert _state(run) == _state(straight)
    assert json.loads(run.metrics.read_text())["test"] == json.loads(straight.metrics.read_text())["test"]


DIVERGING = """
name: nan
seed: 7
data: {subset: {train: 2000, test: 1000}}
model:
  name: custom
  layers:  # exp(exp(x)) overflows to inf within the first epoch: the loss becomes NaN
    - {type: Flatten}
    - {type: Dense, args: {units: 32}}
    - {type: Activation, args: {activation: exponential}}
    - {type: Dense, args: {units: 32}}
    - {type: Activation, args: {activation: exponential}}
    - {type: Dense, args: {units: 10, activation: softmax}}
train: {epochs: 3, batch_size: 64, optimizer: {learning_rate: 0.1}}
"""


def test_divergence_is_a_failure_with_strict_json(tmp_path, run_cli, tiny):
    recipe = tmp_path / "nan.yaml"
    recipe.write_text(DIVERGING)
    runs_dir = tmp_path / "runs"
    result = run_cli("train", "--config", str(recipe), "--runs-dir", str(runs_dir), "--json")
    assert result.code == 1
    assert "training diverged at epoch 1" in result.err and "Traceback" not in result.err
    run = _only_run(runs_dir)
    text = run.manifest.read_text()
    m = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert m["status"] == "diverged" and m["diverged"]["epoch"] == 1
    again = run_cli("train", "--resume", str(run.root))
    assert again.code == 1 and "resuming would diverge again" in again.err
