"""Untrusted model files (no dataset): archive limits, ONNX shape checks, missing runtimes, config."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx  # a core dependency (the default export): if it is missing the suite fails, it does not skip
import pytest

from conftest import ROOT, need_package, predict_in_subprocess
from mnist_cnn.inference import modelfiles

PHOTO = ROOT / "samples" / "one-photo.png"


def _onnx_model(path: Path, input_shape=("N", 28, 28, 1), classes: int = 10, flat: int = 784) -> Path:
    """A tiny softmax-regression ONNX file built by hand (no TensorFlow): reshape, matmul, softmax."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(size=(flat, classes)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, flat], np.int64), "shape")
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["image", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])],
        initializer=[weights, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_onnx_model_predicts_without_importing_tensorflow(tmp_path):
    model = _onnx_model(tmp_path / "tiny.onnx")
    report, loaded = predict_in_subprocess(str(PHOTO), "--model", str(model))
    assert report["runtime"] == "onnxruntime" and len(report["predictions"]) == 1
    assert sum(c["probability"] for c in report["predictions"][0]["top_k"]) <= 1.0 + 1e-6
    assert loaded == set()


def test_flat_784_input_is_accepted_and_gives_the_same_answers(tmp_path):
    from mnist_cnn.inference.runtimes import load_runtime

    images = np.random.default_rng(1).random((5, 28, 28, 1), dtype=np.float32)
    square = load_runtime(_onnx_model(tmp_path / "a.onnx")).probabilities(images)
    flat = load_runtime(_onnx_model(tmp_path / "b.onnx", input_shape=("N", 784))).probabilities(images)
    assert flat.shape == (5, 10) and flat.dtype == np.float32
    np.testing.assert_allclose(square, flat, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"input_shape": ("N", 32, 32, 3), "flat": 3072}, "expected [N, 28, 28, 1] or [N, 784]"),
        ({"classes": 5}, "expected [N, 10] (10 classes)"),
    ],
)
def test_onnx_model_of_the_wrong_shape_is_refused(run_cli, tmp_path, kwargs, message):
    model = _onnx_model(tmp_path / "other.onnx", **kwargs)
    result = run_cli("predict", str(PHOTO), "--model", str(model))
    assert result.code == 1
    assert message in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("suffix,message", [(".onnx", "not a usable ONNX model"), (".tflite", "not a usable LiteRT")])
def test_garbage_model_files_get_one_line(run_cli, tmp_path, suffix, message):
    if suffix == ".tflite":
        need_package("ai_edge_litert", extra="test")
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x08\x07garbage" * 100)
    result = run_cli("predict", str(PHOTO), "--model", str(path))
    assert result.code == 1 and message in result.err and len(result.err.strip().splitlines()) == 1


def test_oversized_model_file_is_refused_before_reading(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(modelfiles, "MAX_FILE_BYTES", 1000)
    model = _onnx_model(tmp_path / "big.onnx")
    result = run_cli("predict", str(PHOTO), "--model", str(model))
    assert result.code == 1 and "is more than a model file may be" in result.err


def test_missing_runtime_names_the_extra_and_exits_2(run_cli, tmp_path, monkeypatch):
    model = _onnx_model(tmp_path / "tiny.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the package were not installed
    result = run_cli("predict", str(PHOTO), "--model", str(model))
    assert result.code == 2
    assert "pip install 'mnist-cnn[onnx]'" in result.err


def test_keras_archive_whose_config_inflates_to_gigabytes_is_refused_cheaply(run_cli, tmp_path):
    """A ~100 KB archive whose config.json claims 1 GB: refused from the directory alone, before Keras."""
    path = _archive(tmp_path / "bomb.keras", {"metadata.json": b"{}", "config.json": b" " * (64 * 2**20)})
    # Claim a gigabyte in both headers, as a hostile archive would: nothing may read that far.
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("config.json")
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02", 0) + 24):
        data[offset : offset + 4] = (2**30).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert path.stat().st_size < 1_000_000
    result = run_cli("predict", str(PHOTO), "--model", str(path))
    assert result.code == 1
    assert "member config.json inflates to 1024 MB (limit 4 MB); refused" in result.err


@pytest.mark.parametrize(
    "members,message",
    [
        ({f"m{i}.bin": b"x" for i in range(20)}, "archive has 20 members"),
        ({"config.json": b"{}", "model.weights.h5": bytes(32 * 2**20)}, "member model.weights.h5 is compressed"),
    ],
)
def test_keras_archives_beyond_the_limits_are_refused(run_cli, tmp_path, members, message):
    path = _archive(tmp_path / "odd.keras", members)
    result = run_cli("evaluate", "--model", str(path))
    assert result.code == 1 and message in result.err


def test_archive_limits_fit_real_checkpoints_with_room(synthetic_run):
    """A checkpoint as `train` writes it (Chollet convnet) passes the archive checks, 100x below each limit."""
    from conftest import checkpoint_path

    checkpoint = checkpoint_path(synthetic_run, "last")
    modelfiles.check_archive(checkpoint)  # raises ModelError if any limit were hit
    with zipfile.ZipFile(checkpoint) as archive:
        members = archive.infolist()
    assert len(members) < modelfiles.MAX_MEMBERS
    assert sum(m.file_size for m in members) * 100 < modelfiles.MAX_TOTAL_BYTES
    for member in members:
        limit = modelfiles.MAX_JSON_MEMBER_BYTES if member.filename.endswith(".json") else modelfiles.MAX_MEMBER_BYTES
        assert member.file_size * 100 < limit, member.filename


def test_config_export_key(tmp_path):
    from mnist_cnn import config

    assert config.Config().output.export == ["onnx"]
    assert config.loads("output: {export: []}").output.export == []
    assert config.loads("output: {export: [litert, saved_model]}").output.export == ["litert", "saved_model"]
    with pytest.raises(config.ConfigError, match=r"output.export\[0\].*did you mean 'litert'"):
        config.loads("output: {export: [litrt]}")


def test_export_usage_errors(run_cli, tmp_path):
    assert run_cli("export", str(tmp_path), "--format", "onnx", "--quantize", "int8").code == 2
    assert run_cli("export", str(tmp_path / "missing")).code == 2
    running = {"status": "running", "name": "n", "seed": 1, "started_at": "2026-01-01T00:00:00+00:00"}
    (tmp_path / "manifest.json").write_text(json.dumps(running))
    result = run_cli("export", str(tmp_path))
    assert result.code == 1 and "only a finished run can be exported" in result.err
