"""Sweeps without training: plan expansion and validation, report statistics, status, the trial lock."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import SMOKE
from mnist_cnn.config import ConfigError
from mnist_cnn.runs import lock
from mnist_cnn.sweep import execute, plan
from mnist_cnn.sweep.report import build_report, format_markdown


def test_grid_values_split_at_top_level_commas_only():
    assert plan.split_values("64,128") == ["64", "128"]
    assert plan.split_values("[16,32],[32,64]") == ["[16,32]", "[32,64]"]
    assert plan.split_values("'a,b',c") == ["'a,b'", "c"]
    assert plan.parse_grid(["model.filters=[16,32],[32,64]"]) == {"model.filters": ["[16,32]", "[32,64]"]}


@pytest.mark.parametrize(
    "item, words",
    [
        ("train.batch_size", "expected KEY.PATH=VALUE1,VALUE2"),
        ("train.batch_size=64,,128", "empty value"),
        ("train.batch_size=64,64", "repeated"),
        ("seed=1,2", "--seeds"),
    ],
)
def test_bad_grid_shapes_are_config_errors(item, words):
    with pytest.raises(ConfigError, match=words.replace("+", r"\+")):
        plan.parse_grid([item])


def test_seeds_are_a_count_from_the_config_seed_or_a_list():
    assert plan.parse_seeds("3", 7) == (7, 8, 9)
    assert plan.parse_seeds("1,7,42", 7) == (1, 7, 42)
    for bad in ("0", "x", "1,1", "-2"):
        with pytest.raises(ConfigError, match="--seeds"):
            plan.parse_seeds(bad, 7)


def test_expand_is_grid_times_seeds_in_seed_major_order():
    grid = plan.parse_grid(["train.batch_size=32,64", "model.dropout=0.25,0.5"])
    the_plan, base_yaml = plan.expand(SMOKE, ["train.epochs=1"], grid, "2")
    assert len(the_plan.trials) == 8
    assert the_plan.points == [
        "train.batch_size=32 model.dropout=0.25",
        "train.batch_size=32 model.dropout=0.5",
        "train.batch_size=64 model.dropout=0.25",
        "train.batch_size=64 model.dropout=0.5",
    ]
    assert [t.seed for t in the_plan.trials] == [7, 7, 7, 7, 8, 8, 8, 8]
    assert [t.index for t in the_plan.trials] == list(range(8))
    assert len({t.id for t in the_plan.trials}) == 8
    first = the_plan.trials[0]
    assert first.overrides == ("train.epochs=1", "train.batch_size=32", "model.dropout=0.25", "seed=7")
    assert "epochs: 1" in base_yaml


def test_trial_config_applies_overrides_and_points_into_the_slot(tmp_path):
    the_plan, base_yaml = plan.expand(SMOKE, [], plan.parse_grid(["train.batch_size=64"]), "1,5")
    plan.write(tmp_path, the_plan, base_yaml)
    trial = plan.read(tmp_path).trials[1]
    cfg = plan.trial_config(tmp_path, trial, ["reproducibility.intra_op_threads=1"])
    assert (cfg.seed, cfg.train.batch_size, cfg.reproducibility.intra_op_threads) == (5, 64, 1)
    assert cfg.output.runs_dir == str(tmp_path / "trials" / trial.id)


def test_same_command_finds_the_same_sweep_and_another_plan_is_refused(tmp_path):
    grid = plan.parse_grid(["train.batch_size=32,64"])
    a, yaml_a = plan.expand(SMOKE, [], grid, "2")
    b, yaml_b = plan.expand(SMOKE, [], grid, "3")
    assert plan.default_dir(a, yaml_a) == plan.default_dir(*plan.expand(SMOKE, [], grid, "2"))
    assert plan.default_dir(a, yaml_a) != plan.default_dir(b, yaml_b)
    assert plan.write(tmp_path, a, yaml_a) is True
    assert plan.write(tmp_path, a, yaml_a) is False
    with pytest.raises(ConfigError, match="different sweep plan"):
        plan.write(tmp_path, b, yaml_b)


@pytest.mark.parametrize(
    "grid, message",
    [
        ("train.batch_size=32,abc", "train.batch_size (from --set): expected an integer"),
        ("train.bach_size=32", "did you mean 'batch_size'"),
        ("train.optimizer.learning_rate=0.001,-1", "train.optimizer.learning_rate"),
    ],
)
def test_cli_rejects_a_bad_grid_before_writing_anything(run_cli, tmp_path, monkeypatch, grid, message):
    monkeypatch.chdir(tmp_path)
    result = run_cli("sweep", str(SMOKE), "--grid", grid, "--seeds", "2")
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err
    assert list(tmp_path.iterdir()) == []


def test_plan_only_prints_the_index_range_and_writes_a_ready_sbatch_script(run_cli, tmp_path):
    import subprocess

    result = run_cli("sweep", str(SMOKE), "--seeds", "3", "--sweep-dir", str(tmp_path / "s"), "--plan-only", "--json")
    assert result.code == 0, result.err
    script = tmp_path / "s" / "sweep.sbatch"
    assert json.loads(result.out) == {"sweep_dir": str(tmp_path / "s"), "trials": 3, "sbatch": str(script),
                                      "array": "0-2"}  # fmt: skip
    text = run_cli("sweep", str(SMOKE), "--seeds", "3", "--sweep-dir", str(tmp_path / "s"), "--plan-only").out
    assert f"Slurm: sbatch --array=0-2 {script}" in text
    body = script.read_text()
    assert "#SBATCH --array=0-2%4\n" in body
    assert f'sweep run {tmp_path / "s"} --index "$SLURM_ARRAY_TASK_ID" --threads "$SLURM_CPUS_PER_TASK"' in body
    # Slurm reads only whole `#SBATCH` lines: no option line may carry a trailing comment.
    assert all("#" not in line[len("#SBATCH") :] for line in body.splitlines() if line.startswith("#SBATCH"))
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0  # it parses as a shell script
    result = run_cli("sweep", "run", str(tmp_path / "s"), "--index", "3")
    assert result.code == 2 and "trials 0 to 2" in result.err


def test_not_a_sweep_directory(run_cli, tmp_path):
    result = run_cli("sweep", "report", str(tmp_path))
    assert result.code == 2 and "not a sweep directory" in result.err


def test_a_trial_held_by_another_executor_is_skipped_untouched(run_cli, tmp_path):
    the_plan, base_yaml = plan.expand(SMOKE, [], {}, "1")
    plan.write(tmp_path, the_plan, base_yaml)
    slot = plan.trial_slot(tmp_path, the_plan.trials[0])
    slot.mkdir(parents=True)
    with lock.hold(slot):
        result = run_cli("sweep", "run", str(tmp_path), "--index", "0", "--json")
        status = run_cli("sweep", "status", str(tmp_path), "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["outcome"] == "busy"
    assert "being trained by another process" in result.err
    assert [p.name for p in slot.iterdir()] == [".lock"]  # no run directory was made
    assert json.loads(status.out)["trials"][0]["state"] == "running"


def test_threads_are_split_between_workers():
    assert execute.threads_per_worker(1, 8) is None
    assert execute.threads_per_worker(2, 8) == 4
    assert execute.threads_per_worker(3, 2) == 1


def _fake_trial(sweep_dir, trial, status, accuracy=None, fit=None, error=None):
    run = plan.trial_slot(sweep_dir, trial) / f"smoke-2026010{trial.index % 10}-000000"
    run.mkdir(parents=True)
    manifest = {
        "status": status,
        "name": "smoke",
        "seed": trial.seed,
        "epochs_completed": 2,
        "started_at": "2026-01-01T00:00:00",
    }
    if error:
        manifest["error"] = error
    (run / "manifest.json").write_text(json.dumps(manifest))
    if accuracy is not None:
        (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy}, "fit_seconds": fit, "epochs": 2}))


def test_report_statistics_match_an_independent_computation(run_cli, tmp_path):
    the_plan, base_yaml = plan.expand(SMOKE, [], plan.parse_grid(["train.batch_size=32,64"]), "4")
    plan.write(tmp_path, the_plan, base_yaml)
    rng = np.random.default_rng(0)
    expected = {"train.batch_size=32": [], "train.batch_size=64": []}
    for t in the_plan.trials:
        if t.point == "train.batch_size=64" and t.seed == 10:
            _fake_trial(tmp_path, t, "failed", error="RuntimeError: out of memory")
            continue
        if t.point == "train.batch_size=64" and t.seed == 9:
            continue  # never started
        acc, fit = float(rng.uniform(0.9, 1.0)), float(rng.uniform(5, 10))
        _fake_trial(tmp_path, t, "stopped_early" if t.seed == 8 else "completed", acc, fit)
        expected[t.point].append((acc, fit))
    result = run_cli("sweep", "report", str(tmp_path), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    for point in report["points"]:
        accs, fits = np.array(expected[point["point"]]).T
        stats = point["test_accuracy"]
        assert stats["n"] == len(accs)
        assert math.isclose(stats["mean"], accs.mean())
        assert math.isclose(stats["std"], accs.std(ddof=1))
        assert (stats["min"], stats["max"]) == (accs.min(), accs.max())
        assert math.isclose(point["fit_seconds"]["mean"], fits.mean())
        assert math.isclose(point["fit_seconds"]["std"], fits.std(ddof=1))
    unfinished = {u["trial"]: u for u in report["unfinished"]}
    assert len(unfinished) == 2
    assert {u["state"] for u in unfinished.values()} == {"failed", "pending"}
    assert any(u["reason"] == "RuntimeError: out of memory" for u in unfinished.values())
    assert (tmp_path / "report" / "accuracy.png").stat().st_size > 1000
    markdown = run_cli("sweep", "report", str(tmp_path)).out
    assert "| train.batch_size=64 | 2 of 4 |" in markdown
    mean, std = (
        np.array(expected["train.batch_size=32"])[:, 0].mean(),
        np.array(expected["train.batch_size=32"])[:, 0].std(ddof=1),
    )
    assert f"{100 * mean:.2f}% ± {100 * std:.2f}%" in markdown
    assert "failed (RuntimeError: out of memory)" in markdown


def test_report_with_one_trial_has_no_standard_deviation_and_names_the_set_overrides(tmp_path):
    sets = ["train.epochs=1", "data.subset.train=500"]
    the_plan, base_yaml = plan.expand(SMOKE, sets, {}, "1")
    plan.write(tmp_path, the_plan, base_yaml)
    _fake_trial(tmp_path, the_plan.trials[0], "completed", 0.95, 6.0)
    report = build_report(tmp_path, the_plan)
    assert report["points"][0]["test_accuracy"]["std"] is None
    assert report["set"] == sets
    json.dumps(report, allow_nan=False)
    markdown = format_markdown(report)
    assert f"({SMOKE} --set train.epochs=1 --set data.subset.train=500, seeds 7)" in markdown.splitlines()[0]
    assert "| base | 1 | 95.00% ± – | 95.00% | 95.00% | 6.0 s ± – |" in markdown


@pytest.mark.parametrize(
    "extra, words",
    [(["--threads", "2"], "--threads is for one trial"), (["--executor", "ray", "--workers", "2"], "--workers is for")],
)
def test_executor_options_that_do_not_fit_together(run_cli, tmp_path, extra, words):
    the_plan, base_yaml = plan.expand(SMOKE, [], {}, "1")
    plan.write(tmp_path, the_plan, base_yaml)
    result = run_cli("sweep", "run", str(tmp_path), *extra)
    assert result.code == 2 and words in result.err
    assert list((tmp_path / "trials").iterdir()) == []


def test_ray_output_goes_to_the_sweep_log_and_ours_still_to_stderr(tmp_path, capfd, monkeypatch):
    """Ray's notices (via sys.stderr or straight to descriptor 2) and its logging go to ray.log; our lines do not."""
    import logging
    import os
    import sys

    from mnist_cnn.cli.common import err
    from mnist_cnn.sweep.ray_executor import _beside_ray, _ray_output_to

    # As in a real process (pytest's capture replaces sys.stderr): sys.stderr writes to descriptor 2.
    monkeypatch.setattr(sys, "stderr", open(2, "w", closefd=False, buffering=1))  # noqa: SIM115
    before = logging.getLogger("ray").handlers[:]
    with _ray_output_to(tmp_path / "ray.log") as terminal:
        print("Token authentication is enabled for this Ray cluster.", file=sys.stderr)  # as _raylet prints it
        os.write(2, b"[raylet] a child process's warning\n")
        logging.getLogger("ray.util.client.dataclient").error("Unrecoverable error in data channel.")
        _beside_ray(err, terminal)("submitted 2 of 2 trials to Ray")  # --json mode: progress on stderr
    print("after", file=sys.stderr)
    _out, stderr = capfd.readouterr()
    assert stderr == "submitted 2 of 2 trials to Ray\nafter\n"
    log = (tmp_path / "ray.log").read_text()
    for line in ("Token authentication", "a child process's warning", "Unrecoverable error in data channel."):
        assert line in log
    assert logging.getLogger("ray").handlers == before  # put back
