"""`runs list` on hand-made run directories: rows, sorting, JSON, malformed runs as notes."""

from __future__ import annotations

import json


def _run(folder, status, seed, started, accuracy=None, fit=None, epochs=3):
    folder.mkdir(parents=True)
    manifest = {"status": status, "name": folder.name, "seed": seed, "epochs_completed": epochs, "started_at": started}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if accuracy is not None:
        (folder / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy}, "fit_seconds": fit}))


def test_runs_list_rows_sorting_and_notes(run_cli, tmp_path):
    _run(tmp_path / "a-1", "completed", 1, "2026-01-01T10:00:00", 0.91, 12.5)
    _run(tmp_path / "b-2", "interrupted", 2, "2026-01-01T09:00:00", epochs=1)
    _run(tmp_path / "sweeps" / "s" / "trials" / "0000-base-seed7" / "smoke-1", "completed", 7, "2026-01-02", 0.95, 3)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("name: x\n")
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / "manifest.json").write_text('{"status": "comp')
    (tmp_path / "not-a-run").mkdir()  # no run files at all: silently not a run

    result = run_cli("runs", "list", str(tmp_path), "--json")
    assert result.code == 0, result.err
    listing = json.loads(result.out)
    assert [r["name"] for r in listing["runs"]] == ["b-2", "a-1", "sweeps/s/trials/0000-base-seed7/smoke-1"]
    first = listing["runs"][1]
    assert (first["status"], first["epochs"], first["test_accuracy"], first["fit_seconds"], first["seed"]) == (
        "completed", 3, 0.91, 12.5, 1
    )  # fmt: skip
    assert len(listing["notes"]) == 2
    assert any(n.startswith("broken: skipped, not a run directory") for n in listing["notes"])
    assert any(n.startswith("torn: skipped, manifest.json is not valid JSON") for n in listing["notes"])

    table = run_cli("runs", "list", str(tmp_path), "--sort", "accuracy", "--reverse")
    lines = table.out.splitlines()
    assert lines[0].split()[:4] == ["name", "status", "epochs", "test"]
    assert lines[1].startswith("sweeps/s/trials") and "95.00%" in lines[1]
    assert lines[2].startswith("a-1") and "91.00%" in lines[2]
    assert lines[3].startswith("b-2")  # no accuracy: last
    assert "Note: torn: skipped" in table.err


def test_runs_list_of_a_missing_folder_is_a_usage_error(run_cli, tmp_path):
    result = run_cli("runs", "list", str(tmp_path / "nope"))
    assert result.code == 2 and "nope" in result.err
