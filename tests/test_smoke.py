"""Smoke training on a real MNIST subset: every run-dir file, real accuracy, bit-identical reruns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import SMOKE, SMOKE_EPOCHS, SMOKE_RUN_ARGS, checkpoint_path, train_in_process
from mnist_cnn import config
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, smoke_run):
    """The shared smoke run and a second, identical one in another folder."""
    second = train_in_process(tmp_path_factory.mktemp("runs-b"), *SMOKE_RUN_ARGS)
    return smoke_run, second


def test_run_directory_is_complete_and_loadable(smoke_runs):
    run, _ = smoke_runs
    for path in (
        run.config,
        run.manifest,
        run.history_csv,
        run.history_json,
        run.metrics,
        run.log,
        checkpoint_path(run, "last"),
        checkpoint_path(run, "best"),
        checkpoint_path(run, "previous"),
    ):
        assert path.is_file() and path.stat().st_size > 0, path
    for name in ("history", "samples", "confusion_matrix", "misclassified"):
        with Image.open(run.plots / f"{name}.png") as image:
            assert image.width > 300
    assert config.load(run.config) == config.load(
        SMOKE, [f"output.runs_dir={run.root.parent}", f"train.epochs={SMOKE_EPOCHS}", "output.export=[onnx]"]
    )
    manifest = manifests.read(run).to_json()
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == SMOKE_EPOCHS
    assert manifest["data"]["sha256"]["x_train"].startswith("741c988805d0")
    assert manifest["versions"]["keras"].startswith("3.")
    assert manifest["reproducibility"]["op_determinism"] is True
    assert set(manifest["checkpoints"]) == {"last", "previous", "best"}
    for role, entry in manifest["checkpoints"].items():
        assert rundir.file_sha256(checkpoint_path(run, role)) == entry["sha256"], role
    assert manifest["checkpoints"]["last"]["epoch"] == SMOKE_EPOCHS
    assert manifest["checkpoints"]["previous"]["epoch"] == SMOKE_EPOCHS - 1
    # Only the files the manifest names are kept.
    names = {entry["file"] for entry in manifest["checkpoints"].values()}
    assert {p.name for p in run.checkpoints.iterdir()} == names
    assert "Test accuracy" in run.log.read_text()
    assert not list(run.root.rglob("*.tmp*")), "temporary files left behind"


def test_accuracy_well_above_chance(smoke_runs):
    run, _ = smoke_runs
    metrics = json.loads(run.metrics.read_text())
    assert metrics["test"]["num_examples"] == 1000
    assert metrics["test"]["accuracy"] > 0.85
    assert metrics["parameters"] == 34826
    matrix = np.array(metrics["test"]["confusion_matrix"])
    assert matrix.sum() == 1000 and np.trace(matrix) / 1000 == pytest.approx(metrics["test"]["accuracy"])
    history = rundir.read_history(run)
    assert [row["epoch"] for row in history] == list(range(1, SMOKE_EPOCHS + 1))
    assert history[-1]["loss"] < history[0]["loss"]


def test_checkpoint_reproduces_metrics(smoke_runs, mnist):
    import keras

    from mnist_cnn import evaluate
    from mnist_cnn.data import preparation

    run, _ = smoke_runs
    model = keras.saving.load_model(checkpoint_path(run, "last"), safe_mode=True)
    prepared = preparation.prepare(mnist, config.load(run.config).data)
    summary, _ = evaluate.score(model, preparation.scale(prepared.x_test), prepared.y_test)
    metrics = json.loads(run.metrics.read_text())["test"]
    assert summary["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert summary["loss"] == pytest.approx(metrics["loss"], abs=1e-6)


def test_identical_rerun_is_bit_identical(smoke_runs):
    first, second = smoke_runs
    assert first.history_csv.read_bytes() == second.history_csv.read_bytes()
    a, b = manifests.read(first).to_json()["checkpoints"], manifests.read(second).to_json()["checkpoints"]
    assert a["last"]["weights_sha256"] == b["last"]["weights_sha256"]
    assert a["best"]["weights_sha256"] == b["best"]["weights_sha256"]
    assert json.loads(first.metrics.read_text())["test"] == json.loads(second.metrics.read_text())["test"]


def test_a_different_seed_gives_a_different_run(tmp_path, smoke_runs, mnist, run_cli):
    other = train_in_process(tmp_path, "--set", "seed=8", "--set", "train.epochs=1")
    first, second = smoke_runs
    assert rundir.read_history(other)[0]["loss"] != rundir.read_history(first)[0]["loss"]

    same = run_cli("runs", "compare", str(first.root), str(second.root))
    assert same.code == 0 and "Verdict: IDENTICAL" in same.out
    differ = run_cli("runs", "compare", str(first.root), str(other.root), "--json")
    assert differ.code == 1
    verdict = json.loads(differ.out)
    assert not verdict["identical"] and not verdict["config_identical"]
    assert {"fact": "reproducibility.seed", "a": 7, "b": 8} in verdict["environment_differences"]


def test_compare_never_calls_a_damaged_run_identical(tmp_path, smoke_runs, run_cli):
    import shutil

    first, second = smoke_runs
    copy = rundir.RunDir(tmp_path / "copy")
    shutil.copytree(second.root, copy.root)
    best = checkpoint_path(copy, "best")
    best.write_bytes(best.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    result = run_cli("runs", "compare", str(first.root), str(copy.root))
    assert result.code == 1
    assert "Verdict: DAMAGED" in result.out and best.name in result.out


def test_a_terminal_sees_a_progress_bar_and_the_log_keeps_one_line_per_epoch(tmp_path):
    import os
    import subprocess

    from conftest import CLI, cli_subprocess_env

    leader, follower = os.openpty()  # the child's stdout is a terminal, as in an interactive shell
    proc = subprocess.Popen(
        [*CLI, "train", "--config", str(SMOKE), "--runs-dir", str(tmp_path), "--set", "train.epochs=1"],
        stdout=follower, stderr=subprocess.STDOUT, env=cli_subprocess_env(synthetic=True), cwd=tmp_path,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=300) == 0
    shown = b"".join(chunks).decode(errors="replace")
    assert "/12" in shown and "step" in shown  # Keras' bar: steps done of 12 (360 synthetic digits), time per step
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    log = (run / "train.log").read_text()
    assert "step" not in log and log.count("Epoch 1/1") == 1
