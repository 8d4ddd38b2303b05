"""What a resume must check before training on: the same settings, and the same network in the checkpoint."""

from __future__ import annotations

from mnist_cnn import config
from mnist_cnn.config import Config, ConfigError
from mnist_cnn.runs.rundir import RunError
from mnist_cnn.train.checkpoints import EpochCommitter


def _architecture(model) -> list[tuple[str, tuple]]:
    """Layer kinds and weight shapes: what a checkpoint of another network cannot share."""
    return [(type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights)) for layer in model.layers]


def check_architecture(committer: EpochCommitter, restored, cfg: Config) -> None:
    """Refuse (exit 2) a checkpoint whose network is not the one the run's config builds."""
    from mnist_cnn.models import build_model

    expected = build_model(cfg.model, cfg.seed)
    if _architecture(restored) == _architecture(expected):
        return
    record = committer.manifest.checkpoints.get("last")
    where = record.path(committer.run, "last") if record else committer.run.checkpoints
    raise RunError(
        f"{where}: the checkpoint holds a network of {restored.count_params():,} parameters, but the run's config "
        f"(model.name: {cfg.model.name}) builds one of {expected.count_params():,} with other layers; "
        "refusing to resume one network under another's name",
        exit_code=2,
    )


def same_as_recorded(recorded: dict, current: dict) -> bool:
    """Whether `current` says what the manifest recorded; keys added to the schema since (at their
    defaults, e.g. output.plots) do not count, so runs made before a new key can still be resumed."""
    return _same(recorded, current, config.to_dict(Config()))


def _same(recorded, current, defaults) -> bool:
    """`same_as_recorded` at one level of the config; `defaults` is the schema's default at that level."""
    if not isinstance(recorded, dict) or not isinstance(current, dict):
        return recorded == current
    defaults = defaults if isinstance(defaults, dict) else {}
    for key, value in current.items():
        if key not in recorded:
            if key not in defaults or value != defaults[key]:
                return False
        elif not _same(recorded[key], value, defaults.get(key)):
            return False
    return set(recorded) <= set(current)


def check_resume_config(original: Config, cfg: Config) -> None:
    """Only train.epochs may change on resume (and not with a schedule tied to the epoch count).

    Where the data and runs live may differ too (another machine, a moved cache): the data is
    verified by checksum either way, and output paths do not change what is learned.
    """
    a, b = config.to_dict(original), config.to_dict(cfg)
    for d in (a, b):
        d["train"].pop("epochs"), d["data"].pop("path"), d.pop("output")
    if a != b:
        changed = sorted(diff_keys(a, b))
        raise ConfigError(
            f"resume: only train.epochs may change, but {', '.join(changed)} differ from the run's config.yaml; "
            "start a new run to train with other settings"
        )
    if cfg.train.epochs != original.train.epochs and cfg.train.optimizer.schedule != "constant":
        raise ConfigError("train.epochs: cannot extend a run whose learning-rate schedule depends on the epoch count")


def diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted key paths whose values differ between two nested dicts."""
    keys = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            keys += diff_keys(a[key], b[key], path + ".")
        elif a.get(key) != b.get(key):
            keys.append(path)
    return keys
