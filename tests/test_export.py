"""Export end to end on a smoke-trained run: each format verified and recorded, predict without TensorFlow,
the same answers as Keras, tampering refused, a failed export leaves the run intact."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, predict_in_subprocess
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

pytestmark = pytest.mark.smoke
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, smoke_run) -> rundir.RunDir:
    """A private copy of the shared smoke run (with its end-of-training ONNX export): these tests add exports."""
    root = tmp_path_factory.mktemp("export") / "runs" / smoke_run.root.name
    shutil.copytree(smoke_run.root, root)
    return rundir.RunDir(root)


def test_training_exports_a_verified_onnx_file(trained):
    manifest = manifests.read(trained).to_json()
    assert manifest["status"] == "completed"
    entry = manifest["exports"]["onnx"]
    assert entry["sha256"] == rundir.file_sha256(trained.root / entry["file"])
    assert entry["verification"]["argmax_agreement"] >= 0.9995 and entry["verification"]["images"] == 1000
    assert entry["opset"] and entry["runtime"].startswith("onnxruntime ")


def test_litert_int8_and_saved_model_are_verified_and_recorded(run_cli, trained):
    result = run_cli("export", str(trained.root), "--format", "litert", "--format", "saved_model", "--json")
    assert result.code == 0, result.err
    assert [r["format"] for r in json.loads(result.out)["exports"]] == ["litert", "saved_model"]
    result = run_cli("export", str(trained.root), "--format", "litert", "--quantize", "int8")
    assert result.code == 0, result.err
    exports = manifests.read(trained).to_json()["exports"]
    assert set(exports) == {"onnx", "litert", "litert_int8", "saved_model"}
    int8 = exports["litert_int8"]
    assert int8["bytes"] < exports["litert"]["bytes"] / 2
    assert abs(int8["verification"]["accuracy"] - int8["verification"]["keras_accuracy"]) <= 0.002
    import tensorflow as tf

    serve = tf.saved_model.load(str(trained.root / "export" / "saved_model")).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["image"]


def test_predict_through_onnx_and_litert_without_tensorflow_agrees_with_keras(run_cli, trained):
    onnx_report, loaded = predict_in_subprocess(str(SAMPLES), "--model", str(trained.root))
    assert (
        "tensorflow" not in loaded
        and onnx_report["runtime"] == "onnxruntime"
        and "(onnx export)" in onnx_report["model"]
    )
    run = str(trained.root)
    keras = run_cli("predict", str(SAMPLES), "--model", run, "--checkpoint", "last", "--json")  # Keras: in this process
    assert keras.code == 0, keras.err
    keras_report = json.loads(keras.out)
    assert keras_report["runtime"] == "keras"
    for a, b in zip(onnx_report["predictions"], keras_report["predictions"], strict=True):
        assert a["digit"] == b["digit"] and a["probability"] == pytest.approx(b["probability"], abs=1e-5)
    assert run_cli("export", run, "--format", "litert").code == 0  # this test's own, whatever ran before
    lite_report, loaded = predict_in_subprocess(str(SAMPLES), "--model", str(trained.root / "export" / "model.tflite"))
    assert "tensorflow" not in loaded and lite_report["runtime"] == "litert"
    assert [p["digit"] for p in lite_report["predictions"]] == [p["digit"] for p in keras_report["predictions"]]


def test_1000_mnist_pngs_get_the_same_labels_from_every_runtime(trained, mnist, tmp_path):
    from mnist_cnn.inference import modelfiles, predict
    from mnist_cnn.inference.runtimes import load_runtime

    for i in range(1000):
        Image.fromarray(mnist.x_test[i]).save(tmp_path / f"{i:05d}.png")
    keras_rt = load_runtime(modelfiles.from_run(trained, "last"))
    onnx_rt = load_runtime(trained.root / "export" / "model.onnx")
    answers = [predict.run(lambda rt=rt: rt, [str(tmp_path)], top_k=1) for rt in (keras_rt, onnx_rt)]
    digits = [np.array([p.digit for p in r.predictions]) for r in answers]
    probs = [np.array([p.probability for p in r.predictions]) for r in answers]
    assert len(digits[0]) == 1000 and np.array_equal(digits[0], digits[1])
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-5)


def test_evaluate_an_exported_file_reports_the_run_accuracy(run_cli, trained):
    result = run_cli("evaluate", str(trained.root), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    recorded = json.loads(trained.metrics.read_text())["test"]
    assert report["runtime"] == "onnxruntime" and report["export"] == "onnx"
    assert report["test"]["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-4)
    assert report["test"]["loss"] == pytest.approx(recorded["loss"], abs=1e-4)


def test_tampered_export_is_refused(run_cli, trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained.root, copy)
    onnx_file = copy / "export" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    for model in (str(copy), str(onnx_file)):
        result = run_cli("predict", str(SAMPLES / "one-photo.png"), "--model", model)
        assert result.code == 1
        assert "SHA-256 differs from the one recorded in the run's manifest" in result.err


def test_failed_verification_removes_the_artifact_and_keeps_the_run(run_cli, trained, tmp_path, monkeypatch):
    from mnist_cnn import export_artifact

    copy = rundir.RunDir(tmp_path / "run")
    shutil.copytree(trained.root, copy.root)
    before = copy.manifest.read_bytes()
    (copy.root / "export" / "model.onnx").unlink()
    monkeypatch.setattr(export_artifact, "MIN_AGREEMENT", 1.01)  # no artifact can pass
    result = run_cli("export", str(copy.root), "--format", "onnx")
    assert result.code == 1
    assert "failed verification and was removed: top class agrees with Keras on 100.0000%" in result.err
    assert not (copy.root / "export" / "model.onnx").exists()
    assert [p.name for p in (copy.root / "export").iterdir() if p.name.startswith(".")] == []
    assert copy.manifest.read_bytes() == before
