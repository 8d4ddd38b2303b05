"""Strict YAML: safe types only, duplicate keys rejected, and the line of every key remembered."""

from __future__ import annotations

import re
from typing import Any

import yaml

from mnist_cnn.config.schema import ConfigError
from mnist_cnn.errors import first_line

# A recipe has ~60 YAML nodes nested 4 deep (a resolved config ~150); these bounds stop a hostile file
# (a 3 MB list, a value nested 10,000 deep, an alias bomb) early instead of after gigabytes or a RecursionError.
MAX_DEPTH = 32
MAX_NODES = 2_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, remembers the line of every key and stays within a node budget."""

    def __init__(self, stream):
        super().__init__(stream)
        self.lines: dict = {}
        self._depth = 0
        self._nodes = 0
        self._anchor_sizes: dict[str, int] = {}

    def compose_node(self, parent, index):
        # Aliases count as the size of what they repeat: the built value is walked that many times.
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._count(self._anchor_sizes.get(event.anchor, 1), event.start_mark)
            return super().compose_node(parent, index)
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ConfigError(f"nested more than {MAX_DEPTH} levels deep at line {event.start_mark.line + 1}")
        before = self._nodes
        self._count(1, event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        anchor = getattr(event, "anchor", None)
        if anchor:
            self._anchor_sizes[anchor] = self._nodes - before
        return node

    def _count(self, n: int, mark) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise ConfigError(f"more than {MAX_NODES:,} YAML values (at line {mark.line + 1}); a config is far smaller")


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


# What YAML's reader refuses (it would raise before parsing starts, without a line number).
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_yaml(text: str) -> tuple[Any, dict[int, dict[Any, int]]]:
    """Parse YAML safely; return the data and, per mapping id, the line of each key."""
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError(f"invalid YAML at line {line}: control character {ord(bad.group()):#04x} is not allowed")
    loader = _StrictLoader(text)
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
