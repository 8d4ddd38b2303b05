"""Typed run configuration: the one place that checks config.

`load`/`loads` read YAML strictly (strict_yaml), build the schema's dataclasses with every value
checked (checks), and apply `--set` overrides with the same checks. The schema itself, with its
defaults, is in schema.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from mnist_cnn.config.checks import Builder, check_semantics, describe
from mnist_cnn.config.schema import (  # noqa: F401 (re-exported: the package's public names)
    ALLOWED_LAYERS,
    MODEL_NAMES,
    MONITORS,
    Augmentation,
    CheckpointConfig,
    Config,
    ConfigError,
    DataConfig,
    EarlyStopping,
    Elastic,
    LayerSpec,
    ModelConfig,
    OptimizerConfig,
    OutputConfig,
    ReproducibilityConfig,
    Subset,
    ThresholdStop,
    TrainConfig,
    ValidationSplit,
)
from mnist_cnn.config.strict_yaml import parse_yaml


def from_dict(raw: Any, lines: dict[int, dict[Any, int]] | None = None) -> Config:
    """Build and validate a Config from plain data (as parsed from YAML)."""
    if raw is None:
        raise ConfigError("the file is empty; expected a mapping of settings such as 'train: {epochs: 3}'")
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping of settings at the top level, got {describe(raw)}")
    cfg = Builder(lines or {}).build(Config, raw, "", None)
    check_semantics(cfg)
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
        parsed, _ = parse_yaml(value) if value.strip() else (None, {})
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
    return loads(read_yaml_text(path, "config file"), overrides, source=str(path))


def read_yaml_text(path: Path, kind: str) -> str:
    """A YAML file's text, bounded and regular (safe_read); ConfigError (exit 2) naming the file otherwise."""
    from mnist_cnn import safe_read

    try:
        return safe_read.read_text(path, safe_read.CONFIG_LIMIT, kind)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {kind}") from None
    except safe_read.FileRefused as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {kind} ({exc.strerror or exc})") from None


def loads(text: str, overrides: list[str] | None = None, source: str = "<config>") -> Config:
    """Parse, override and validate YAML text; errors start with `source`."""
    try:
        raw, lines = parse_yaml(text)
        if overrides:
            if raw is not None and not isinstance(raw, dict):
                raise ConfigError(f"expected a mapping of settings at the top level, got {describe(raw)}")
            raw = apply_overrides({} if raw is None else raw, overrides, lines)
        return from_dict(raw, lines)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
