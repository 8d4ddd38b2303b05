"""A run knows where it lives, and resume checks the network it restores (issue 19, principles 4 and 5).

Training runs on a small synthetic MNIST-shaped set (no dataset needed): the run directory is moved,
deleted or loses its lock between two epoch commits, and a checkpoint of another network is resumed.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

TINY = """\
name: tiny
seed: 3
model: {name: chollet}
train: {epochs: 3, batch_size: 64}
data: {validation: {mode: fraction, fraction: 0.2}}
output: {export: []}
"""
# What happens to the run folder does not depend on the network: one dense layer traces and trains fastest.
ONE_LAYER = "{name: custom, layers: [{type: Flatten}, {type: Dense, args: {units: 10, activation: softmax}}]}"
DENSE = TINY.replace("{name: chollet}", ONE_LAYER)
# Training never reaches its plots here, or they are not what is under test.
pytestmark = pytest.mark.usefixtures("no_plots")


@pytest.fixture
def synthetic(monkeypatch):
    """`train` reads a 320-image synthetic set instead of MNIST."""
    from mnist_cnn.data import acquire
    from mnist_cnn.data.acquire import Mnist

    rng = np.random.default_rng(0)
    data = Mnist(
        rng.integers(0, 256, (320, 28, 28), dtype=np.uint8), rng.integers(0, 10, 320, dtype=np.uint8),
        rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64, dtype=np.uint8),
        "synthetic", "memory",
    )  # fmt: skip
    monkeypatch.setattr(acquire, "load_mnist", lambda *args, **kwargs: data)  # imported at call time by train
    return data


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def dense_config(tmp_path):
    path = tmp_path / "dense.yaml"
    path.write_text(DENSE)
    return path


def _after_first_commit(monkeypatch, action):
    """Run `action(run)` once, right after epoch 1 is committed."""
    from mnist_cnn.train.checkpoints import EpochCommitter

    real = EpochCommitter.commit

    def commit(self, rows, model, elapsed):
        real(self, rows, model, elapsed)
        if rows[-1]["epoch"] == 1:
            action(self.run)

    monkeypatch.setattr(EpochCommitter, "commit", commit)


def _moved(tmp_path):
    return lambda run: shutil.move(run.root, tmp_path / "moved")


def _deleted(run):
    shutil.rmtree(run.root)


def _lock_removed(run):
    (run.root / ".lock").unlink()


@pytest.mark.parametrize(
    ("action", "problem"),
    [("moved", "was deleted, moved or replaced"), ("deleted", "was deleted, moved or replaced"),
     ("lock", "lost the lock file")],
)  # fmt: skip
def test_a_run_directory_that_goes_away_stops_training_without_completing(
    tmp_path, monkeypatch, run_cli, synthetic, dense_config, action, problem
):
    runs_dir = tmp_path / "runs"
    made = []

    def act(run):
        made.append(run.root)
        {"moved": _moved(tmp_path), "deleted": _deleted, "lock": _lock_removed}[action](run)

    _after_first_commit(monkeypatch, act)
    result = run_cli("train", "--config", str(dense_config), "--runs-dir", str(runs_dir), "--json")
    assert result.code == 1, result.err
    assert problem in result.err and "Traceback" not in result.err
    assert "completed" not in result.out
    (root,) = made
    if action != "lock":
        assert not root.exists(), "the run folder was re-created after it went away"
    if action == "moved":
        info = manifests.read(rundir.RunDir(tmp_path / "moved"))
        assert info.status == "running" and info.epochs_completed == 1  # never recorded as completed
    if action == "lock":
        info = manifests.read(rundir.RunDir(root))
        assert info.epochs_completed == 1 and info.status != "completed"


def test_resume_refuses_a_checkpoint_of_another_network(tmp_path, run_cli, synthetic, tiny_config):
    runs_dir = tmp_path / "runs"
    first = run_cli("train", "--config", str(tiny_config), "--runs-dir", str(runs_dir), "--set", "train.epochs=1")
    assert first.code == 0, first.err
    (root,) = runs_dir.iterdir()
    run = rundir.RunDir(root)
    # The config says dlwp (both config.yaml and the manifest's record agree); the checkpoints are Chollet's.
    raw = json.loads(run.manifest.read_text())
    raw["config"]["model"]["name"] = "dlwp"
    raw["config_sha256"] = manifests.config_sha256(raw["config"])
    raw["status"] = "interrupted"
    run.manifest.write_text(json.dumps(raw))
    run.config.write_text(run.config.read_text().replace("name: chollet", "name: dlwp"))
    before = run.manifest.read_bytes()
    result = run_cli("train", "--resume", str(root), "--set", "train.epochs=2")
    assert result.code == 2, result.err
    assert "refusing to resume one network under another's name" in result.err
    assert "dlwp" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert run.manifest.read_bytes() == before  # nothing was trained or recorded
