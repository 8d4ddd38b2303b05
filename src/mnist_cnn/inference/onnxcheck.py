"""Checks an ONNX graph must pass before ONNX Runtime gets it, and the capped memory it then runs in.

Hand-written because ONNX Runtime has no "refuse this graph" option: the static part uses the onnx
package's own shape inference (with data propagation, so a ConstantOfShape fed by a constant is
sized), and the dynamic part is ONNX Runtime's arena with a `max_mem`, shared by every session
in the process.
"""

from __future__ import annotations

import re
from pathlib import Path

from mnist_cnn.errors import first_line
from mnist_cnn.inference.modelfiles import ModelError

_ARENA: dict[str, bool] = {}


def short(exc: BaseException) -> str:
    """ONNX Runtime's message without its source paths: what failed and why, in one line."""
    text = first_line(exc, 600)
    text = re.sub(r"/onnxruntime_src/\S+ ", "", text)
    text = re.sub(r"void\* onnxruntime::\S+\([^)]*\) ", "", text)
    asked = re.search(r"Available memory of (\d+) is smaller than requested bytes of (\d+)", text)
    if asked:
        need, have = int(asked.group(2)), int(asked.group(1))
        node = re.search(r"running (\w+) node", text)
        return (f"{node.group(1) + ' node ' if node else ''}asked for {need / 2**20:,.0f} MB, more than the "
                f"{have / 2**20:,.0f} MB an ONNX model may use here")  # fmt: skip
    return text[:300]


def capped_arena(ort, max_bytes: int) -> bool:
    """Register (once per process) a CPU arena that refuses allocations past `max_bytes`; False if unavailable."""
    if "ok" not in _ARENA:
        try:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg({"max_mem": max_bytes, "arena_extend_strategy": 1}))
            _ARENA["ok"] = True
        except Exception:  # an older onnxruntime without env allocators: sessions use their own arena
            _ARENA["ok"] = False
    return _ARENA["ok"]


def _graphs(graph):
    """A graph and every subgraph (If/Loop/Scan bodies) inside it."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None and attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


def check_graph(data: bytes, path: Path, max_tensor_bytes: int, batch: int) -> None:
    """ModelError if the model uses external data or a tensor of known shape exceeds `max_tensor_bytes`.

    Unknown dimensions (the batch) count as `batch`. Skipped when the onnx package is not installed:
    then ONNX Runtime still refuses external data (the model is handed over as bytes) and the arena cap holds.
    """
    try:
        import onnx
        from onnx import helper, shape_inference
    except ImportError:
        return
    try:
        model = onnx.ModelProto.FromString(data)  # bytes: nothing else on disk is read
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelError(f"{path}: not a usable ONNX model ({first_line(exc, 200)})") from None
    for graph in _graphs(model.graph):
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise ModelError(
                    f"{path}: tensor '{tensor.name}' keeps its data in another file; only self-contained "
                    "ONNX files are accepted (save the model without external data)"
                )
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # a graph onnx cannot infer: ONNX Runtime decides, under the arena cap
        return
    graph = inferred.graph
    for info in [*graph.value_info, *graph.output]:
        kind = info.type.tensor_type
        if not kind.HasField("shape"):
            continue
        count = 1
        for dim in kind.shape.dim:
            count *= dim.dim_value if dim.HasField("dim_value") else batch
        try:
            itemsize = helper.tensor_dtype_to_np_dtype(kind.elem_type).itemsize
        except Exception:  # an element type numpy has no dtype for (strings): count one byte
            itemsize = 1
        if count * itemsize > max_tensor_bytes:
            raise ModelError(
                f"{path}: tensor '{info.name}' would take {count * itemsize / 2**20:,.0f} MB "
                f"(limit {max_tensor_bytes / 2**20:,.0f} MB); refused before running"
            )
