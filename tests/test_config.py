"""Config loading: every bad input is one line naming file, key and expectation; good input round-trips."""

from __future__ import annotations

import pytest

from mnist_cnn import config
from mnist_cnn.config import ConfigError

BAD = [
    ("train: {epocs: 3}", "train.epocs (line 1): unknown key (did you mean 'epochs'?)"),
    ("train: {epochs: three}", "train.epochs (line 1): expected an integer, got text 'three'"),
    ("train: {epochs: 0}", "train.epochs (line 1): 0 is out of range"),
    ("train: {batch_size: 2.5}", "train.batch_size (line 1): expected an integer"),
    ("train: {epochs: true}", "expected an integer, got boolean true"),
    (
        "train:\n  optimizer: {learning_rate: 1e-3}",
        "train.optimizer.learning_rate (line 2): expected a number, got text '1e-3' (YAML reads exponents",
    ),
    ("name: no", "name (line 1): expected text, got boolean false (YAML reads yes/no"),
    ("train: {epochs: 3}\ntrain: {epochs: 4}", "duplicate key 'train' at line 2 (first at line 1)"),
    ("seed: !!python/object/apply:os.system ['echo hi']", "unsupported YAML tag at line 1"),
    ("", "the file is empty"),
    ("- epochs: 3", "expected a mapping of settings at the top level, got a list"),
    ("train: [1, 2]", "train (line 1): expected a mapping of settings, got a list"),
    ("model: {name: cholet}", "model.name: unknown model 'cholet' (did you mean 'chollet'?)"),
    (
        "train: {optimizer: {name: adamw}}",
        "expected one of 'adam', 'sgd', 'rmsprop', 'adadelta', got text 'adamw' (did you mean 'adam'?)",
    ),
    ("data: {validation: {mode: fraction, fraction: 1.5}}", "data.validation.fraction (line 1): 1.5 is out of range"),
    ("data: {validation: {mode: none}}", "train.checkpoint.monitor: 'val_accuracy' needs a validation split"),
    ("train: {stop_at: {monitor: acc}}", "train.stop_at.monitor: unknown metric 'acc'"),
    ("train: {optimizer: {name: adam, momentum: 0.9}}", "adam takes no momentum"),
    ("model: {name: custom}", "model.layers: a custom model needs a non-empty list of layers"),
    (
        "model: {name: custom, layers: [{type: Lambda, args: {}}]}",
        "model.layers[0].type: 'Lambda' is not an allowed layer",
    ),
    ("model: {name: chollet, layers: [{type: Dense}]}", "only a custom model takes layers"),
    ("train: {epochs: 3\n", "invalid YAML"),
]


@pytest.mark.parametrize("text,expected", BAD)
def test_bad_config_gives_one_line_naming_the_problem(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_defaults_are_the_chollet_recipe():
    cfg = config.Config()
    assert (cfg.model.name, cfg.train.epochs, cfg.train.batch_size) == ("chollet", 15, 128)
    assert (cfg.train.optimizer.name, cfg.data.validation.mode, cfg.data.validation.fraction) == (
        "adam",
        "fraction",
        0.1,
    )


def test_resolved_config_loads_back_equal(tmp_path):
    cfg = config.load(
        _repo("configs/chollet.yaml"),
        ["train.optimizer.learning_rate=0.002", "model.dropout=0.25", "data.subset.train=500"],
    )
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml(cfg))
    assert config.load(path) == cfg
    assert cfg.train.optimizer.learning_rate == 0.002 and cfg.model.dropout == 0.25


def test_every_shipped_recipe_is_valid():
    for path in sorted(_repo("configs").glob("*.yaml")):
        if not path.name.startswith("space-"):  # tune search spaces: checked in tests/test_tune_space.py
            config.load(path)


@pytest.mark.parametrize(
    "override,expected",
    [
        ("train.epochs", "expected KEY.PATH=VALUE"),
        ("train.epochs=abc", "train.epochs (from --set): expected an integer, got text 'abc'"),
        ("train.epohcs=3", "did you mean 'epochs'"),
        ("seed.x=3", "'seed' is not a section"),
    ],
)
def test_overrides_are_validated_like_the_file(override, expected):
    with pytest.raises(ConfigError) as info:
        config.loads("seed: 1\ntrain: {epochs: 2}", [override])
    assert expected in str(info.value)


def test_override_sets_nested_value():
    cfg = config.loads("name: x", ["train.epochs=3", "data.validation.mode=last", "data.validation.count=5000"])
    assert cfg.train.epochs == 3 and cfg.data.validation.mode == "last" and cfg.data.validation.count == 5000


def _repo(relative: str):
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / relative


def test_resume_accepts_only_more_epochs_and_new_locations():
    from mnist_cnn.train.resume_checks import check_resume_config as _check_resume_config

    original = config.loads("train: {epochs: 3}")
    _check_resume_config(original, config.loads("train: {epochs: 5}"))
    _check_resume_config(
        original, config.loads("train: {epochs: 3}\ndata: {path: /elsewhere/mnist.npz}\noutput: {runs_dir: r}")
    )
    with pytest.raises(ConfigError, match="only train.epochs may change, but data.subset.train, seed differ"):
        _check_resume_config(original, config.loads("seed: 2\ntrain: {epochs: 3}\ndata: {subset: {train: 100}}"))
    cosine = config.loads("train: {epochs: 3, optimizer: {schedule: cosine}}")
    with pytest.raises(ConfigError, match="schedule depends on the epoch count"):
        _check_resume_config(cosine, config.loads("train: {epochs: 4, optimizer: {schedule: cosine}}"))
