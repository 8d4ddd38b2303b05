"""Run-directory naming, history files and atomic writes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mnist_cnn import atomic
from mnist_cnn.runs import listing, rundir
from mnist_cnn.runs import manifest as manifests


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


def _manifest(status: str, finished: str | None) -> dict:
    return {"status": status, "name": "x", "seed": 1, "started_at": "2026-01-01T09:00+00:00", "finished_at": finished}


def test_latest_run_picks_the_newest_finished_by_absolute_time(tmp_path):
    for name, status, finished in [
        ("a", "completed", "2026-01-01T10:00+00:00"),
        ("b", "completed", "2026-01-02T10:00+00:00"),
        ("c", "interrupted", None),
        ("d", "stopped_early", "2026-01-01T12:00+00:00"),
        # Later as text, but 07:00 UTC: made on a machine five hours ahead.
        ("e", "completed", "2026-01-02T12:00+05:00"),
    ]:
        run = rundir.RunDir(tmp_path / name)
        run.root.mkdir()
        manifests.write(run, manifests.Manifest.from_json(_manifest(status, finished)))
    assert listing.latest_run(tmp_path).root.name == "b"


def test_malformed_manifests_are_skipped_with_a_note(tmp_path):
    good = rundir.RunDir(tmp_path / "good")
    good.root.mkdir()
    manifests.write(good, manifests.Manifest.from_json(_manifest("completed", "2026-01-01T10:00+00:00")))
    for name, text in [("list", "[1, 2]"), ("status", '{"status": 5}'), ("torn", '{"status": "compl')]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(text)
    notes = []
    assert listing.latest_run(tmp_path, note=notes.append).root.name == "good"
    assert len(notes) == 3 and all(n.startswith("note: skipping") for n in notes)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(rundir.RunError, match="not a run directory"):
        manifests.read(rundir.RunDir(tmp_path))
