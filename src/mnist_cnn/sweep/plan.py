"""A sweep's plan: config × grid × seeds expanded into numbered trials, validated, written once.

The plan is the contract between whoever starts a sweep and whoever runs its trials (local
workers, a Slurm array task, a Kubernetes indexed pod, a Ray task): trial I is always the same
config overrides, so any executor can run any index and they all agree.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from mnist_cnn import atomic, config, safe_read
from mnist_cnn.config import ConfigError
from mnist_cnn.errors import first_line

PLAN_FILE = "plan.json"
BASE_CONFIG_FILE = "base.yaml"
TRIALS_DIR = "trials"
PLAN_VERSION = 1


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: a grid point and a seed."""

    index: int
    id: str
    point: str  # 'train.batch_size=64 model.dropout=0.3', or 'base' with no grid
    seed: int
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Everything needed to run and report a sweep, independent of who executes it."""

    name: str
    source: str  # the config file the sweep was planned from (for people; trials use base.yaml)
    grid: dict[str, list[str]]
    seeds: tuple[int, ...]
    trials: tuple[Trial, ...]

    @property
    def points(self) -> list[str]:
        """Grid point labels in plan order."""
        return list(dict.fromkeys(t.point for t in self.trials))


def split_values(text: str) -> list[str]:
    """'64,128' -> ['64', '128']; commas inside [...] or {...} or quotes stay (e.g. filters=[16,32],[32,64])."""
    values, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += ch
    values.append(current.strip())
    return values


def parse_grid(items: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """--grid KEY=V1,V2 options as {key: [value texts]}; shape errors are ConfigError (exit 2)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"--grid '{item}': expected KEY.PATH=VALUE1,VALUE2, e.g. train.batch_size=64,128")
        if key == "seed":
            raise ConfigError(f"--grid '{item}': give seeds with --seeds (a count like 5, or a list like 1,7,42)")
        if key in grid:
            raise ConfigError(f"--grid '{item}': {key} is given twice; list all its values in one --grid")
        parts = split_values(values)
        if any(not p for p in parts):
            raise ConfigError(f"--grid '{item}': empty value; separate values with single commas")
        if len(set(parts)) != len(parts):
            raise ConfigError(f"--grid '{item}': a value is repeated")
        grid[key] = parts
    return grid


def parse_seeds(text: str, base_seed: int) -> tuple[int, ...]:
    """'5' -> five seeds from the config's seed on; '1,7,42' -> those seeds."""
    text = text.strip()
    try:
        if "," in text:
            seeds = tuple(int(s) for s in text.split(","))
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = tuple(range(base_seed, base_seed + count))
    except ValueError:
        raise ConfigError(
            f"--seeds '{text}': expected a count (5: the config's seed and the next 4) or a list like 1,7,42"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds '{text}': a seed is repeated")
    return seeds


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:80] or "base"


def expand(config_path: str | Path, sets: list[str], grid: dict[str, list[str]], seeds_text: str) -> tuple[Plan, str]:
    """The plan and the resolved base config YAML; every trial's config is validated like `--set`."""
    base = config.load(config_path, list(sets))
    seeds = parse_seeds(seeds_text, base.seed)
    keys = list(grid)
    points = [tuple(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())] or [()]
    trials = []
    # Seed-major order: a sweep stopped early has every grid point at a similar number of seeds.
    for seed, point in itertools.product(seeds, points):
        overrides = tuple([*sets, *(f"{k}={v}" for k, v in point), f"seed={seed}"])
        config.load(config_path, list(overrides))  # exactly what `train --set` checks; raises before writing
        label = " ".join(f"{k}={v}" for k, v in point) or "base"
        index = len(trials)
        trials.append(Trial(index, f"{index:04d}-{_slug(label.replace(' ', '-'))}-seed{seed}", label, seed, overrides))
    plan = Plan(base.name, str(config_path), grid, seeds, tuple(trials))
    return plan, config.to_yaml(base)


def trial_config(sweep_dir: Path, trial: Trial, extra: list[str] | None = None) -> config.Config:
    """The trial's config: the sweep's base config, the trial's overrides, its run directory's home."""
    slot = trial_slot(sweep_dir, trial)
    overrides = [*trial.overrides, f"output.runs_dir={json.dumps(str(slot))}", *(extra or [])]
    return config.load(sweep_dir / BASE_CONFIG_FILE, overrides)


def trial_slot(sweep_dir: Path, trial: Trial) -> Path:
    """The folder that holds the trial's run directory and its lock."""
    return Path(sweep_dir) / TRIALS_DIR / trial.id


def default_dir(plan: Plan, base_yaml: str, sweeps_dir: str | Path = "sweeps") -> Path:
    """sweeps/<name>-<hash of the plan>: the same command finds the same sweep again."""
    digest = hashlib.sha256(json.dumps([base_yaml, _plan_dict(plan)], sort_keys=True).encode()).hexdigest()
    return Path(sweeps_dir) / f"{plan.name}-{digest[:8]}"


def _plan_dict(plan: Plan) -> dict:
    data = asdict(plan)
    data.pop("source")
    return data


def write(sweep_dir: Path, plan: Plan, base_yaml: str) -> bool:
    """Write the plan into `sweep_dir`; False if the same plan is already there, ConfigError if another is."""
    sweep_dir = Path(sweep_dir)
    if (sweep_dir / PLAN_FILE).exists():
        existing = read(sweep_dir)
        try:
            same_base = _read_base(sweep_dir) == base_yaml
        except (OSError, safe_read.FileRefused):
            same_base = False
        if _plan_dict(existing) != _plan_dict(plan) or not same_base:
            raise ConfigError(
                f"{sweep_dir}: holds a different sweep plan; choose another --sweep-dir or reuse that sweep's command"
            )
        return False
    (sweep_dir / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    atomic.write_text(sweep_dir / BASE_CONFIG_FILE, base_yaml)
    # Written last: a plan file present means the sweep directory is complete.
    atomic.write_json(sweep_dir / PLAN_FILE, {"version": PLAN_VERSION, **asdict(plan)})
    return True


def read(sweep_dir: str | Path) -> Plan:
    """The plan stored in `sweep_dir`; ConfigError (exit 2) if it is not a sweep directory."""
    path = Path(sweep_dir) / PLAN_FILE
    try:
        data = safe_read.read_json(path, safe_read.PLAN_LIMIT, "sweep plan", follow_links=False)
        trials = tuple(Trial(**{**t, "overrides": tuple(t["overrides"])}) for t in data["trials"])
        plan = Plan(data["name"], data["source"], data["grid"], tuple(data["seeds"]), trials)
    except FileNotFoundError:
        raise ConfigError(f"{sweep_dir}: not a sweep directory (no {PLAN_FILE})") from None
    except safe_read.FileRefused as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable sweep plan ({first_line(exc, 200)})") from None
    _check_trials(path, plan)
    return plan


_TRIAL_ID = re.compile(r"[0-9]{4,}-[A-Za-z0-9_.=-]{1,200}")


def _check_trials(path: Path, plan: Plan) -> None:
    """Trial ids become folder names under trials/: each must be a plain name this module would make."""
    for number, trial in enumerate(plan.trials):
        ok_id = isinstance(trial.id, str) and _TRIAL_ID.fullmatch(trial.id) and trial.id not in (".", "..")
        ok_overrides = all(isinstance(o, str) for o in trial.overrides)
        if not ok_id or trial.index != number or not ok_overrides:
            shown = json.dumps(trial.id)[:80] if isinstance(trial.id, str) else type(trial.id).__name__
            raise ConfigError(f"{path}: trial {number} has an unexpected id {shown} or index; the plan was edited")


def _read_base(sweep_dir: Path) -> str:
    return safe_read.read_text(sweep_dir / BASE_CONFIG_FILE, safe_read.CONFIG_LIMIT, "config file", follow_links=False)


def trial_at(plan: Plan, index: int) -> Trial:
    """Trial number `index`; ConfigError naming the valid range otherwise."""
    if not 0 <= index < len(plan.trials):
        raise ConfigError(f"--index {index}: this sweep has trials 0 to {len(plan.trials) - 1}")
    return plan.trials[index]


SBATCH_FILE = "sweep.sbatch"
SBATCH_TEMPLATE = """#!/bin/bash
# Slurm job array for the sweep {sweep_dir}: one array task per trial, {count} trials.
# Written by `mnist-cnn sweep --plan-only`. Submit with:  sbatch --array={array} {script}
# Resubmitting it later runs only what is unfinished: finished trials exit at once, interrupted ones resume.
#
# Trials {array}, at most 4 at once.
#SBATCH --array={array}%4
#SBATCH --job-name={name}-sweep
# At most the CPUs of your smallest node (sinfo -o "%n %c"): a larger request waits in the queue forever.
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output={sweep_dir}/slurm-%A_%a.out
# SIGTERM a minute before the time limit: the trial stops at once, keeps its last committed epoch (the
# epoch in progress is lost) and records itself interrupted; Slurm then shows the task FAILED (exit 143).
#SBATCH --signal=B:TERM@60
set -euo pipefail
# The interpreter that planned the sweep; on nodes where mnist-cnn lives elsewhere, activate that instead.
exec {python} -m mnist_cnn.cli sweep run {sweep_dir} --index "$SLURM_ARRAY_TASK_ID" --threads "$SLURM_CPUS_PER_TASK"
"""


def array_range(plan: Plan) -> str:
    """The Slurm `--array` value that covers every trial: 0-N."""
    return f"0-{len(plan.trials) - 1}"


def write_sbatch(sweep_dir: Path, plan: Plan) -> Path:
    """A ready Slurm job-array script for this sweep, SWEEP_DIR/sweep.sbatch; its path."""
    import shlex
    import sys

    sweep_dir = Path(sweep_dir).resolve()  # array tasks start in another directory
    script = sweep_dir / SBATCH_FILE
    text = SBATCH_TEMPLATE.format(
        sweep_dir=shlex.quote(str(sweep_dir)), count=len(plan.trials), array=array_range(plan),
        script=shlex.quote(str(script)), name=_slug(plan.name), python=shlex.quote(sys.executable),
    )  # fmt: skip
    atomic.write_text(script, text)
    return script
