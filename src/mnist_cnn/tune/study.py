"""A tune's plan and its Optuna study: what is searched, how, and where the study is stored.

The tune directory holds the plan (tune.json: base config, space, sampler, pruner, objective,
storage URL), the base config resolved (base.yaml), the default SQLite study (study.db) and every
trial as an ordinary run directory under trials/<number>/. Any worker that can read the directory
and reach the storage can join: the plan is the contract, as a sweep's plan is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mnist_cnn import atomic, config, safe_read
from mnist_cnn.config import ConfigError
from mnist_cnn.tune import space as spaces

PLAN_FILE = "tune.json"
BASE_CONFIG_FILE = "base.yaml"
SPACE_FILE = "space.yaml"
STUDY_DB = "study.db"
TRIALS_DIR = "trials"
ASK_LOCK = ".ask.lock"
PLAN_VERSION = 1

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "hyperband", "none")
OBJECTIVES = {"val_accuracy": "maximize", "val_loss": "minimize"}
FINISHED_STATES = ("COMPLETE", "PRUNED")  # what counts towards --trials


@dataclass(frozen=True)
class TunePlan:
    """Everything a worker needs to join the study, independent of who started it."""

    name: str
    source: str  # the config file the tune was planned from (for people; trials use base.yaml)
    space_source: str
    params: tuple[spaces.Param, ...]
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str = "val_accuracy"
    trials: int = 20
    seed: int = 0  # the tune's seed: the sampler's suggestions; the trials train with the base config's seed
    final_seeds: int = 5
    startup_trials: int = 5  # trials before TPE models the space and before the pruners prune
    storage: str = ""  # empty: the SQLite file inside the tune directory
    heartbeat_interval: int = 10
    grace_period: int = 60
    allow_test_validation: bool = False
    max_retry: int = 3
    sets: tuple[str, ...] = field(default_factory=tuple)  # --set given to `tune`: already in base.yaml

    @property
    def direction(self) -> str:
        """maximize or minimize, from the objective."""
        return OBJECTIVES[self.objective]

    def to_json(self) -> dict:
        """Plain data for tune.json."""
        data = asdict(self)
        data["params"] = [p.to_json() for p in self.params]
        return {"version": PLAN_VERSION, **data}


def check_options(plan: TunePlan, base: config.Config) -> None:
    """Refuse settings that cannot tune honestly, before anything is written (ConfigError, exit 2)."""
    mode = base.data.validation.mode
    if mode == "none":
        raise ConfigError(
            f"{plan.source}: data.validation.mode is none, so there is no validation metric to tune on; "
            "set data.validation.mode=fraction (or first/last)"
        )
    if mode == "test" and not plan.allow_test_validation:
        raise ConfigError(
            f"{plan.source}: validates on the test set, so tuning would select on test data; "
            "use --set data.validation.mode=fraction, or --allow-test-validation to accept the leak"
        )
    if plan.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise ConfigError("--sampler cmaes needs the cmaes package: pip install cmaes (or use tpe or random)")
    if plan.sampler == "cmaes" and any(p.kind == "categorical" for p in plan.params):
        raise ConfigError("--sampler cmaes searches numeric ranges only; use tpe or random for a space with choices")
    if plan.sampler == "grid":
        spaces.grid(plan.params)  # raises for a continuous range


def plan_tune(config_path: str | Path, space_path: str | Path, sets: list[str], **options) -> tuple[TunePlan, str]:
    """The plan and the resolved base config YAML; config, space and options all validated first."""
    base = config.load(config_path, list(sets))
    params = spaces.load(space_path)
    spaces.check(params, config_path, list(sets))
    plan = TunePlan(base.name, str(config_path), str(space_path), params, sets=tuple(sets), **options)
    check_options(plan, base)
    return plan, config.to_yaml(base)


def default_dir(plan: TunePlan, base_yaml: str, tunes_dir: str | Path = "tunes") -> Path:
    """tunes/<name>-<hash of the plan>: the same command finds the same tune again."""
    data = plan.to_json()
    data.pop("source"), data.pop("space_source")
    digest = hashlib.sha256(json.dumps([base_yaml, data], sort_keys=True).encode()).hexdigest()
    return Path(tunes_dir) / f"{plan.name}-{digest[:8]}"


def _comparable(plan: TunePlan) -> dict:
    data = plan.to_json()
    for key in ("source", "space_source", "trials", "final_seeds"):  # may change between runs of one tune
        data.pop(key)
    return data


def write(tune_dir: Path, plan: TunePlan, base_yaml: str) -> bool:
    """Write the plan; False if the same plan is there already (--trials may grow), ConfigError if another is."""
    tune_dir = Path(tune_dir)
    if (tune_dir / PLAN_FILE).exists():
        existing = read(tune_dir)
        try:  # the tool's own state: bounded, never through a link
            same_base = _own_text(tune_dir / BASE_CONFIG_FILE) == base_yaml
        except (OSError, safe_read.FileRefused):
            same_base = False
        if _comparable(existing) != _comparable(plan) or not same_base:
            raise ConfigError(f"{tune_dir}: holds a different tune; choose another --tune-dir or reuse its command")
        if (existing.trials, existing.final_seeds) != (plan.trials, plan.final_seeds):
            atomic.write_json(tune_dir / PLAN_FILE, plan.to_json())
        return False
    (tune_dir / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    atomic.write_text(tune_dir / BASE_CONFIG_FILE, base_yaml)
    space_text = safe_read.read_text(plan.space_source, safe_read.CONFIG_LIMIT, "space file")
    atomic.write_text(tune_dir / SPACE_FILE, space_text)
    with ask_lock(tune_dir):
        open_study(tune_dir, plan)  # the database's tables and the study exist before any worker can join
    atomic.write_json(tune_dir / PLAN_FILE, plan.to_json())  # last: a plan file means the folder is complete
    return True


def read(tune_dir: str | Path) -> TunePlan:
    """The plan stored in `tune_dir`; ConfigError (exit 2) if it is not a tune directory."""
    path = Path(tune_dir) / PLAN_FILE
    try:
        data = safe_read.loads_strict(_own_text(path))
        data.pop("version")
        data["params"] = spaces.from_json(data["params"])
        data["sets"] = tuple(data["sets"])
        return TunePlan(**data)
    except FileNotFoundError:
        raise ConfigError(f"{tune_dir}: not a tune directory (no {PLAN_FILE})") from None
    except safe_read.FileRefused as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable tune plan ({exc})") from None


def storage_url(tune_dir: Path, plan: TunePlan) -> str:
    """The plan's storage, or the SQLite file inside the tune directory (an absolute path: any cwd works)."""
    return plan.storage or f"sqlite:///{(Path(tune_dir) / STUDY_DB).resolve()}"


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Experimental-API notices and "heartbeat is meant for optimize()": we run the heartbeat ourselves.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*Heartbeat of storage.*")


def make_storage(tune_dir: Path, plan: TunePlan):
    """RDBStorage with heartbeats: a trial whose process died is failed after the grace period and retried."""
    import optuna

    _quiet_optuna()
    url = storage_url(tune_dir, plan)
    # SQLite: several workers write to one file; wait for the lock rather than fail at once.
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=plan.heartbeat_interval, grace_period=plan.grace_period,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=plan.max_retry),
        )  # fmt: skip
    except ImportError as exc:
        raise ConfigError(f"--storage {url.split(':', 1)[0]}: a database driver is missing ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's many connection errors: one line for the user
        raise ConfigError(f"--storage: cannot open the study database ({type(exc).__name__}: {exc})"[:400]) from None


def retry_callback():
    """Re-queues an interrupted trial with its own values, as a stale one is (a user's stop: no limit)."""
    import optuna

    return optuna.storages.RetryHeartbeatStaleTrialCallback()


def sampler_seed(tune_seed: int, asked: int) -> int:
    """The sampler's seed for the trial asked after `asked` others: a fresh process per trial stays reproducible."""
    digest = hashlib.sha256(f"tune:{tune_seed}:{asked}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def make_sampler(plan: TunePlan, asked: int = 0):
    """The plan's sampler, seeded from the tune seed and the number of trials asked so far."""
    import optuna

    seed = sampler_seed(plan.seed, asked)
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if plan.sampler == "grid":
        return optuna.samplers.GridSampler(spaces.grid(plan.params), seed=seed)
    if plan.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=plan.startup_trials)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=plan.startup_trials)


def make_pruner(plan: TunePlan, epochs: int):
    """median (after startup trials), hyperband (1 epoch to the config's epochs), or none."""
    import optuna

    if plan.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=plan.startup_trials, n_warmup_steps=0)
    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    return optuna.pruners.NopPruner()


def base_config(tune_dir: Path) -> config.Config:
    """The tune's resolved base config."""
    return config.load(Path(tune_dir) / BASE_CONFIG_FILE)


def open_study(tune_dir: Path, plan: TunePlan, asked: int = 0):
    """Create or load the plan's study (one name per tune, so one database may hold many tunes)."""
    import optuna

    epochs = base_config(tune_dir).train.epochs
    return optuna.create_study(
        study_name=plan.name + "-" + Path(tune_dir).resolve().name, storage=make_storage(tune_dir, plan),
        sampler=make_sampler(plan, asked), pruner=make_pruner(plan, epochs), direction=plan.direction,
        load_if_exists=True,
    )  # fmt: skip


def counts(study) -> dict[str, int]:
    """Trials per Optuna state name."""
    tally: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        tally[t.state.name] = tally.get(t.state.name, 0) + 1
    return tally


def finished(tally: dict[str, int]) -> int:
    """Trials that count towards --trials: completed or pruned."""
    return sum(tally.get(s, 0) for s in FINISHED_STATES)


def slot_number(trial) -> int:
    """The trial's slot: a retried trial trains in (and resumes) the run directory of the trial it retries."""
    return trial.system_attrs.get("failed_trial", trial.number)


def trial_slot(tune_dir: Path, number: int) -> Path:
    """trials/<number>/: holds the trial's run directory and its lock."""
    return Path(tune_dir) / TRIALS_DIR / f"{number:04d}"


def _own_text(path: Path) -> str:
    """A file of the tune directory's own state: regular, bounded, not a link."""
    return safe_read.read_text(path, safe_read.PLAN_LIMIT, "tune state file", follow_links=False)


@contextlib.contextmanager
def ask_lock(tune_dir: Path) -> Iterator[None]:
    """Serialise count-then-ask between workers sharing the directory, so --trials is not overshot."""
    # Never through a link (O_CREAT would make the link's target elsewhere); O_CLOEXEC: not inherited by trials.
    fd = os.open(Path(tune_dir) / ASK_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a database round trip or two
        yield
    finally:
        os.close(fd)


class Heartbeat:
    """Record the trial's heartbeat every interval from a thread, while this process lives."""

    def __init__(self, storage, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        interval = self.storage.get_heartbeat_interval()
        while not self._stop.wait(interval):
            with contextlib.suppress(Exception):  # a missed beat is retried next interval
                self.storage.record_heartbeat(self.trial_id)

    def __enter__(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
