"""Typed run configuration: dataclasses with defaults, strict YAML loading, overrides, validation.

This is the only module that checks configuration. Everything else receives a valid `Config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A configuration problem, phrased as one line for the user."""


# ---------------------------------------------------------------------------- schema


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
class DataConfig:
    """Where the data comes from and how it is split."""

    path: str | None = None
    validation: ValidationSplit = field(default_factory=ValidationSplit)
    subset: Subset = field(default_factory=Subset)


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


# Ranges checked after types: key path -> (low, high, inclusive-low?, inclusive-high?).
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "seed": (0, 2**32 - 1, True, True),
    "data.validation.fraction": (0.0, 1.0, False, False),
    "data.validation.count": (1, 59999, True, True),
    "data.subset.train": (10, 60000, True, True),
    "data.subset.test": (10, 10000, True, True),
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


# ---------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and remembers the line of every key."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"duplicate key '{key}' at line {line} (first at line {seen[key]})")
        seen[key] = line
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    loader.lines[id(mapping)] = seen
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str) -> tuple[Any, dict[int, dict[Any, int]]]:
    """Parse YAML safely; return the data and, per mapping id, the line of each key."""
    loader = _StrictLoader(text)
    loader.lines = {}
    try:
        return loader.get_single_data(), loader.lines
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"unsupported YAML tag{where}: {exc.problem} (only plain YAML is allowed)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------------------- building


class _Builder:
    """Turns nested dicts into the dataclass tree, reporting the key path and line of any error."""

    def __init__(self, lines: dict[int, dict[Any, int]]):
        self.lines = lines

    def fail(self, path: str, message: str, line: int | str | None) -> None:
        where = " (from --set)" if line == "--set" else f" (line {line})" if line else ""
        raise ConfigError(f"{path or 'top level'}{where}: {message}")

    def build(self, cls: type, raw: Any, path: str, line: int | None) -> Any:
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping of settings, got {_describe(raw)}", line)
        hints = get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        key_lines = self.lines.get(id(raw), {})
        values = {}
        for key, value in raw.items():
            key_path = f"{path}.{key}" if path else str(key)
            key_line = key_lines.get(key, line)
            if key not in names:
                self.fail(key_path, f"unknown key{_suggest(str(key), names)}", key_line)
            values[key] = self.convert(hints[key], value, key_path, key_line)
        return cls(**values)

    def convert(self, hint: Any, value: Any, path: str, line: int | None) -> Any:
        origin, args = get_origin(hint), get_args(hint)
        if origin is Union or (origin is not None and type(None) in args):
            if value is None and type(None) in args:
                return None
            (inner,) = [a for a in args if a is not type(None)]
            return self.convert(inner, value, path, line)
        if origin is Literal:
            if value not in args:
                choices = ", ".join(repr(a) for a in args)
                hint_text = _suggest(str(value), [str(a) for a in args])
                self.fail(path, f"expected one of {choices}, got {_describe(value)}{hint_text}", line)
            return value
        if origin is list:
            if not isinstance(value, list):
                self.fail(path, f"expected a list, got {_describe(value)}", line)
            return [self.convert(args[0], item, f"{path}[{i}]", line) for i, item in enumerate(value)]
        if dataclasses.is_dataclass(hint):
            return self.build(hint, value, path, line)
        if hint is dict:
            if not isinstance(value, dict):
                self.fail(path, f"expected a mapping, got {_describe(value)}", line)
            return value
        return self.scalar(hint, value, path, line)

    def scalar(self, hint: type, value: Any, path: str, line: int | None) -> Any:
        if hint is bool and isinstance(value, bool):
            return value
        if hint is int and isinstance(value, int) and not isinstance(value, bool):
            self.check_range(path, value, line)
            return value
        if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            self.check_range(path, float(value), line)
            return float(value)
        if hint is str and isinstance(value, str):
            return value
        expected = {bool: "true or false", int: "an integer", float: "a number", str: "text"}[hint]
        self.fail(path, f"expected {expected}, got {_describe(value)}{_yaml_surprise(hint, value)}", line)

    def check_range(self, path: str, value: float, line: int | None) -> None:
        generic = re.sub(r"\[\d+\]", "", path)
        if generic == "model.filters":
            low, high, inc_low, inc_high = 1, 4096, True, True
        elif generic in _RANGES:
            low, high, inc_low, inc_high = _RANGES[generic]
        else:
            return
        ok = (value >= low if inc_low else value > low) and (value <= high if inc_high else value < high)
        if not ok:
            left, right = ("[" if inc_low else "("), ("]" if inc_high else ")")
            self.fail(path, f"{value} is out of range; expected a value in {left}{low}, {high}{right}", line)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _yaml_surprise(hint: type, value: Any) -> str:
    """Explain the two YAML 1.1 traps people fall into."""
    if hint in (float, int) and isinstance(value, str) and re.fullmatch(r"[-+]?[\d.]+[eE][-+]?\d+", value):
        return " (YAML reads exponents without a dot as text: write 1.0e-3 or 0.001)"
    if hint is str and isinstance(value, bool):
        return " (YAML reads yes/no/on/off/true/false as booleans: put the word in quotes)"
    return ""


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f"; expected one of: {', '.join(choices)}"


# ---------------------------------------------------------------------------- semantic checks


def _check_semantics(cfg: Config) -> None:
    """Checks that involve several keys at once."""
    model, train = cfg.model, cfg.train
    if model.name not in MODEL_NAMES:
        raise ConfigError(f"model.name: unknown model '{model.name}'{_suggest(model.name, list(MODEL_NAMES))}")
    if model.name == "custom":
        if not model.layers:
            raise ConfigError("model.layers: a custom model needs a non-empty list of layers")
        for i, layer in enumerate(model.layers):
            if layer.type not in ALLOWED_LAYERS:
                raise ConfigError(
                    f"model.layers[{i}].type: '{layer.type}' is not an allowed layer"
                    f"{_suggest(layer.type, list(ALLOWED_LAYERS))}"
                )
    elif model.layers is not None:
        raise ConfigError(f"model.layers: only a custom model takes layers (model.name is '{model.name}')")
    validation = cfg.data.validation.mode != "none"
    monitors = [("train.checkpoint.monitor", train.checkpoint.monitor)]
    if train.stop_at:
        monitors.append(("train.stop_at.monitor", train.stop_at.monitor))
    if train.early_stopping:
        monitors.append(("train.early_stopping.monitor", train.early_stopping.monitor))
    for key, monitor in monitors:
        if monitor not in MONITORS:
            raise ConfigError(f"{key}: unknown metric '{monitor}'{_suggest(monitor, list(MONITORS))}")
        if monitor.startswith("val_") and not validation:
            raise ConfigError(f"{key}: '{monitor}' needs a validation split (data.validation.mode is 'none')")
    if train.optimizer.momentum and train.optimizer.name not in ("sgd", "rmsprop"):
        raise ConfigError(f"train.optimizer.momentum: {train.optimizer.name} takes no momentum (sgd, rmsprop do)")
    if train.optimizer.warmup_epochs and train.optimizer.schedule != "cosine":
        raise ConfigError("train.optimizer.warmup_epochs: only the cosine schedule has a warm-up")
    if train.optimizer.warmup_epochs >= train.epochs:
        raise ConfigError("train.optimizer.warmup_epochs: must be shorter than train.epochs")


# ---------------------------------------------------------------------------- public API


def from_dict(raw: Any, lines: dict[int, dict[Any, int]] | None = None) -> Config:
    """Build and validate a Config from plain data (as parsed from YAML)."""
    if raw is None:
        raise ConfigError("the file is empty; expected a mapping of settings such as 'train: {epochs: 3}'")
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping of settings at the top level, got {_describe(raw)}")
    cfg = _Builder(lines or {}).build(Config, raw, "", None)
    _check_semantics(cfg)
    return cfg


def to_dict(cfg: Config) -> dict:
    """The config as plain data, every key spelled out."""
    return dataclasses.asdict(cfg)


def to_yaml(cfg: Config) -> str:
    """The resolved config as YAML that `load` reads back to an equal object."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split 'train.epochs=3' into (['train', 'epochs'], 3), reading the value as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key.strip()):
        raise ConfigError(f"--set '{text}': expected KEY.PATH=VALUE, e.g. train.epochs=3")
    try:
        parsed, _ = _parse_yaml(value) if value.strip() else (None, {})
    except ConfigError as exc:
        raise ConfigError(f"--set '{text}': {exc}") from None
    return key.strip().split("."), parsed


def apply_overrides(raw: dict, overrides: list[str], lines: dict | None = None) -> dict:
    """Apply each KEY.PATH=VALUE to `raw` in place (validated later with the rest) and return it.

    In place, so that the line numbers recorded for the parsed file still apply.
    """
    for text in overrides:
        keys, value = parse_override(text)
        node = raw
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set '{text}': '{key}' is not a section")
            node = child
        node[keys[-1]] = value
        if lines is not None:
            lines.setdefault(id(node), {})[keys[-1]] = "--set"  # errors then point at the flag
    return raw


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a YAML config file. Errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    return loads(text, overrides, source=str(path))


def loads(text: str, overrides: list[str] | None = None, source: str = "<config>") -> Config:
    """Parse, override and validate YAML text; errors start with `source`."""
    try:
        raw, lines = _parse_yaml(text)
        if overrides:
            if raw is not None and not isinstance(raw, dict):
                raise ConfigError(f"expected a mapping of settings at the top level, got {_describe(raw)}")
            raw = apply_overrides({} if raw is None else raw, overrides, lines)
        return from_dict(raw, lines)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
