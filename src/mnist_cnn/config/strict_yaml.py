"""Strict YAML: safe types only, duplicate keys rejected, and the line of every key remembered."""

from __future__ import annotations

import re
from typing import Any

import yaml

from mnist_cnn.config.schema import ConfigError
from mnist_cnn.errors import first_line


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

# YAML 1.1 (PyYAML) reads 010 as 8, 1:00 as 60, 0x10 as 16 and 1_000 as 1000; YAML 1.2 and people
# read them otherwise. Only plain decimal numbers are accepted; anything else is ambiguous.
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _ambiguous(node: yaml.ScalarNode, value: Any) -> ConfigError:
    text = node.value
    plain = text.replace("_", "")
    hint = f"write {value}"
    if re.fullmatch(r"[-+]?0[0-9]+", plain):
        hint += f" if you meant octal, or {int(plain)} if you meant decimal"
    return ConfigError(
        f"ambiguous number '{text}' at line {node.start_mark.line + 1}: YAML 1.1 reads it as {value}; "
        f"{hint} (or quote it if it is text)"
    )


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    if not _PLAIN_INT.fullmatch(node.value):
        raise _ambiguous(node, value)
    return value


def _construct_float(loader: _StrictLoader, node: yaml.ScalarNode) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not _PLAIN_FLOAT.fullmatch(node.value):
        raise _ambiguous(node, value)
    return value


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def parse_yaml(text: str) -> tuple[Any, dict[int, dict[Any, int]]]:
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
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise ConfigError(f"invalid YAML{where}: {problem}") from None
    finally:
        loader.dispose()
