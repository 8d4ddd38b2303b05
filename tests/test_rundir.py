"""Run-directory naming, history files and atomic writes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mnist_cnn import atomic
from mnist_cnn.runs import rundir


def test_run_names_are_unique_and_timestamped(tmp_path):
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    first = rundir.create(tmp_path, "my run/1", now)
    second = rundir.create(tmp_path, "my run/1", now)
    assert first.root.name == "my-run-1-20260102-030405"
    assert second.root.name == "my-run-1-20260102-030405-2"
    assert first.checkpoints.is_dir() and first.plots.is_dir()


def test_history_round_trip_is_exact(tmp_path):
    run = rundir.RunDir(tmp_path)
    rows = [
        {"epoch": 1, "loss": 0.1 + 0.2, "accuracy": 0.9876543210123, "learning_rate": 1e-3},
        {"epoch": 2, "loss": 1 / 3, "accuracy": 0.99, "learning_rate": 5e-4},
    ]
    rundir.write_history(run, rows)
    assert rundir.read_history(run) == rows
    assert run.history_csv.read_text().splitlines()[0] == "epoch,loss,accuracy,learning_rate"
    assert json.loads(run.history_json.read_text()) == rows


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    atomic.write_json(target, {"old": True})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text('{"new": tr')
            raise RuntimeError("crash while writing")
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_latest_run_picks_the_newest_finished(tmp_path):
    for name, status, finished in [
        ("a", "completed", "2026-01-01T10:00"),
        ("b", "completed", "2026-01-02T10:00"),
        ("c", "interrupted", None),
        ("d", "stopped_early", "2026-01-01T12:00"),
    ]:
        run = rundir.RunDir(tmp_path / name)
        run.root.mkdir()
        run.write_manifest({"status": status, "finished_at": finished})
    assert rundir.latest_run(tmp_path).root.name == "b"


def test_not_a_run_directory(tmp_path):
    with pytest.raises(rundir.RunError, match="not a run directory"):
        rundir.RunDir(tmp_path).read_manifest()
