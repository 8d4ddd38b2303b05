"""Builders of hostile files for the tests of issue 19: ONNX graphs that misbehave, fake runs around them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

STARTED = "2026-01-01T00:00:00+00:00"


def _linear_nodes(helper, scale: str | None = None) -> list:
    """input (N,28,28,1) -> reshape -> matmul W -> [* scale] -> softmax -> probs."""
    logits = "logits" if scale is None else "raw"
    nodes = [
        helper.make_node("Reshape", ["input", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], [logits]),
    ]
    if scale is not None:
        nodes.append(helper.make_node("Mul", ["raw", scale], ["logits"]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    return nodes


def onnx_model(kind: str = "linear", huge_elements: int = 2**29):
    """An ONNX ModelProto: 'linear' (works), 'nan' (outputs NaN), 'static-huge' (a ConstantOfShape of
    `huge_elements` floats, known before running), 'dynamic-huge' (batch × `huge_elements` floats, only
    known at run time)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
    inits = [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(np.array([-1, 784], np.int64), "shape")]
    one = numpy_helper.from_array(np.array([1.0], np.float32))
    nodes = []
    if kind == "linear":
        nodes = _linear_nodes(helper)
    elif kind == "nan":
        inits.append(numpy_helper.from_array(np.array([np.nan], np.float32), "nan"))
        nodes = _linear_nodes(helper, "nan")
    elif kind == "static-huge":
        inits.append(numpy_helper.from_array(np.array([huge_elements], np.int64), "big"))
        nodes = [helper.make_node("ConstantOfShape", ["big"], ["blob"], value=one),
                 helper.make_node("ReduceMax", ["blob"], ["m"], keepdims=1), *_linear_nodes(helper, "m")]  # fmt: skip
    elif kind == "dynamic-huge":
        inits.append(numpy_helper.from_array(np.array([huge_elements], np.int64), "k"))
        nodes = [helper.make_node("Shape", ["input"], ["n"], start=0, end=1),
                 helper.make_node("Mul", ["n", "k"], ["big"]),
                 helper.make_node("ConstantOfShape", ["big"], ["blob"], value=one),
                 helper.make_node("ReduceMax", ["blob"], ["m"], keepdims=1), *_linear_nodes(helper, "m")]  # fmt: skip
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 28, 28, 1])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, 10])
    graph = helper.make_graph(nodes, kind, [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_onnx(path: Path, kind: str = "linear", **kwargs) -> Path:
    """Write `onnx_model(kind)` to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model(kind, **kwargs).SerializeToString())
    return path


def save_onnx_with_external_data(path: Path) -> Path:
    """A working linear model whose weights live in a second file beside it (weights.bin)."""
    import onnx

    onnx.save(onnx_model("linear"), path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)  # fmt: skip
    return path


def onnx_run(root: Path, kind: str = "linear", export_file: str = "export/model.onnx", model: Path | None = None):
    """A finished run directory whose manifest records an ONNX export (with its hash) and nothing else."""
    root.mkdir(parents=True, exist_ok=True)
    target = model or save_onnx(root / "export" / "model.onnx", kind)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    (root / "config.yaml").write_text("name: hostile\n")
    manifest = {"status": "completed", "name": "hostile", "seed": 1, "started_at": STARTED, "finished_at": STARTED,
                "exports": {"onnx": {"format": "onnx", "file": export_file, "sha256": digest}}}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def digit_png(path: Path) -> Path:
    """A dark vertical bar on white: a '1' the preprocessing accepts."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (100, 100), 255)
    ImageDraw.Draw(image).line([(50, 15), (50, 85)], fill=0, width=9)
    image.save(path)
    return path


def save_huge_tflite(path: Path, elements: int = 2**29) -> Path:
    """A 2 KB LiteRT model whose BroadcastTo output has `elements` floats (2 GB by default): shapes only, no data."""
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32)])
    def model(x):
        big = tf.broadcast_to(tf.reshape(x[0, 0, 0, 0], [1]), [elements])
        return tf.nn.softmax(tf.reshape(x, [1, 784])[:, :10] * tf.reduce_max(big))

    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.get_concrete_function()])
    path.write_bytes(converter.convert())
    return path
