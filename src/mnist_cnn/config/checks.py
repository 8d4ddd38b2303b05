"""Turn parsed YAML into the schema's dataclasses, checking types, ranges and cross-key rules.

Every failure is one ConfigError naming the key path and, where known, the line (or --set).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from mnist_cnn.config.schema import (
    ALLOWED_LAYERS,
    MAX_NAME_BYTES,
    MNIST_TRAIN_IMAGES,
    MODEL_NAMES,
    MONITORS,
    RANGES,
    Config,
    ConfigError,
)


class Builder:
    """Turns nested dicts into the dataclass tree, reporting the key path and line of any error."""

    def __init__(self, lines: dict[int, dict[Any, int]]):
        self.lines = lines

    def fail(self, path: str, message: str, line: int | str | None) -> None:
        where = " (from --set)" if line == "--set" else f" (line {line})" if line else ""
        raise ConfigError(f"{path or 'top level'}{where}: {message}")

    def build(self, cls: type, raw: Any, path: str, line: int | None) -> Any:
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping of settings, got {describe(raw)}", line)
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
                self.fail(path, f"expected one of {choices}, got {describe(value)}{hint_text}", line)
            return value
        if origin is list:
            if not isinstance(value, list):
                self.fail(path, f"expected a list, got {describe(value)}", line)
            return [self.convert(args[0], item, f"{path}[{i}]", line) for i, item in enumerate(value)]
        if dataclasses.is_dataclass(hint):
            return self.build(hint, value, path, line)
        if hint is dict:
            if not isinstance(value, dict):
                self.fail(path, f"expected a mapping, got {describe(value)}", line)
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
        self.fail(path, f"expected {expected}, got {describe(value)}{_yaml_surprise(hint, value)}", line)

    def check_range(self, path: str, value: float, line: int | None) -> None:
        generic = re.sub(r"\[\d+\]", "", path)
        if generic == "model.filters":
            low, high, inc_low, inc_high = 1, 4096, True, True
        elif generic in RANGES:
            low, high, inc_low, inc_high = RANGES[generic]
        else:
            return
        ok = (value >= low if inc_low else value > low) and (value <= high if inc_high else value < high)
        if not ok:
            left, right = ("[" if inc_low else "("), ("]" if inc_high else ")")
            self.fail(path, f"{value} is out of range; expected a value in {left}{low}, {high}{right}", line)


def describe(value: Any) -> str:
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


def check_semantics(cfg: Config) -> None:
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
    aug = cfg.data.augmentation
    if aug and not any(getattr(aug, name) for name in aug.distortions()):
        raise ConfigError(
            f"data.augmentation: no distortion set; give at least one of {', '.join(aug.distortions())} "
            "(or remove the block)"
        )
    if train.optimizer.warmup_epochs >= train.epochs:
        raise ConfigError("train.optimizer.warmup_epochs: must be shorter than train.epochs")
    _check_split(cfg)
    if len(cfg.name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ConfigError(
            f"name: {len(cfg.name.encode('utf-8'))} bytes is too long for a run folder name (at most {MAX_NAME_BYTES})"
        )


def _check_split(cfg: Config) -> None:
    """Splits that would leave no image to train on, or none to validate on, cannot train."""
    total = cfg.data.subset.train or MNIST_TRAIN_IMAGES
    split = cfg.data.validation
    if split.mode == "fraction":
        train = int(total * (1.0 - split.fraction))  # as in data/preparation (Keras' validation_split)
        if train < 1:
            raise ConfigError(
                f"data.validation.fraction: {split.fraction} of {total} training images leaves none to train on"
            )
        if total - train < 1:
            raise ConfigError(
                f"data.validation.fraction: {split.fraction} of {total} training images leaves none to validate on; "
                "use a larger fraction or data.validation.mode: none"
            )
    elif split.mode in ("first", "last") and split.count >= total:
        raise ConfigError(f"data.validation.count: {split.count} of {total} training images leaves none to train on")
