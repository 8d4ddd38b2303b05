"""A .keras archive's config must not declare more weights than the archive holds.

Keras rebuilds a model from config.json, allocating every layer's weights, before it reads
model.weights.h5; a 3 KB archive declaring Dense(units=10**8) would take gigabytes and only then
fail. Keras has no "size of this config" function, so the weighted layers are counted here from
their config and the input shape Keras records for each built layer (build_config).
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

from mnist_cnn.inference.modelfiles import ModelError

# Layers whose weights Keras allocates from their config when it rebuilds a model, before any weight is read.
_WEIGHTED = ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D",
             "Embedding")  # fmt: skip


def _layer_weight_count(layer: dict) -> int | None:
    """Parameters a layer's config and recorded input shape declare (None: cannot be told)."""
    conf = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    build = layer.get("build_config") if isinstance(layer.get("build_config"), dict) else {}
    shape = build.get("input_shape")
    if layer.get("class_name") == "Embedding":
        dims = (conf.get("input_dim"), conf.get("output_dim"))
        return dims[0] * dims[1] if all(isinstance(d, int) and d >= 0 for d in dims) else None
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) or d is None for d in shape):
        return None
    channels = shape[1] if conf.get("data_format") == "channels_first" and len(shape) > 2 else shape[-1]
    if not isinstance(channels, int) or channels < 0:
        return None
    if layer.get("class_name") == "Dense":
        units = conf.get("units")
        return (channels + 1) * units if isinstance(units, int) and units >= 0 else None
    kernel = conf.get("kernel_size")
    kernel = [kernel] if isinstance(kernel, int) else kernel
    outputs = conf.get("filters", channels * (conf.get("depth_multiplier") or 1))
    if not isinstance(kernel, list) or not all(isinstance(k, int) and k >= 0 for k in kernel):
        return None
    if not isinstance(outputs, int) or outputs < 0:
        return None
    return math.prod(kernel) * channels * outputs + outputs


def _weighted_layers(node):
    if isinstance(node, dict):
        if node.get("class_name") in _WEIGHTED:
            yield node
        for value in node.values():
            yield from _weighted_layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _weighted_layers(value)


def check_declared_weights(archive_file: Path, path: Path, sizes: dict[str, int], max_bytes: int) -> None:
    """Refuse an archive whose config declares far more weights than the archive holds.

    Keras allocates every layer's weights from config.json before it reads model.weights.h5, so a
    3 KB archive declaring Dense(units=10**8) would take gigabytes first and fail after. The weights
    file holds every variable (4 bytes each here), so a config declaring more than 4x its size is a lie.
    """
    if "config.json" not in sizes:
        return  # Keras refuses it with its own message
    try:
        with zipfile.ZipFile(archive_file) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError, RecursionError):
        raise ModelError(f"{path}: config.json in the archive is not valid JSON") from None
    declared = 0
    for layer in _weighted_layers(config):
        count = _layer_weight_count(layer)
        if count is None:
            name = (layer.get("config") or {}).get("name") if isinstance(layer.get("config"), dict) else None
            raise ModelError(f"{path}: layer {name or layer.get('class_name')} has no readable size in config.json")
        declared += count
    held = sum(size for name, size in sizes.items() if name.endswith(".h5"))
    if declared * 4 > min(4 * held + 16 * 2**20, max_bytes):
        raise ModelError(
            f"{path}: config.json declares {declared:,} weights ({declared * 4 / 2**20:,.0f} MB) but the archive "
            f"holds {held / 2**20:,.1f} MB of weights; refused before building it"
        )
