"""Faults during training: I/O errors at every commit step, a signal during final scoring, divergence."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal

import pytest

from conftest import SMOKE, SMOKE_EPOCHS
from mnist_cnn import atomic
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

pytestmark = pytest.mark.smoke
EPOCHS = ["--set", f"train.epochs={SMOKE_EPOCHS}"]


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


@pytest.mark.parametrize("target", ["epoch-0002.keras", "history.csv", "history.json", "manifest.json"])
def test_disk_full_at_any_commit_step_leaves_a_resumable_run(tmp_path, monkeypatch, run_cli, smoke_run, target):
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
    result = run_cli("train", "--config", str(SMOKE), "--runs-dir", str(runs_dir), *EPOCHS)
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
    assert _state(run) == _state(smoke_run)
    _assert_files_match_manifest(run)


def test_a_signal_during_final_scoring_leaves_a_resumable_run(tmp_path, monkeypatch, run_cli, smoke_run):
    from mnist_cnn import evaluate

    real_score = evaluate.score

    def score_then_sigterm(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_score(*args, **kwargs)

    monkeypatch.setattr(evaluate, "score", score_then_sigterm)
    runs_dir = tmp_path / "runs"
    result = run_cli("train", "--config", str(SMOKE), "--runs-dir", str(runs_dir), *EPOCHS)
    monkeypatch.setattr(evaluate, "score", real_score)
    run = _only_run(runs_dir)
    assert result.code == 143
    assert f"Resume with: mnist-cnn train --resume {run.root}" in result.out
    assert manifests.read(run).status == "interrupted"

    resumed = run_cli("train", "--resume", str(run.root))
    assert resumed.code == 0, resumed.err
    assert _state(run) == _state(smoke_run)
    assert json.loads(run.metrics.read_text())["test"] == json.loads(smoke_run.metrics.read_text())["test"]


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


def test_divergence_is_a_failure_with_strict_json(tmp_path, run_cli, mnist):
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
