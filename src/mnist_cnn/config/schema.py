"""The config schema: frozen dataclasses with the defaults (the Chollet recipe), ranges and allow-lists."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from mnist_cnn.errors import EXIT_USAGE, MnistCnnError


class ConfigError(MnistCnnError, ValueError):
    """A configuration problem, phrased as one line for the user."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class ValidationSplit:
    """Which training images are held out for validation."""

    mode: Literal["fraction", "first", "last", "test", "none"] = "fraction"
    fraction: float = 0.1  # mode=fraction: taken from the end, like Keras' validation_split
    count: int = 10000  # mode=first/last: how many images


@dataclass(frozen=True)
class Subset:
    """Use only part of the data (smoke runs). `stratified` keeps class balance; `first` takes the first N."""

    train: int | None = None
    test: int | None = None
    method: Literal["stratified", "first"] = "stratified"


@dataclass(frozen=True)
class Elastic:
    """Simard-style elastic distortion: a uniform [-1, 1] field, Gaussian-smoothed (sigma px), times alpha px."""

    alpha: float = 8.0
    sigma: float = 3.0


@dataclass(frozen=True)
class Augmentation:
    """Random distortions of training images, each drawn per image from (seed, epoch, batch).

    Every amount is the largest one drawn; each image gets a uniform draw in [-amount, amount].
    """

    probability: float = 1.0  # share of training images distorted; the rest are seen as they are
    rotation: float = 0.0  # degrees
    shift: float = 0.0  # pixels, along each axis
    zoom: float = 0.0  # relative scale change: 0.1 draws scales in [0.9, 1.1]
    shear: float = 0.0  # degrees
    elastic: Elastic | None = None
    thickness: float = 0.0  # stroke change as a share of a 3×3 dilation (+) or erosion (-); beyond 1, a second pass
    blur: float = 0.0  # largest Gaussian blur sigma in pixels (draws in [0, blur])
    resolution: float = 0.0  # smallest side (px) images are shrunk to and scaled back from (draws in [it, 28]); 0: off

    @classmethod
    def distortions(cls) -> list[str]:
        """The names of the distortion settings (every field but `probability`)."""
        return [f.name for f in fields(cls) if f.name != "probability"]


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from, how it is split, and how training images are distorted."""

    path: str | None = None
    validation: ValidationSplit = field(default_factory=ValidationSplit)
    subset: Subset = field(default_factory=Subset)
    augmentation: Augmentation | None = None  # off unless given


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a custom model: a Keras class name from the allow-list and its arguments."""

    type: str = ""
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """A preset by name; unset hyper-parameters take the preset's defaults."""

    name: str = "chollet"
    filters: list[int] | None = None
    kernel_size: int | None = None
    dense_units: int | None = None
    dropout: float | None = None
    layers: list[LayerSpec] | None = None  # only for name=custom


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule."""

    name: Literal["adam", "sgd", "rmsprop", "adadelta"] = "adam"
    learning_rate: float | None = None  # None: the Keras default for that optimizer
    momentum: float = 0.0  # sgd and rmsprop only
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_epochs: float = 0.0  # cosine only: linear warm-up from 0 before the decay


@dataclass(frozen=True)
class ThresholdStop:
    """Stop after an epoch whose `monitor` value exceeds `threshold`."""

    monitor: str = "accuracy"
    threshold: float = 0.99


@dataclass(frozen=True)
class EarlyStopping:
    """Patience-based early stopping (Keras' EarlyStopping)."""

    monitor: str = "val_loss"
    patience: int = 3
    min_delta: float = 0.0


@dataclass(frozen=True)
class CheckpointConfig:
    """Which checkpoint is 'best', and which one the test metrics use."""

    monitor: str = "val_accuracy"
    use_for_test: Literal["best", "last"] = "last"


@dataclass(frozen=True)
class TrainConfig:
    """The training loop."""

    epochs: int = 15
    batch_size: int = 128
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    label_smoothing: float = 0.0
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "float32"
    stop_at: ThresholdStop | None = None
    early_stopping: EarlyStopping | None = None
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)


@dataclass(frozen=True)
class ReproducibilityConfig:
    """Determinism switches. Threads 0 means TensorFlow's default."""

    deterministic: bool = True
    intra_op_threads: int = 0
    inter_op_threads: int = 0


@dataclass(frozen=True)
class OutputConfig:
    """Where runs go and what extra output to write."""

    runs_dir: str = "runs"
    tensorboard: bool = False
    # Formats exported (and verified) when training ends; [] turns it off. See docs/export.md.
    export: list[Literal["onnx", "litert", "saved_model"]] = field(default_factory=lambda: ["onnx"])
    # The run's plots (samples, history, filters, confusion matrix, misclassified); false skips them
    # (tune trials do: a search reads only the history, and matplotlib costs seconds per run).
    plots: bool = True


@dataclass(frozen=True)
class Config:
    """A whole run configuration."""

    name: str = "run"
    seed: int = 1337
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    reproducibility: ReproducibilityConfig = field(default_factory=ReproducibilityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


MNIST_TRAIN_IMAGES = 60000
# A run folder is <name>-<YYYYmmdd-HHMMSS>[-N]: keep the whole within the usual 255-byte file-name limit.
MAX_NAME_BYTES = 200

# Ranges checked after types: key path -> (low, high, inclusive-low?, inclusive-high?).
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "seed": (0, 2**32 - 1, True, True),
    "data.validation.fraction": (0.0, 1.0, False, False),
    "data.validation.count": (1, 59999, True, True),
    "data.subset.train": (10, 60000, True, True),
    "data.subset.test": (10, 10000, True, True),
    "data.augmentation.probability": (0.0, 1.0, False, True),
    "data.augmentation.rotation": (0.0, 180.0, True, True),
    "data.augmentation.shift": (0.0, 14.0, True, True),
    "data.augmentation.zoom": (0.0, 0.9, True, True),
    "data.augmentation.shear": (0.0, 60.0, True, True),
    "data.augmentation.elastic.alpha": (0.0, 100.0, True, True),
    "data.augmentation.elastic.sigma": (0.5, 10.0, True, True),
    "data.augmentation.thickness": (0.0, 2.0, True, True),
    "data.augmentation.blur": (0.0, 3.0, True, True),
    "data.augmentation.resolution": (0.0, 27.0, True, True),
    "model.kernel_size": (1, 28, True, True),
    "model.dense_units": (1, 1_000_000, True, True),
    "model.dropout": (0.0, 1.0, True, False),
    "train.epochs": (1, 10000, True, True),
    "train.batch_size": (1, 60000, True, True),
    "train.optimizer.learning_rate": (0.0, 10.0, False, True),
    "train.optimizer.momentum": (0.0, 1.0, True, False),
    "train.optimizer.warmup_epochs": (0.0, 10000.0, True, True),
    "train.label_smoothing": (0.0, 1.0, True, False),
    "train.stop_at.threshold": (0.0, 1e9, False, True),
    "train.early_stopping.patience": (1, 10000, True, True),
    "train.early_stopping.min_delta": (0.0, 1e9, True, True),
    "reproducibility.intra_op_threads": (0, 1024, True, True),
    "reproducibility.inter_op_threads": (0, 1024, True, True),
}

MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")
MODEL_NAMES = ("chollet", "tf-5x5-dense1024", "dlwp", "custom")
# Keras layer classes a custom model may use; anything else could run arbitrary code paths.
ALLOWED_LAYERS = (
    "Conv2D",
    "SeparableConv2D",
    "DepthwiseConv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Dense",
    "Dropout",
    "SpatialDropout2D",
    "BatchNormalization",
    "LayerNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ZeroPadding2D",
)
