"""Architecture registry: named presets with overridable hyper-parameters, and a validated custom stack."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_cnn.config import ConfigError, ModelConfig
from mnist_cnn.errors import first_line

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class Preset:
    """A named architecture: its defaults and where it comes from."""

    name: str
    description: str
    filters: tuple[int, ...]
    kernel_size: int
    dense_units: int | None
    dropout: float | None


PRESETS = {
    "chollet": Preset(
        "chollet",
        "keras-io 'Simple MNIST convnet': Conv32-Pool-Conv64-Pool-Dropout-Dense10",
        (32, 64), 3, None, 0.5,
    ),
    "tf-5x5-dense1024": Preset(
        "tf-5x5-dense1024",
        "TensorFlow 'Deep MNIST' tutorial: Conv32 5x5-Pool-Conv64 5x5-Pool-Dense1024-Dropout-Dense10",
        (32, 64), 5, 1024, 0.5,
    ),
    "dlwp": Preset(
        "dlwp",
        "Deep Learning with Python: Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10",
        (32, 64, 64), 3, 64, None,
    ),
}  # fmt: skip


def _resolved(cfg: ModelConfig) -> tuple[Preset, tuple[int, ...], int, int | None, float | None]:
    preset = PRESETS[cfg.name]
    filters = tuple(cfg.filters) if cfg.filters is not None else preset.filters
    if len(filters) != len(preset.filters):
        raise ConfigError(f"model.filters: {cfg.name} has {len(preset.filters)} conv layers, got {len(filters)} values")
    kernel = cfg.kernel_size or preset.kernel_size
    dense = cfg.dense_units if cfg.dense_units is not None else preset.dense_units
    dropout = cfg.dropout if cfg.dropout is not None else preset.dropout
    if cfg.dense_units is not None and preset.dense_units is None:
        raise ConfigError(f"model.dense_units: {cfg.name} has no hidden dense layer")
    if cfg.dropout is not None and preset.dropout is None:
        raise ConfigError(f"model.dropout: {cfg.name} has no dropout layer")
    return preset, filters, kernel, dense, dropout


def _preset_layers(cfg: ModelConfig, seed: int) -> list:
    from keras import layers

    preset, filters, kernel, dense, dropout = _resolved(cfg)
    stack: list = []
    for i, count in enumerate(filters):
        stack.append(layers.Conv2D(count, kernel, activation="relu", name=f"conv{i + 1}"))
        # dlwp's last conv has no pooling after it.
        if not (preset.name == "dlwp" and i == len(filters) - 1):
            stack.append(layers.MaxPooling2D(2, name=f"pool{i + 1}"))
    stack.append(layers.Flatten(name="flatten"))
    if preset.name == "chollet":
        stack.append(layers.Dropout(dropout, seed=seed, name="dropout"))
    if dense is not None:
        stack.append(layers.Dense(dense, activation="relu", name="dense"))
        if dropout is not None:
            stack.append(layers.Dropout(dropout, seed=seed, name="dropout"))
    # Softmax in float32 even under mixed precision, for a numerically sound loss.
    stack.append(layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="predictions"))
    return stack


def _custom_layers(cfg: ModelConfig) -> list:
    from keras import layers

    stack = []
    for i, spec in enumerate(cfg.layers or []):
        try:
            stack.append(getattr(layers, spec.type)(**spec.args))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model.layers[{i}] ({spec.type}): {exc}") from None
    return stack


def build_model(cfg: ModelConfig, seed: int = 0):
    """Build (uncompiled) the configured model; config problems raise ConfigError."""
    import keras

    stack = _custom_layers(cfg) if cfg.name == "custom" else _preset_layers(cfg, seed)
    name = cfg.name.replace("-", "_")
    try:
        model = keras.Sequential([keras.Input(INPUT_SHAPE), *stack], name=name)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model: the layers do not fit together: {first_line(exc)}") from None
    if tuple(model.output_shape) != (None, NUM_CLASSES):
        raise ConfigError(f"model: output shape is {model.output_shape[1:]}, expected ({NUM_CLASSES},)")
    if cfg.name == "custom" and model.layers[-1].get_config().get("activation") != "softmax":
        raise ConfigError("model.layers: the last layer must use activation 'softmax' (the loss expects probabilities)")
    return model


def describe_presets() -> list[dict]:
    """Name, description and parameter count of every preset."""
    from mnist_cnn.config import ModelConfig as Cfg

    rows = []
    for name, preset in PRESETS.items():
        model = build_model(Cfg(name=name))
        rows.append({"name": name, "description": preset.description, "parameters": model.count_params()})
    return rows
