"""The Python API on real training (smoke tier): the same run as the CLI, Ctrl-C and resume, predict, evaluate."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, SMOKE, SMOKE_EPOCHS, cli_subprocess_env, predict_in_subprocess
from mnist_cnn.runs import manifest as manifests


def _interrupt_after_first_epoch(runs_dir, stop: threading.Event) -> None:
    """Send this process SIGINT (as Jupyter's "interrupt kernel" does) once a run has committed epoch 1."""
    while not stop.is_set():
        for path in runs_dir.glob("*/manifest.json"):
            try:
                if json.loads(path.read_text())["epochs_completed"] >= 1:
                    # Epoch 1 is committed a moment before its line is printed; epoch 2 takes seconds.
                    time.sleep(0.5)
                    os.kill(os.getpid(), signal.SIGINT)
                    return
            except (OSError, ValueError, KeyError):
                pass  # being replaced right now: look again
        time.sleep(0.05)


def _counting(monkeypatch, module, name: str) -> list:
    calls: list = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_ctrl_c_then_resume_ends_byte_identical_to_the_cli_run_and_reloads_nothing(
    tmp_path, smoke_run, monkeypatch, capsys
):
    import mnist_cnn as mc
    from mnist_cnn.data import acquire
    from mnist_cnn.inference import modelfiles

    runs_dir = tmp_path / "runs"
    stop = threading.Event()
    watcher = threading.Thread(target=_interrupt_after_first_epoch, args=(runs_dir, stop), daemon=True)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            mc.train(SMOKE, {"train.epochs": SMOKE_EPOCHS, "output.export": ["onnx"]}, runs_dir=runs_dir)
    finally:
        stop.set()
    out = capsys.readouterr().out
    assert "Epoch 1/3" in out  # per-epoch lines reach stdout (a notebook cell's output) while training
    (run,) = [mc.open_run(p) for p in runs_dir.iterdir()]
    assert run.status == "interrupted" and 1 <= run.epochs < SMOKE_EPOCHS
    assert f"In Python: mnist_cnn.open_run('{run.path}').resume()" in out

    data_loads = _counting(monkeypatch, acquire, "load_mnist")
    model_loads = _counting(monkeypatch, modelfiles, "load")
    manifest_reads = _counting(monkeypatch, manifests, "read")
    assert run.resume(verbose=False) is run
    # One data load and one checkpoint restore for the resumed session; the end of training (scoring,
    # plots, export) uses what the process holds, and reads the manifest only when the session starts.
    assert (len(data_loads), len(model_loads), len(manifest_reads)) == (1, 1, 1)
    assert run.status == "completed" and run.epochs == SMOKE_EPOCHS
    assert run.path.joinpath("history.csv").read_bytes() == smoke_run.history_csv.read_bytes()
    mine, cli = run.manifest.checkpoints, manifests.read(smoke_run).checkpoints
    assert mine["last"].weights_sha256 == cli["last"].weights_sha256
    assert run.metrics["test"] == json.loads(smoke_run.metrics.read_text())["test"]
    assert run.exports["onnx"]["verification"]["argmax_agreement"] == 1.0
    assert run.last_session.status == "completed"


def test_api_predict_and_evaluate_match_the_cli_without_tensorflow(tmp_path, smoke_run):
    copy = tmp_path / smoke_run.root.name
    shutil.copytree(smoke_run.root, copy)
    script = (
        "import sys, json\nimport mnist_cnn as mc\n"
        f"run = mc.open_run({str(copy)!r})\n"
        f"answers = run.predict({str(ROOT / 'samples')!r})\n"
        "scored = run.evaluate()\n"
        "print(json.dumps({'answers': answers.to_json(), 'accuracy': scored.accuracy, 'runtime': scored['runtime'],\n"
        "                  'tf': 'tensorflow' in sys.modules or 'keras' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_subprocess_env())
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["tf"] is False and result["runtime"] == "onnxruntime", done.stderr
    cli, loaded = predict_in_subprocess(str(ROOT / "samples"), "--model", str(copy))
    assert result["answers"] == cli and not loaded
    assert result["accuracy"] == json.loads(smoke_run.metrics.read_text())["test"]["accuracy"]


def test_keras_evaluation_card_and_export_to_another_folder(tmp_path, smoke_run):
    import mnist_cnn as mc

    copy = tmp_path / smoke_run.root.name
    shutil.copytree(smoke_run.root, copy)
    run = mc.open_run(copy)
    scored = mc.evaluate_model(run, checkpoint="last")
    assert scored["runtime"] == "keras" and scored.accuracy == run.test_accuracy
    assert scored.confusion_matrix.sum() == 1000 and "data:image/png;base64," in scored._repr_html_()
    (record,) = run.export("onnx", out=tmp_path / "out")
    assert (tmp_path / "out" / "model.onnx").is_file() and record["verification"]["images"] == 1000
    assert set(run.exports) == {"onnx"}  # exported elsewhere: the run's manifest is unchanged
    with pytest.raises(mc.MnistCnnError, match="unknown export format 'tflite'"):
        run.export("tflite")
