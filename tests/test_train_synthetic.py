"""Train, predict and export end to end on the synthetic digits (resume and faults: test_commit_faults.py)."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, SMOKE, SYNTHETIC_EPOCHS, checkpoint_path
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir


def _state(run: rundir.RunDir) -> tuple[bytes, str, str]:
    manifest = manifests.read(run).to_json()
    return run.history_csv.read_bytes(), manifest["checkpoints"]["last"]["weights_sha256"], manifest["status"]


def test_a_synthetic_run_is_complete_verified_and_well_above_chance(synthetic_run):
    import synthetic

    run = synthetic_run
    manifest = manifests.read(run).to_json()
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == SYNTHETIC_EPOCHS
    for role, entry in manifest["checkpoints"].items():
        assert rundir.file_sha256(checkpoint_path(run, role)) == entry["sha256"], role
    # The manifest records the data it trained on, not MNIST's checksums.
    assert manifest["data"]["sha256"]["x_train"] == synthetic.dataset().digests["x_train"]
    for name in ("history", "samples", "confusion_matrix", "misclassified"):
        assert (run.plots / f"{name}.png").stat().st_size > 1000, name
    metrics = json.loads(run.metrics.read_text())
    assert metrics["test"]["num_examples"] == 200
    assert metrics["test"]["accuracy"] > 0.5  # ten classes: chance is 0.1
    history = rundir.read_history(run)
    assert [row["epoch"] for row in history] == [1, 2] and history[1]["loss"] < history[0]["loss"]
    onnx = manifest["exports"]["onnx"]
    assert onnx["sha256"] == rundir.file_sha256(run.root / onnx["file"])
    assert onnx["verification"]["images"] == 200 and onnx["verification"]["argmax_agreement"] >= 0.995
    assert not list(run.root.rglob("*.tmp*")), "temporary files left behind"


def test_predict_and_evaluate_go_through_the_verified_onnx_export(synthetic_mnist, synthetic_run, run_cli):
    result = run_cli("predict", str(ROOT / "samples"), "--model", str(synthetic_run.root), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["runtime"] == "onnxruntime" and len(report["predictions"]) == 10
    evaluated = run_cli("evaluate", str(synthetic_run.root), "--json")
    assert evaluated.code == 0, evaluated.err
    recorded = json.loads(synthetic_run.metrics.read_text())["test"]
    assert json.loads(evaluated.out)["test"]["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-6)


def test_the_smoke_recipe_takes_the_whole_synthetic_set(synthetic_mnist):
    from mnist_cnn import config
    from mnist_cnn.data import preparation

    prepared = preparation.prepare(synthetic_mnist, config.load(SMOKE).data)
    assert len(prepared.y_train) + len(prepared.y_val) == 400 and len(prepared.y_test) == 200
