"""Files the tool reads, as a careless user, a shared file system or a hostile file makes them (issue 19, 1-3).

Every case builds its hostile file here and checks, through the real CLI, one line naming the file and
what is wrong, the right exit code, no traceback, nothing written elsewhere, and no hang: cases that
could block (FIFOs) run under conftest.fails_if_blocked, which fails the test instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from hostile_files import STARTED, digit_png, onnx_run

from conftest import ROOT, SMOKE, fails_if_blocked

GB = 2**30


def _one_line(result_err: str, *needles: str) -> str:
    lines = [ln for ln in result_err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in result_err, result_err
    assert len(lines) == 1, result_err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _cli(run_cli, kind: str, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the CLI in this process; for FIFOs a hang fails the test."""
    with fails_if_blocked() if kind == "fifo" else contextlib.nullcontext():
        result = run_cli(*args)
    return result.code, result.out, result.err


# --------------------------------------------------------------------------- configs


def _deep(path: Path) -> Path:
    path.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    return path


def _long_list(path: Path) -> Path:
    path.write_text("name: x\ntrain:\n  epochs: 1\nextra:\n" + "  - 1\n" * 150_000)  # 900 KB: under the size cap
    return path


def _alias_bomb(path: Path) -> Path:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _nul(path: Path) -> Path:
    path.write_bytes(b"name: smoke\x00\ntrain: {epochs: 1}\n")
    return path


def _big(path: Path) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(2 * GB)  # sparse: no disk used
    return path


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda p: Path("/dev/zero"), ("/dev/zero", "character device", "not a regular file")),
        (_deep, ("nested more than 32 levels",)),
        (_long_list, ("more than 2,000 YAML values",)),
        (_alias_bomb, ("more than 2,000 YAML values",)),
        (_nul, ("NUL byte",)),
        (_big, ("2 GB", "(1 MB)")),
    ],
    ids=["dev-zero", "deeply-nested", "huge-list", "alias-bomb", "nul-byte", "sparse-2GB"],
)
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_hostile_config_is_one_line_exit_2(tmp_path, run_cli, make, needles, command):
    config = make(tmp_path / "hostile.yaml")
    if command == "train":
        result = run_cli("train", "--config", str(config), "--runs-dir", str(tmp_path / "runs"))
    else:
        result = run_cli("sweep", "start", str(config), "--plan-only", "--sweep-dir", str(tmp_path / "sweep"))
    assert result.code == 2, result.err
    line = _one_line(result.err, *needles)
    assert str(config) in line
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sweep").exists()


def test_a_fifo_config_is_refused_without_blocking(tmp_path, run_cli):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    code, _, err = _cli(run_cli, "fifo", "train", "--config", str(fifo), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2
    _one_line(err, str(fifo), "FIFO")


# --------------------------------------------------------------------------- run state read back


def _finished_run(root: Path) -> Path:
    return onnx_run(root)


def _fifo_manifest(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "config.yaml").write_text("name: x\n")
    os.mkfifo(root / "manifest.json")


def _sparse_manifest(root: Path) -> None:
    root.mkdir(parents=True)
    with open(root / "manifest.json", "wb") as handle:
        handle.truncate(4 * GB)


def _zero_manifest(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "manifest.json").symlink_to("/dev/zero")


def _nested_manifest(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "manifest.json").write_text('{"status": "completed", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _nan_manifest(root: Path) -> None:
    root.mkdir(parents=True)
    manifest = {"status": "completed", "name": "x", "seed": 1, "started_at": STARTED, "finished_at": STARTED}
    (root / "manifest.json").write_text(json.dumps({**manifest, "epoch_seconds": [float("nan")]}))


HOSTILE_MANIFESTS = {"fifo": (_fifo_manifest, "FIFO"), "sparse-4GB": (_sparse_manifest, "4 MB"),
                     "link-to-dev-zero": (_zero_manifest, "symbolic link"),
                     "deeply-nested": (_nested_manifest, "nested too deeply"),
                     "nan": (_nan_manifest, "NaN is not strict JSON")}  # fmt: skip
EVERY_COMMAND_KINDS = ["fifo", "sparse-4GB", "link-to-dev-zero"]


@pytest.mark.parametrize("kind", list(HOSTILE_MANIFESTS))
def test_a_hostile_manifest_beside_other_runs_is_a_note_in_runs_list(tmp_path, run_cli, kind):
    make, needle = HOSTILE_MANIFESTS[kind]
    _finished_run(tmp_path / "runs" / "good")
    make(tmp_path / "runs" / "bad")
    code, out, err = _cli(run_cli, kind, "runs", "list", str(tmp_path / "runs"), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert [r["name"] for r in payload["runs"]] == ["good"]
    (note,) = payload["notes"]
    assert note.startswith("bad: skipped") and needle in note


@pytest.mark.parametrize("kind", list(HOSTILE_MANIFESTS))
def test_the_latest_run_lookup_skips_a_hostile_manifest(tmp_path, run_cli, kind):
    make, needle = HOSTILE_MANIFESTS[kind]
    _finished_run(tmp_path / "runs" / "a-good")
    make(tmp_path / "runs" / "b-bad")
    image = digit_png(tmp_path / "one.png")
    code, out, err = _cli(run_cli, kind, "predict", str(image), "--runs-dir", str(tmp_path / "runs"), "--json")
    assert code == 0, err
    assert "a-good" in json.loads(out)["model"]
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("kind", EVERY_COMMAND_KINDS)
@pytest.mark.parametrize("command", ["predict", "evaluate", "export", "resume", "compare", "serve"])
def test_every_command_refuses_a_hostile_manifest_with_one_line(tmp_path, run_cli, kind, command):
    make, needle = HOSTILE_MANIFESTS[kind]
    run = tmp_path / "runs" / "bad"
    make(run)
    if not (run / "config.yaml").exists():
        (run / "config.yaml").write_text(SMOKE.read_text())
    args = {
        "predict": ["predict", str(digit_png(tmp_path / "one.png")), "--model", str(run)],
        "evaluate": ["evaluate", str(run)],
        "export": ["export", str(run)],
        "resume": ["train", "--resume", str(run)],
        "compare": ["runs", "compare", str(run), str(_finished_run(tmp_path / "runs" / "good"))],
        "serve": ["serve", str(run), "--port", "0"],
    }[command]
    code, _, err = _cli(run_cli, kind, *args)
    assert code == 1, err
    _one_line(err, "manifest.json", needle)


def test_a_fifo_history_does_not_block_compare(tmp_path, run_cli):
    a, b = _finished_run(tmp_path / "a"), _finished_run(tmp_path / "b")
    os.mkfifo(a / "history.csv")
    manifest = json.loads((a / "manifest.json").read_text())
    manifest["history_sha256"] = "0" * 64
    (a / "manifest.json").write_text(json.dumps(manifest))
    code, out, _ = _cli(run_cli, "fifo", "runs", "compare", str(a), str(b), "--json")
    assert code == 1
    assert any("history.csv" in p for p in json.loads(out)["damaged"])


# --------------------------------------------------------------------------- locks: never written through


def _resumable_run(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(SMOKE.read_text())
    manifest = {"status": "interrupted", "name": "smoke", "seed": 7, "started_at": STARTED}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_train_resume_never_writes_through_a_linked_lock(tmp_path, run_cli, link):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    run = _resumable_run(tmp_path / "runs" / "r")
    if link == "symlink":
        (run / ".lock").symlink_to(victim)
    else:
        os.link(victim, run / ".lock")
    result = run_cli("train", "--resume", str(run))
    assert result.code == 1
    _one_line(result.err, str(run / ".lock"), "link" if link == "symlink" else "hard links")
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("linked", "args"),
    [(".lock", ["--index", "0"]), ("worker.log", ["--workers", "1"])],
    ids=["slot-lock", "worker-log"],
)
def test_sweep_run_never_writes_through_a_linked_file_in_a_trial_slot(tmp_path, run_cli, linked, args):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    sweep = tmp_path / "sweep"
    assert run_cli("sweep", "start", str(SMOKE), "--plan-only", "--sweep-dir", str(sweep)).code == 0
    slot = sweep / "trials" / json.loads((sweep / "plan.json").read_text())["trials"][0]["id"]
    slot.mkdir(parents=True)
    (slot / linked).symlink_to(victim)
    result = run_cli("sweep", "run", str(sweep), *args)
    assert result.code == 1
    _one_line(result.err, linked, "symbolic link")
    assert victim.read_text() == "keep me\n"
    status = run_cli("sweep", "status", str(sweep), "--json")
    assert status.code == 0 and "Traceback" not in status.err


def test_a_lock_that_is_a_link_is_not_reported_as_held(tmp_path):
    from mnist_cnn.runs import lock

    run = _resumable_run(tmp_path / "r")
    (run / ".lock").symlink_to("/dev/zero")
    assert lock.holder(run) is None


# --------------------------------------------------------------------------- paths inside state files


@pytest.mark.parametrize("trial_id", ["../../escape", "/tmp/escape", "0000-ok/../../x"])
def test_a_plan_whose_trial_id_leaves_the_sweep_is_refused(tmp_path, run_cli, trial_id):
    sweep = tmp_path / "sweep"
    assert run_cli("sweep", "start", str(SMOKE), "--plan-only", "--sweep-dir", str(sweep)).code == 0
    plan = json.loads((sweep / "plan.json").read_text())
    plan["trials"][0]["id"] = trial_id
    (sweep / "plan.json").write_text(json.dumps(plan))
    for args in (["run", str(sweep), "--index", "0"], ["status", str(sweep)], ["report", str(sweep)]):
        result = run_cli("sweep", *args)
        assert result.code == 2, (args, result.err)
        _one_line(result.err, "plan.json", "unexpected id")
    assert not (tmp_path / "escape").exists() and not Path("/tmp/escape").exists()


def test_a_sweep_plan_that_is_a_fifo_does_not_block(tmp_path, run_cli):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    os.mkfifo(sweep / "plan.json")
    code, _, err = _cli(run_cli, "fifo", "sweep", "status", str(sweep))
    assert code == 2
    _one_line(err, "plan.json", "FIFO")


def test_the_repository_configs_still_load():
    from mnist_cnn import config
    from mnist_cnn.tune import space

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        if path.name.startswith("space-"):  # tune search spaces, not run configs
            space.load(path)
        else:
            config.load(path)


# --------------------------------------------------------------------------- folders the tool writes into


@pytest.mark.parametrize("command", ["evaluate", "export", "resume"])
def test_a_linked_plots_folder_is_never_written_through(tmp_path, run_cli, command):
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    run = _resumable_run(tmp_path / "runs" / "r") if command == "resume" else _finished_run(tmp_path / "runs" / "r")
    (run / "plots").symlink_to(victim)
    args = {"evaluate": ["evaluate"], "export": ["export"], "resume": ["train", "--resume"]}[command]
    result = run_cli(*args, str(run))
    assert result.code == 1, result.err
    _one_line(result.err, str(run / "plots"), "symbolic link")
    assert list(victim.iterdir()) == []


def test_runs_list_does_not_walk_loops_of_links(tmp_path, run_cli):
    runs = tmp_path / "runs"
    _finished_run(runs / "good")
    nest = runs / "nest"
    nest.mkdir()
    for i in range(40):  # followed, 40 links to the parent six levels deep would be 40**6 folders
        (nest / f"up{i}").symlink_to(runs)
    with fails_if_blocked(60):  # a walk into the loops would not end
        result = run_cli("runs", "list", str(runs), "--json")
    assert result.code == 0, result.err
    assert [r["name"] for r in json.loads(result.out)["runs"]] == ["good"]


def test_runs_list_survives_hand_edited_metrics_and_escapes_control_characters(tmp_path, run_cli):
    runs = tmp_path / "runs"
    for name, accuracy in (("a", "99%"), ("b", [1]), ("c", 0.9)):
        run = _finished_run(runs / name)
        (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy}, "fit_seconds": "fast"}))
    manifest = json.loads((runs / "a" / "manifest.json").read_text())
    manifest["started_at"] = "2026\nforged-row  completed  99  100.00%\x1b[2J"
    (runs / "a" / "manifest.json").write_text(json.dumps(manifest))
    for key in ("accuracy", "fit", "started"):
        result = run_cli("runs", "list", str(runs), "--sort", key)
        assert result.code == 0, result.err
        lines = result.out.strip().splitlines()
        assert len(lines) == 4 and "\x1b" not in result.out and "\\n" in result.out
    rows = json.loads(run_cli("runs", "list", str(runs), "--json").out)["runs"]
    assert {r["name"]: r["test_accuracy"] for r in rows} == {"a": None, "b": None, "c": 0.9}


def test_a_serve_worker_that_cannot_load_the_verified_copy_stops_the_server(tmp_path, monkeypatch):
    import signal

    from hostile_files import save_onnx

    from mnist_cnn.serve import server

    model = save_onnx(tmp_path / "model.onnx")
    spec = {"copy": {"path": str(model), "sha256": "0" * 64, "facts": {}}, "limits": {}}
    monkeypatch.setenv(server.ENV, json.dumps(spec))
    kills = []
    monkeypatch.setattr(server.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    with pytest.raises(SystemExit):
        server.app_from_env()
    assert kills == [(os.getppid(), signal.SIGTERM)]
    line = (tmp_path / "worker-error.txt").read_text()
    assert "could not load the model verified at start" in line and "SHA-256 differs" in line


def test_a_trial_log_is_read_from_its_end_and_never_through_a_link(tmp_path):
    from mnist_cnn.sweep.execute import last_line

    log = tmp_path / "worker.log"
    with open(log, "wb") as handle:
        handle.truncate(2 * GB)  # sparse: reading it whole would take 2 GB
        handle.seek(0, os.SEEK_END)
        handle.write(b"\nError: the last line\n\n")
    assert last_line(log) == "Error: the last line"
    linked = tmp_path / "linked.log"
    linked.symlink_to("/dev/zero")
    assert last_line(linked) == "no log"


@pytest.mark.parametrize("args", [["--index", "0"], ["--workers", "1"]], ids=["one-trial", "executor"])
def test_a_trial_slot_linked_elsewhere_is_never_written_into(tmp_path, run_cli, args):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sweep = tmp_path / "sweep"
    assert run_cli("sweep", "start", str(SMOKE), "--plan-only", "--sweep-dir", str(sweep)).code == 0
    slot = sweep / "trials" / json.loads((sweep / "plan.json").read_text())["trials"][0]["id"]
    slot.parent.mkdir(parents=True, exist_ok=True)
    slot.symlink_to(elsewhere)
    result = run_cli("sweep", "run", str(sweep), *args)
    assert result.code == 1
    _one_line(result.err, str(slot), "symbolic link")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("kind", list(HOSTILE_MANIFESTS))
def test_sweep_status_and_report_survive_a_hostile_manifest_in_a_trial(tmp_path, run_cli, kind):
    make, _ = HOSTILE_MANIFESTS[kind]
    sweep = tmp_path / "sweep"
    assert run_cli("sweep", "start", str(SMOKE), "--plan-only", "--sweep-dir", str(sweep)).code == 0
    trial = json.loads((sweep / "plan.json").read_text())["trials"][0]["id"]
    make(sweep / "trials" / trial / "smoke-20260101-000000")
    code, out, err = _cli(run_cli, kind, "sweep", "status", str(sweep), "--json")
    assert code == 0, err
    assert [t["state"] for t in json.loads(out)["trials"]] == ["failed"]
    code, _, err = _cli(run_cli, kind, "sweep", "report", str(sweep), "--json")
    assert code == 0 and "Traceback" not in err, err


def test_a_manifest_write_never_resurrects_a_run_folder_that_went_away(tmp_path):
    from mnist_cnn.runs import manifest as manifests
    from mnist_cnn.runs.rundir import RunDir

    gone = RunDir(tmp_path / "runs" / "gone")
    record = manifests.Manifest(status="running", name="x", seed=1, started_at=STARTED)
    with pytest.raises(FileNotFoundError):
        manifests.write(gone, record)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "make", [lambda p: Path("/dev/zero"), _deep, _alias_bomb], ids=["dev-zero", "deep", "alias-bomb"]
)
def test_a_hostile_tune_space_is_one_line_exit_2(tmp_path, run_cli, make):
    space = make(tmp_path / "space.yaml")
    result = run_cli("tune", str(ROOT / "configs" / "chollet.yaml"), "--space", str(space), "--tune-dir",
                     str(tmp_path / "tune"))  # fmt: skip
    assert result.code == 2, result.err
    _one_line(result.err, str(space))
    assert not (tmp_path / "tune").exists()
