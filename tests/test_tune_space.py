"""Tune without training: space validation (exit 2 naming the key, nothing written), sampling, plan, verdict."""

from __future__ import annotations

import json

import optuna
import pytest

from conftest import ROOT, SMOKE
from mnist_cnn.config import ConfigError
from mnist_cnn.tune import final, study, worker
from mnist_cnn.tune import space as spaces


def _space(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def _tune(run_cli, tmp_path, space_text: str, *extra: str):
    tune_dir = tmp_path / "t"
    result = run_cli("tune", str(SMOKE), "--space", str(_space(tmp_path, space_text)), "--tune-dir", str(tune_dir),
                     *extra)  # fmt: skip
    return result, tune_dir


@pytest.mark.parametrize(
    "text, words",
    [
        ("train.batchsize: {choices: [32, 64]}", "search space key train.batchsize: .*batchsize"),
        ("model.dropout: {low: 0.0, high: 1.5}", "search space key model.dropout"),
        ("train.batch_size: {choices: [32, 0]}", "search space key train.batch_size"),
        ("train.optimizer.learning_rate: {low: 0.1, high: 0.01}", "learning_rate: low .* must be below high"),
        ("train.optimizer.learning_rate: {low: 0, high: 0.1, log: true}", "learning_rate: a log range needs low"),
        ("model.dropout: {low: 0.1, hgh: 0.5}", "model.dropout: unknown field 'hgh'"),
        ("model.dropout: 0.3", "model.dropout: expected a mapping"),
        ("model.dropout: {low: 0.1}", "model.dropout: a range needs both low and high"),
        ("model.dropout: {choices: []}", "model.dropout.choices: expected a non-empty list"),
        ("seed: {low: 1, high: 5}", "seed is not a hyper-parameter"),
        ("[1, 2]", "expected a mapping of config keys"),
    ],
)
def test_a_bad_space_exits_2_naming_the_key_and_writes_nothing(run_cli, tmp_path, text, words):
    result, tune_dir = _tune(run_cli, tmp_path, text)
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert __import__("re").search(words, result.err), result.err
    assert not tune_dir.exists()


def test_tuning_on_the_test_set_is_refused_unless_allowed(run_cli, tmp_path):
    space = "model.dropout: {low: 0.1, high: 0.5}"
    result, tune_dir = _tune(run_cli, tmp_path, space, "--set", "data.validation.mode=test")
    assert result.code == 2 and "validates on the test set" in result.err and "--allow-test-validation" in result.err
    assert not tune_dir.exists()
    none = ("--set", "data.validation.mode=none", "--set", "train.checkpoint.monitor=loss")
    result, tune_dir = _tune(run_cli, tmp_path, space, *none)
    assert result.code == 2 and "no validation metric" in result.err


def test_options_that_cannot_work_exit_2(run_cli, tmp_path):
    result, tune_dir = _tune(run_cli, tmp_path, "model.dropout: {low: 0.1, high: 0.5}", "--sampler", "grid")
    assert result.code == 2 and "model.dropout is a continuous range" in result.err
    result, _ = _tune(run_cli, tmp_path, "model.dropout: {low: 0.1, high: 0.5}", "--heartbeat", "60")
    assert result.code == 2 and "--grace-period 60: must exceed --heartbeat 60" in result.err
    assert not tune_dir.exists()
    assert run_cli("tune", "status", str(tmp_path)).code == 2  # not a tune directory


def test_shipped_spaces_load_and_pass_the_config_checks():
    chollet = spaces.load(ROOT / "configs" / "space-chollet.yaml")
    assert {p.key for p in chollet} >= {"train.optimizer.learning_rate", "train.batch_size", "model.dropout"}
    rate = next(p for p in chollet if p.key == "train.optimizer.learning_rate")
    assert (rate.kind, rate.low, rate.high, rate.log) == ("float", 1e-4, 1e-2, True)  # '1e-4' read as a number
    spaces.check(chollet, ROOT / "configs" / "chollet.yaml", [])
    tf = spaces.load(ROOT / "configs" / "space-tf-5x5.yaml")
    spaces.check(tf, ROOT / "configs" / "tf-5x5-dense1024.yaml", [])
    assert next(p for p in tf if p.key == "model.dense_units").kind == "int"


def test_sampled_values_become_set_overrides_that_load(tmp_path):
    params = spaces.load(_space(tmp_path, "\n".join([
        "train.optimizer.learning_rate: {low: 1e-4, high: 1e-2, log: true}",
        "model.dense_units: {low: 64, high: 256, step: 64}",
        "model.filters: {choices: [[16, 32], [32, 64]]}",
    ])))  # fmt: skip
    s = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    values = spaces.suggest(s.ask(), params)
    assert values["model.dense_units"] in (64, 128, 192, 256)
    assert values["model.filters"] in ("[16, 32]", "[32, 64]")  # lists travel through Optuna as JSON text
    overrides = worker.trial_overrides(values, tmp_path / "slot", threads=1)
    from mnist_cnn import config

    cfg = config.load(SMOKE, overrides)
    assert cfg.model.filters == json.loads(values["model.filters"])
    assert cfg.train.optimizer.learning_rate == values["train.optimizer.learning_rate"]
    assert cfg.output.export == [] and cfg.reproducibility.intra_op_threads == 1
    assert spaces.grid(params[1:]) == {
        "model.dense_units": [64, 128, 192, 256],
        "model.filters": ["[16, 32]", "[32, 64]"],
    }


def test_the_same_tune_seed_suggests_the_same_sequence_one_process_per_trial(tmp_path):
    """Each trial asks in a fresh process with a sampler seeded from (tune seed, trials so far)."""
    params = spaces.load(_space(tmp_path, "model.dropout: {low: 0.0, high: 0.6}"))
    plan = study.TunePlan("x", "x", "x", params, sampler="random", seed=5)

    def sequence(seed_plan):
        s = optuna.create_study()
        out = []
        for asked in range(4):
            s.sampler = study.make_sampler(seed_plan, asked)
            t = s.ask()
            out.append(spaces.suggest(t, params)["model.dropout"])
            s.tell(t, 0.5)
        return out

    first = sequence(plan)
    assert first == sequence(plan) and len(set(first)) == 4
    assert first != sequence(study.TunePlan("x", "x", "x", params, sampler="random", seed=6))


@pytest.mark.parametrize("value", [1e-05, 5e-5, 0.003, 1e20, 2.5e-12, 0.1])
def test_sampled_floats_pass_through_set_unchanged(value):
    """YAML reads 1e-05 as text; the override must read back as the very float Optuna sampled."""
    from mnist_cnn import config

    assert config.parse_override(spaces.override("a.b", value))[1] == value
    if value <= 10:  # within the learning rate's range: the whole config loads with it
        assert (
            config.load(SMOKE, [spaces.override("train.optimizer.learning_rate", value)]).train.optimizer.learning_rate
            == value
        )


def test_the_objective_is_the_best_validation_value_of_the_run():
    rows = [{"epoch": 1, "val_accuracy": 0.9, "val_loss": 0.3}, {"epoch": 2, "val_accuracy": 0.95, "val_loss": 0.2},
            {"epoch": 3, "val_accuracy": 0.94, "val_loss": 0.25}]  # fmt: skip
    assert worker.objective_value(rows, "val_accuracy", "maximize") == 0.95
    assert worker.objective_value(rows, "val_loss", "minimize") == 0.2
    assert worker.objective_value([{"epoch": 1}], "val_loss", "minimize") is None


def test_the_verdict_compares_the_gain_with_the_seed_spread():
    base = {"n": 5, "mean": 0.9900, "std": 0.0010}
    assert "larger than the seed-to-seed spread" in final.verdict({"n": 5, "mean": 0.9930, "std": 0.0008}, base)
    said = final.verdict({"n": 5, "mean": 0.9905, "std": 0.0008}, base)
    assert "0.05 points higher" in said and "not larger" in said
    assert "Not enough" in final.verdict({"n": 1, "mean": 0.99, "std": None}, base)


def test_a_second_tune_command_with_other_settings_is_refused(tmp_path):
    space = _space(tmp_path, "model.dropout: {low: 0.1, high: 0.5}")
    plan, base_yaml = study.plan_tune(SMOKE, space, [], trials=4)
    assert study.write(tmp_path / "t", plan, base_yaml) is True
    more, _ = study.plan_tune(SMOKE, space, [], trials=8)
    assert study.write(tmp_path / "t", more, base_yaml) is False and study.read(tmp_path / "t").trials == 8
    other, _ = study.plan_tune(SMOKE, space, [], trials=4, sampler="random")
    with pytest.raises(ConfigError, match="holds a different tune"):
        study.write(tmp_path / "t", other, base_yaml)


def test_a_sampled_combination_that_cannot_train_is_an_invalid_trial_not_a_crash(tmp_path):
    """Each value passes alone (checked up front); adam with momentum does not: the trial fails, nothing trains."""
    space = _space(
        tmp_path, "train.optimizer.name: {choices: [sgd, adam]}\ntrain.optimizer.momentum: {low: 0.0, high: 0.9}"
    )
    plan, base_yaml = study.plan_tune(SMOKE, space, ["train.optimizer.name=sgd"], trials=2)
    tune_dir = tmp_path / "t"
    study.write(tune_dir, plan, base_yaml)
    s = study.open_study(tune_dir, plan)
    s.enqueue_trial({"train.optimizer.name": "adam", "train.optimizer.momentum": 0.5})
    lines = []
    result = worker.run_one(tune_dir, None, lines.append)
    assert result["outcome"] == "invalid" and "adam takes no momentum" in result["reason"]
    (trial,) = s.get_trials(deepcopy=False)
    assert trial.state.name == "FAIL" and "adam takes no momentum" in trial.user_attrs["invalid"]
    assert not study.trial_slot(tune_dir, 0).exists()  # nothing was trained or written for it
    assert any("invalid configuration" in line for line in lines)
