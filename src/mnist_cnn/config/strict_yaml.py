"""Strict YAML: safe types only, duplicate keys rejected, and the line of every key remembered."""

from __future__ import annotations

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
