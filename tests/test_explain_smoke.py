"""`explain` and the feature-map export on the shared smoke run (real MNIST, its ONNX export)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import CLI, ROOT, checkpoint_path, cli_subprocess_env

pytestmark = pytest.mark.smoke
SAMPLES = ROOT / "samples"


def explain_without_tensorflow(tmp_path, *args: str) -> tuple[int, dict, str]:
    """`mnist-cnn explain ARGS --json` in a child process where importing TensorFlow or Keras fails."""
    blocked = tmp_path / "blocked"
    for name in ("tensorflow", "keras"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
    env = cli_subprocess_env()
    env["PYTHONPATH"] += os.pathsep + str(blocked)  # after src, before site-packages
    done = subprocess.run([*CLI, "explain", *args, "--json"], capture_output=True, text=True, env=env, timeout=300)
    return done.returncode, json.loads(done.stdout or "{}"), done.stderr


def test_explain_on_samples_writes_a_panel_per_image_without_tensorflow(smoke_run, tmp_path):
    from PIL import Image

    panels = str(tmp_path / "panels")
    code, report, stderr = explain_without_tensorflow(
        tmp_path, str(SAMPLES), "--model", str(smoke_run.root), "--out", panels
    )
    assert code == 0, stderr  # the run's ONNX export and features.onnx: TensorFlow is never imported
    assert report["feature_maps_missing"] is None and report["errors"] == []
    assert len(report["explained"]) == len(list(SAMPLES.glob("*-photo.*")))
    for row in report["explained"]:
        assert [layer["name"] for layer in row["layers"]] == ["conv1", "pool1", "conv2", "pool2"]
        assert all(layer["max_activation"] > 0 for layer in row["layers"])
        grid = np.asarray(row["saliency"]["grid"])
        assert grid.shape == (28, 28) and grid.max() > 0
        assert row["probabilities"][row["digit"]] == row["probability"]
        with Image.open(row["panel"]) as panel:
            assert panel.size[0] > 500 and panel.size[1] > 500
    sevens = [row for row in report["explained"] if row["path"].endswith("seven-photo.jpg")]
    assert sevens[0]["digit"] == 7


def test_explain_gives_predicts_probabilities(smoke_run, tmp_path, run_cli):
    photo = str(SAMPLES / "seven-photo.jpg")
    explained = run_cli("explain", photo, "--model", str(smoke_run.root), "--out", str(tmp_path), "--json")
    predicted = run_cli("predict", photo, "--model", str(smoke_run.root), "--json")
    assert explained.code == 0 and predicted.code == 0, explained.err + predicted.err
    row = json.loads(explained.out)["explained"][0]
    assert row["top_k"] == json.loads(predicted.out)["predictions"][0]["top_k"]


def test_feature_model_outputs_equal_keras_intermediate_activations(smoke_run, mnist):
    from mnist_cnn.explain.features import KerasFeatures, OnnxFeatures
    from mnist_cnn.inference import modelfiles
    from mnist_cnn.runs import manifest

    record = manifest.read(smoke_run).exports["onnx"]["features"]
    assert record["verification"]["images"] == 1000  # the smoke run's whole test set
    assert record["verification"]["argmax_agreement"] == 1.0
    path = smoke_run.root / record["file"]
    onnx_features = OnnxFeatures(path.read_bytes(), path)
    keras_model = modelfiles.load(modelfiles.ModelSource(checkpoint_path(smoke_run, record["source_checkpoint"])))
    images = (mnist.x_test[:64].reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    keras_probs, keras_maps = KerasFeatures(keras_model).outputs(images)
    onnx_probs, onnx_maps = onnx_features.outputs(images)
    assert [layer.name for layer in onnx_features.layers] == ["conv1", "pool1", "conv2", "pool2"]
    np.testing.assert_allclose(onnx_probs, keras_probs, atol=1e-5)
    for layer, want, have in zip(onnx_features.layers, keras_maps, onnx_maps, strict=True):
        assert have.shape == (64, *layer.shape)
        np.testing.assert_allclose(have, want, atol=1e-4 * float(np.abs(want).max()), err_msg=layer.name)


def test_training_writes_the_first_layers_filters(smoke_run):
    assert (smoke_run.plots / "filters.png").stat().st_size > 5_000


def test_an_export_without_the_feature_model_still_predicts_and_says_what_to_run(smoke_run, tmp_path, run_cli):
    run = tmp_path / smoke_run.root.name
    shutil.copytree(smoke_run.root, run)
    (run / "export" / "features.onnx").unlink()  # as an export made before feature maps existed
    result = run_cli("explain", str(SAMPLES / "seven-photo.jpg"), "--model", str(run), "--out", str(tmp_path / "p"),
                     "--json")  # fmt: skip
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["explained"][0]["digit"] == 7 and report["explained"][0]["layers"] == []
    assert f"mnist-cnn export {run} --format onnx" in report["feature_maps_missing"]
    assert (tmp_path / "p" / "seven-photo.png").is_file()

    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(run / "export" / "model.onnx", loose / "model.onnx")  # a file on its own, no features.onnx
    result = run_cli("explain", str(SAMPLES / "seven-photo.jpg"), "--model", str(loose / "model.onnx"), "--out",
                     str(tmp_path / "q"))  # fmt: skip
    assert result.code == 0, result.err
    assert "no feature maps" in result.err and "mnist-cnn export RUN --format onnx" in result.err


def test_explain_api_gives_predicts_answer_and_says_what_to_run_without_features(smoke_run, tmp_path):
    from fastapi.testclient import TestClient

    from mnist_cnn.serve.app import create_app
    from mnist_cnn.serve.model import load_served

    photo = (SAMPLES / "seven-photo.jpg").read_bytes()
    client = TestClient(create_app(load_served(str(smoke_run.root))))
    explained = client.post("/v1/explain", files={"file": ("seven.jpg", photo)}).json()["predictions"][0]
    predicted = client.post("/v1/predict", files={"file": ("seven.jpg", photo)}).json()["predictions"][0]
    assert explained["probabilities"] == predicted["probabilities"]
    assert [layer["name"] for layer in explained["explanation"]["layers"]] == ["conv1", "pool1", "conv2", "pool2"]

    run = tmp_path / smoke_run.root.name
    shutil.copytree(smoke_run.root, run)
    (run / "export" / "features.onnx").unlink()
    client = TestClient(create_app(load_served(str(run))))
    explanation = client.post("/v1/explain", files={"file": ("seven.jpg", photo)}).json()["predictions"][0]
    assert explanation["explanation"]["layers"] == []
    assert f"mnist-cnn export {run} --format onnx" in explanation["explanation"]["feature_maps_missing"]
