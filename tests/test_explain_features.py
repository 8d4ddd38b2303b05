"""Finding and checking a features.onnx without TensorFlow: a tiny ONNX graph written here with onnx.helper."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mnist_cnn.explain.explainer import load_explainer
from mnist_cnn.explain.features import FEATURES_FILE, METADATA_KEY
from mnist_cnn.inference.modelfiles import ModelSource

LAYERS = [{"name": "pool", "kind": "MaxPooling2D", "shape": [2, 2, 1]}]


def tiny_onnx(weights: np.ndarray, with_features: bool) -> bytes:
    """Softmax(image · weights) as [N, 10]; with_features adds a 14×14 max-pool of the image as [N, 2, 2, 1]."""
    nodes = [
        helper.make_node("Reshape", ["image", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])]
    if with_features:
        nodes += [
            helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("MaxPool", ["nchw"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
            helper.make_node("Transpose", ["pooled"], ["pool"], perm=[0, 2, 3, 1]),
        ]
        outputs.append(helper.make_tensor_value_info("pool", TensorProto.FLOAT, ["N", 2, 2, 1]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 28, 28, 1])],
        outputs,
        [
            numpy_helper.from_array(np.array([-1, 784], np.int64), "flat_shape"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if with_features:
        helper.set_model_props(model, {METADATA_KEY: json.dumps(LAYERS)})
    return model.SerializeToString()


def weights(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(784, 10)).astype(np.float32)


def digit() -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 12:16] = 1.0
    return image


def test_a_features_file_beside_a_model_gives_its_maps_without_tensorflow(tmp_path):
    (tmp_path / "model.onnx").write_bytes(tiny_onnx(weights(0), with_features=False))
    (tmp_path / FEATURES_FILE).write_bytes(tiny_onnx(weights(0), with_features=True))
    explainer = load_explainer(ModelSource(tmp_path / "model.onnx"))
    assert explainer.missing is None and [layer.name for layer in explainer.layers] == ["pool"]
    explanation = explainer.explain(digit())
    (maps,) = explanation.maps
    np.testing.assert_array_equal(maps[..., 0], [[1.0, 1.0], [1.0, 1.0]])  # the bar crosses all four quadrants
    assert np.abs(explanation.saliency).max() > 0


def test_a_features_file_of_another_model_is_not_used_and_the_reason_says_so(tmp_path):
    (tmp_path / "model.onnx").write_bytes(tiny_onnx(weights(0), with_features=False))
    (tmp_path / FEATURES_FILE).write_bytes(tiny_onnx(weights(1), with_features=True))  # other weights
    explainer = load_explainer(ModelSource(tmp_path / "model.onnx"))
    assert explainer.layers == [] and "does not match the model in use" in explainer.missing
    assert explainer.explain(digit()).numbers()["feature_maps_missing"] == explainer.missing


def test_an_onnx_file_without_the_metadata_is_refused_as_a_features_model(tmp_path):
    (tmp_path / "model.onnx").write_bytes(tiny_onnx(weights(0), with_features=False))
    plain = onnx.load_from_string(tiny_onnx(weights(0), with_features=True))
    del plain.metadata_props[:]
    (tmp_path / FEATURES_FILE).write_bytes(plain.SerializeToString())
    explainer = load_explainer(ModelSource(tmp_path / "model.onnx"))
    assert explainer.layers == [] and f"no '{METADATA_KEY}' metadata" in explainer.missing
    assert "mnist-cnn export RUN --format onnx" in explainer.missing


def test_a_lone_model_file_says_what_to_run(tmp_path):
    (tmp_path / "model.onnx").write_bytes(tiny_onnx(weights(0), with_features=False))
    explainer = load_explainer(ModelSource(tmp_path / "model.onnx"))
    assert explainer.layers == [] and "mnist-cnn export RUN --format onnx" in explainer.missing
