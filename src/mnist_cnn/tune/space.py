"""The search space: config keys and their ranges, read from YAML and validated like `--set`.

```
train.optimizer.learning_rate: {low: 1e-4, high: 1e-2, log: true}
train.batch_size: {choices: [32, 64, 128, 256]}
model.dropout: {low: 0.0, high: 0.6}
model.dense_units: {low: 64, high: 256, step: 64}      # integers when low and high are integers
```

Every key, both ends of every range and every choice are loaded into the base config exactly as
`--set KEY=VALUE` would be, before anything is written: a space that names a key the config does
not have, or a value it refuses, is a ConfigError (exit 2) naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cnn import config
from mnist_cnn.config import ConfigError
from mnist_cnn.config.strict_yaml import parse_yaml

_FIELDS = {"low", "high", "log", "step", "choices"}


@dataclass(frozen=True)
class Param:
    """One searched key: a numeric range (float or int) or a list of choices."""

    key: str
    kind: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def to_json(self) -> dict:
        """Plain data for the plan file."""
        return {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "choices": list(self.choices)}  # fmt: skip


def _number(value: Any, where: str) -> float | int:
    """A number from YAML; '1e-4' too (YAML 1.1 reads it as a string, people write it anyway)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a number, got {value!r}")


def _choice_text(choice: Any) -> str:
    """How a choice travels through Optuna (which takes only None/bool/int/float/str): lists become JSON."""
    return json.dumps(choice) if isinstance(choice, list | dict) else choice


def _param(key: str, spec: Any, source: str) -> Param:
    where = f"{source}: {key}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping like {{low: 0.0, high: 0.5}} or {{choices: [32, 64]}}")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field '{unknown[0]}' (allowed: low, high, log, step, choices)")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise ConfigError(f"{where}: give either choices or low/high, not both")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices: expected a non-empty list")
        texts = [_choice_text(c) for c in choices]
        if len({json.dumps(t) for t in texts}) != len(texts):
            raise ConfigError(f"{where}.choices: a choice is repeated")
        return Param(key, "categorical", choices=tuple(texts))
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs both low and high (or give choices)")
    low, high = _number(spec["low"], f"{where}.low"), _number(spec["high"], f"{where}.high")
    if not low < high:
        raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log: expected true or false")
    step = _number(spec["step"], f"{where}.step") if spec.get("step") is not None else None
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low above 0")
    if log and step is not None:
        raise ConfigError(f"{where}: give either log or step, not both (Optuna cannot combine them)")
    if step is not None and step <= 0:
        raise ConfigError(f"{where}.step: must be above 0")
    is_int = all(isinstance(v, int) for v in (spec["low"], spec["high"])) and (step is None or isinstance(step, int))
    return Param(key, "int" if is_int else "float", low, high, log, step)


def load(path: str | Path) -> tuple[Param, ...]:
    """Read a space file; ConfigError (exit 2) naming the file and key for anything malformed."""
    path = Path(path)
    text = config.read_yaml_text(path, "space file")
    try:
        raw, _lines = parse_yaml(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"{path}: expected a mapping of config keys to ranges, e.g. 'model.dropout: {{low: 0, high: 0.5}}'"
        )
    params = []
    for key, spec in raw.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{path}: keys are config key paths like train.batch_size, got {key!r}")
        if key == "seed":
            raise ConfigError(f"{path}: seed is not a hyper-parameter; the final re-training averages over seeds")
        params.append(_param(key, spec, str(path)))
    return tuple(params)


def yaml_number(value: float) -> str:
    """A float as text that YAML reads back as that float: 1e-05 becomes 1.0e-05 (YAML wants the dot and sign)."""
    text = repr(float(value))
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    mantissa += "" if "." in mantissa else ".0"
    return f"{mantissa}e{exponent if exponent[0] in '+-' else '+' + exponent}"


def override(key: str, value: Any) -> str:
    """The `--set` text for one sampled value (JSON is valid YAML; a JSON-text choice goes in as it is)."""
    if isinstance(value, str):
        try:
            json.loads(value)
            return f"{key}={value}"
        except ValueError:
            return f"{key}={json.dumps(value)}"
    if isinstance(value, float):
        return f"{key}={yaml_number(value)}"
    return f"{key}={json.dumps(value)}"


def check(params: tuple[Param, ...], config_path: str | Path, sets: list[str]) -> None:
    """Load the base config with each end of every range and every choice, exactly as `--set` would."""
    for p in params:
        values = p.choices if p.kind == "categorical" else (p.low, p.high)
        for value in values:
            try:
                config.load(config_path, [*sets, override(p.key, value)])
            except ConfigError as exc:
                raise ConfigError(f"search space key {p.key}: {exc}") from None


def from_json(items: list[dict]) -> tuple[Param, ...]:
    """Params back from the plan file."""
    return tuple(Param(**{**d, "choices": tuple(d["choices"])}) for d in items)


def suggest(trial, params: tuple[Param, ...]) -> dict[str, Any]:
    """Ask an Optuna trial for one value per key (a retried trial gets its original values back)."""
    values = {}
    for p in params:
        if p.kind == "categorical":
            values[p.key] = trial.suggest_categorical(p.key, list(p.choices))
        elif p.kind == "int":
            values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            values[p.key] = trial.suggest_float(p.key, p.low, p.high, step=p.step, log=p.log)
    return values


def grid(params: tuple[Param, ...]) -> dict[str, list]:
    """The grid sampler's search space: choices, or every step of a stepped range; ConfigError otherwise."""
    space = {}
    for p in params:
        if p.kind == "categorical":
            space[p.key] = list(p.choices)
        elif p.step is not None or (p.kind == "int" and not p.log):
            step = p.step or 1
            count = int(round((p.high - p.low) / step)) + 1
            values = [p.low + i * step for i in range(count)]
            space[p.key] = [int(v) for v in values] if p.kind == "int" else [round(v, 12) for v in values]
        else:
            raise ConfigError(f"--sampler grid: {p.key} is a continuous range; give it a step or choices")
    return space
