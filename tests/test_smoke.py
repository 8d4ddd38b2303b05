"""Smoke training on a real MNIST subset: every run-dir file, real accuracy, bit-identical reruns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import SMOKE
from mnist_cnn import config
from mnist_cnn.runs import rundir

pytestmark = pytest.mark.smoke


def _train(runs_dir, *extra: str) -> rundir.RunDir:
    from mnist_cnn.cli import main

    try:
        main(["train", "--config", str(SMOKE), "--runs-dir", str(runs_dir), *extra])
    except SystemExit as exc:
        pytest.fail(f"training exited with {exc.code}")
    (root,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return rundir.RunDir(root)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory, mnist):
    """The smoke recipe trained twice, in separate run folders."""
    first = _train(tmp_path_factory.mktemp("runs-a"))
    second = _train(tmp_path_factory.mktemp("runs-b"))
    return first, second


def test_run_directory_is_complete_and_loadable(smoke_runs):
    run, _ = smoke_runs
    for path in (
        run.config,
        run.manifest,
        run.history_csv,
        run.history_json,
        run.metrics,
        run.log,
        run.last_checkpoint,
        run.best_checkpoint,
        run.previous_checkpoint,
    ):
        assert path.is_file() and path.stat().st_size > 0, path
    for name in ("history", "samples", "confusion_matrix", "misclassified"):
        with Image.open(run.plots / f"{name}.png") as image:
            assert image.width > 300
    assert config.load(run.config) == config.load(SMOKE, [f"output.runs_dir={run.root.parent}"])
    manifest = run.read_manifest()
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 2
    assert manifest["data"]["sha256"]["x_train"].startswith("741c988805d0")
    assert manifest["versions"]["keras"].startswith("3.")
    assert manifest["reproducibility"]["op_determinism"] is True
    for entry in manifest["checkpoints"].values():
        assert rundir.file_sha256(run.root / "checkpoints" / "previous.keras") == entry["sha256"] or entry["epoch"] == 2
    assert rundir.file_sha256(run.last_checkpoint) == manifest["checkpoints"]["last"]["sha256"]
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
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]


def test_checkpoint_reproduces_metrics(smoke_runs, mnist):
    import keras

    from mnist_cnn import evaluate
    from mnist_cnn.data import preparation

    run, _ = smoke_runs
    model = keras.saving.load_model(run.last_checkpoint, safe_mode=True)
    prepared = preparation.prepare(mnist, config.load(run.config).data)
    summary, _ = evaluate.score(model, preparation.scale(prepared.x_test), prepared.y_test)
    metrics = json.loads(run.metrics.read_text())["test"]
    assert summary["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert summary["loss"] == pytest.approx(metrics["loss"], abs=1e-6)


def test_identical_rerun_is_bit_identical(smoke_runs):
    first, second = smoke_runs
    assert first.history_csv.read_bytes() == second.history_csv.read_bytes()
    a, b = first.read_manifest()["checkpoints"], second.read_manifest()["checkpoints"]
    assert a["last"]["weights_sha256"] == b["last"]["weights_sha256"]
    assert a["best"]["weights_sha256"] == b["best"]["weights_sha256"]
    assert json.loads(first.metrics.read_text())["test"] == json.loads(second.metrics.read_text())["test"]


def test_a_different_seed_gives_a_different_run(tmp_path, smoke_runs, mnist, run_cli):
    other = _train(tmp_path, "--set", "seed=8", "--set", "train.epochs=1")
    first, second = smoke_runs
    assert rundir.read_history(other)[0]["loss"] != rundir.read_history(first)[0]["loss"]

    same = run_cli("runs", "compare", str(first.root), str(second.root))
    assert same.code == 0 and "Verdict: IDENTICAL" in same.out
    differ = run_cli("runs", "compare", str(first.root), str(other.root), "--json")
    assert differ.code == 1
    verdict = json.loads(differ.out)
    assert not verdict["identical"] and not verdict["config_identical"]
    assert {"fact": "reproducibility.seed", "a": 7, "b": 8} in verdict["environment_differences"]
