"""One small interface over the inference runtimes: load a model file, get probabilities for a batch.

Every runtime takes float32 images (N, 28, 28, 1) in [0, 1] (MNIST-style preprocessing already
applied) and returns float32 probabilities (N, 10). Keras is one runtime among several; the
others (ONNX Runtime, LiteRT) never import TensorFlow. `load_runtime` picks one by file suffix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from mnist_cnn.errors import first_line
from mnist_cnn.inference import modelfiles
from mnist_cnn.inference.modelfiles import MissingRuntimeError, ModelError, ModelSource

BATCH = 256  # a batch's activations stay below train/memory.MMAP_THRESHOLD, so their memory is reused
EXTRAS = {"onnxruntime": "onnx", "ai_edge_litert": "litert"}  # package -> pip extra that installs it


class Runtime(Protocol):
    """A loaded model behind some runtime."""

    name: str

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32 for images (N, 28, 28, 1) float32 in [0, 1]."""
        ...


def _batched(call: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch: int) -> np.ndarray:
    """`call` over slices of `batch` images; a model with a fixed batch size gets its last slice padded."""
    outputs = []
    for i in range(0, len(images), batch):
        part = images[i : i + batch]
        outputs.append(np.asarray(call(part), dtype=np.float32)[: len(part)])
    return np.concatenate(outputs) if outputs else np.zeros((0, 10), np.float32)


def _pad(part: np.ndarray, size: int) -> np.ndarray:
    if len(part) == size:
        return part
    return np.concatenate([part, np.zeros((size - len(part), *part.shape[1:]), part.dtype)])


class KerasRuntime:
    """A Keras model called directly in batches (no `model.predict` set-up cost per call)."""

    name = "keras"

    def __init__(self, model):
        self.model = model

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32, in batches of BATCH."""
        return _batched(lambda part: self.model(part, training=False), images, BATCH)


def _check_io(path: Path, input_shape: list, output_shape: list) -> tuple[tuple[int, ...], int | None]:
    """The per-image input shape ((28, 28, 1) or (784,)) and fixed batch size (None: any), or a ModelError."""
    dims = [d if isinstance(d, int) and d > 0 else None for d in input_shape]
    per_image = tuple(dims[1:])
    if per_image not in ((28, 28, 1), (784,)):
        raise ModelError(f"{path}: model input is {list(input_shape)}, expected [N, 28, 28, 1] or [N, 784]")
    if len(output_shape) != 2 or output_shape[-1] != 10:
        raise ModelError(f"{path}: model output is {list(output_shape)}, expected [N, 10] (10 classes)")
    return per_image, dims[0]


def _require(package: str, path: Path):
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        extra = EXTRAS[package]
        raise MissingRuntimeError(
            f"{path}: running a {path.suffix} model needs the {package} package; pip install 'mnist-cnn[{extra}]'"
        ) from None


# What an ONNX graph may allocate. This product's models need a few MB per batch of BATCH images
# (the Chollet convnet: ~30 MB of activations, 140 KB of weights); a file whose graph asks for
# gigabytes (a ConstantOfShape or Expand to a huge shape) is refused, not run.
MAX_TENSOR_BYTES = 512 * 2**20  # one tensor whose shape is known before running (ONNX and LiteRT)
MAX_ONNX_ARENA_BYTES = 1024 * 2**20  # everything ONNX Runtime allocates at run time, per process


def onnx_session(data: bytes, path: Path):
    """(session, run options) for ONNX bytes: graph checked first, then run in the capped arena (ModelError)."""
    from mnist_cnn.inference import onnxcheck

    ort = _require("onnxruntime", path)
    onnxcheck.check_graph(data, path, MAX_TENSOR_BYTES, BATCH)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # our one-line errors say what failed; ORT's own log would repeat it
    if onnxcheck.capped_arena(ort, MAX_ONNX_ARENA_BYTES):
        options.add_session_config_entry("session.use_env_allocators", "1")
    run_options = ort.RunOptions()
    run_options.log_severity_level = 4
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]), run_options
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ModelError(f"{path}: not a usable ONNX model ({onnxcheck.short(exc)})") from None


class OnnxRuntime:
    """An .onnx model in ONNX Runtime (CPU); no TensorFlow.

    The graph is checked before a session is made (no external data; no tensor of known shape over
    MAX_TENSOR_BYTES), and the session allocates from an arena capped at MAX_ONNX_ARENA_BYTES,
    so a graph that computes a huge shape at run time fails that batch with one line instead of
    taking the machine's memory.
    """

    name = "onnxruntime"

    def __init__(self, data: bytes, path: Path = Path("model.onnx")):
        self.path = path
        self.session, self.run_options = onnx_session(data, path)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: model has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1")
        if inputs[0].type != "tensor(float)":
            raise ModelError(f"{path}: model input is {inputs[0].type}, expected tensor(float)")
        self.input_name = inputs[0].name
        self.per_image, self.fixed_batch = _check_io(path, inputs[0].shape, outputs[0].shape)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32, in batches of BATCH (or the model's fixed batch size)."""

        def call(part: np.ndarray) -> np.ndarray:
            feed = _pad(part, self.fixed_batch) if self.fixed_batch else part
            feed = np.ascontiguousarray(feed.reshape((len(feed), *self.per_image)), dtype=np.float32)
            try:
                return self.session.run(None, {self.input_name: feed}, self.run_options)[0]
            except Exception as exc:  # e.g. the capped arena refusing a huge allocation
                raise ModelError(f"{self.path}: the model failed while running ({onnxcheck.short(exc)})") from None

        from mnist_cnn.inference import onnxcheck

        return _batched(call, images, self.fixed_batch or BATCH)


def _check_litert_tensors(interpreter, path: Path) -> None:
    """ModelError if a tensor would take more than MAX_TENSOR_BYTES (unknown dimensions count as BATCH)."""
    for tensor in interpreter.get_tensor_details():
        dims = tensor.get("shape_signature")
        dims = tensor["shape"] if dims is None or len(dims) == 0 else dims
        count = int(np.prod([BATCH if d < 0 else int(d) for d in dims], dtype=np.float64))
        size = count * np.dtype(tensor["dtype"]).itemsize
        if size > MAX_TENSOR_BYTES:
            raise ModelError(
                f"{path}: tensor '{tensor['name']}' would take {size / 2**20:,.0f} MB "
                f"(limit {MAX_TENSOR_BYTES / 2**20:,.0f} MB); refused before running"
            )


class LiteRTRuntime:
    """A .tflite model in the standalone LiteRT interpreter (ai-edge-litert); no TensorFlow."""

    name = "litert"

    def __init__(self, data: bytes, path: Path = Path("model.tflite")):
        from mnist_cnn.tfquiet import silenced_stderr

        _require("ai_edge_litert", path)
        from ai_edge_litert.interpreter import Interpreter

        try:
            with silenced_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                self.interpreter = Interpreter(model_content=data, num_threads=os.cpu_count() or 1)
                _check_litert_tensors(self.interpreter, path)  # shapes are known before anything is allocated
                self.interpreter.allocate_tensors()
        except ModelError:
            raise
        except Exception as exc:  # the interpreter raises ValueError/RuntimeError for bad files
            raise ModelError(f"{path}: not a usable LiteRT model ({first_line(exc, 200)})") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: model has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1")
        if inputs[0]["dtype"] != np.float32:
            raise ModelError(f"{path}: model input is {np.dtype(inputs[0]['dtype']).name}, expected float32")
        self.input, self.output = inputs[0]["index"], outputs[0]["index"]
        signature = inputs[0]["shape_signature"].tolist()
        self.per_image, self.fixed_batch = _check_io(path, signature, outputs[0]["shape_signature"].tolist())
        self.allocated = int(inputs[0]["shape"][0])

    def _resize(self, batch: int) -> None:
        from mnist_cnn.tfquiet import silenced_stderr

        if batch != self.allocated:
            with silenced_stderr():
                self.interpreter.resize_tensor_input(self.input, [batch, *self.per_image])
                self.interpreter.allocate_tensors()
            self.allocated = batch

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32, in batches of BATCH (or the model's fixed batch size)."""

        def call(part: np.ndarray) -> np.ndarray:
            feed = _pad(part, self.fixed_batch) if self.fixed_batch else part
            self._resize(len(feed))
            feed = np.ascontiguousarray(feed.reshape((len(feed), *self.per_image)), dtype=np.float32)
            self.interpreter.set_tensor(self.input, feed)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.output).copy()

        return _batched(call, images, self.fixed_batch or BATCH)


def finite_rows(probs: np.ndarray) -> np.ndarray:
    """Which rows of a (N, 10) output are real probabilities (no NaN or infinity): a broken model's rows are not."""
    return np.isfinite(probs).all(axis=1)


NONFINITE = "the model's output for this input is not a number (NaN or infinity); the model file is broken"


def as_runtime(model) -> Runtime:
    """`model` itself if it is a Runtime already, else a Keras model wrapped in a KerasRuntime."""
    return model if hasattr(model, "probabilities") else KerasRuntime(model)


def load_runtime(source: ModelSource | str | Path) -> Runtime:
    """The runtime for a model (a ModelSource, a model file or a run directory), chosen by file suffix.

    Everything is checked before a runtime sees the file: size limits, the hash recorded in the run's
    manifest, archive limits (.keras), then the input/output shapes. Only .keras imports TensorFlow.
    """
    if not isinstance(source, ModelSource):
        source = modelfiles.resolve(str(source), prefer_export=True)
    suffix = modelfiles.check_suffix(source.path)
    if suffix == ".keras":
        return KerasRuntime(modelfiles.load(source))
    data = modelfiles.read_bytes(source)
    if suffix == ".onnx":
        return OnnxRuntime(data, source.path)
    return LiteRTRuntime(data, source.path)
