"""The Python API on a hand-made run with a tiny ONNX model: no dataset, no TensorFlow, seconds."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SMOKE, cli_subprocess_env
from mnist_cnn import atomic, config, plots
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir

WEIGHTS = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)


def _onnx_model() -> bytes:
    """softmax(flatten(image) @ WEIGHTS): a real ONNX file with the exported models' input and output."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 10])],
        [numpy_helper.from_array(WEIGHTS, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _expected(image: np.ndarray) -> np.ndarray:
    logits = image.reshape(-1).astype(np.float64) @ WEIGHTS
    e = np.exp(logits - logits.max())
    return e / e.sum()


@pytest.fixture
def exported_run(tmp_path):
    """A finished run directory as training leaves it (manifest, config, history, metrics, plot, ONNX export)."""
    run = rundir.create(tmp_path / "runs", "tiny")
    cfg = config.load(SMOKE)
    atomic.write_text(run.config, config.to_yaml(cfg))
    columns = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
    rows = [dict(zip(columns, values, strict=True)) for values in [(1, 1.0, 0.7, 0.9, 0.75, 0.002),
                                                                    (2, 0.5, 0.85, 0.6, 0.8, 0.002)]]  # fmt: skip
    rundir.write_history(run, rows)
    plots.plot_history(rows, run.plot("history"))
    atomic.write_json(run.metrics, {"checkpoint": "last", "test": {"accuracy": 0.8125, "loss": 0.61}, "epochs": 2})
    run.exports.mkdir()
    (run.exports / "model.onnx").write_bytes(_onnx_model())
    m = manifests.Manifest(status="completed", name="tiny", seed=7, started_at=manifests.now(),
                           epochs_completed=2, finished_at=manifests.now())  # fmt: skip
    m.record_config(config.to_dict(cfg))
    m.exports["onnx"] = {"file": "export/model.onnx", "sha256": rundir.file_sha256(run.exports / "model.onnx")}
    manifests.write(run, m)
    return run


def test_import_is_light_and_the_api_names_survive_their_subpackages():
    script = (
        "import sys\nimport mnist_cnn as mc\n"
        "light = not any(m in sys.modules for m in ('tensorflow', 'keras', 'matplotlib', 'mnist_cnn.api'))\n"
        "from mnist_cnn.train import runner\nfrom mnist_cnn.runs import listing\nimport mnist_cnn.sweep.plan\n"
        "print(light, callable(mc.train), callable(mc.runs), callable(mc.sweep), mc.Run.__name__,\n"
        "      'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_subprocess_env())
    assert done.stdout.split() == ["True", "True", "True", "True", "Run", "False"], done.stderr


def test_every_public_name_is_documented():
    import mnist_cnn

    doc = (ROOT / "docs" / "python-api.md").read_text()
    missing = [name for name in mnist_cnn.__all__ if f"`{name}" not in doc]
    for cls in (mnist_cnn.Run, mnist_cnn.Sweep, mnist_cnn.Predictions, mnist_cnn.Evaluation, mnist_cnn.RunTable,
                mnist_cnn.SweepReport):  # fmt: skip
        missing += [f"{cls.__name__}.{n}" for n in vars(cls) if not n.startswith("_") and f"`{n}" not in doc]
    missing += [f"Prediction.{n}" for n in mnist_cnn.Prediction.__dataclass_fields__ if f"`{n}" not in doc]
    assert not missing, f"not in docs/python-api.md: {missing}"


def test_open_run_reads_state_and_shows_a_card(exported_run):
    import mnist_cnn as mc

    run = mc.open_run(exported_run.root)
    assert (run.name, run.status, run.epochs, run.seed, run.finished) == ("tiny", "completed", 2, 7, True)
    assert run.metrics["test_accuracy"] == run.test_accuracy == 0.8125
    history = run.history
    assert list(history["val_accuracy"]) == [0.75, 0.8]  # pandas is installed here
    assert run.config == config.load(SMOKE)
    assert repr(run) == f"Run('{run.path}', status=completed, epochs=2, test_accuracy=0.8125)"
    card = run._repr_html_()
    assert "Run tiny" in card and "81.25%" in card and "2 of 2" in card and "data:image/png;base64," in card
    assert run.plot("history")._repr_png_() == exported_run.plot("history").read_bytes()
    with pytest.raises(mc.RunError, match="confusion_matrix.png: not there yet"):
        run.plot("confusion_matrix")
    with pytest.raises(mc.RunError, match="no plot called 'loss'"):
        run.plot("loss")


def test_errors_are_the_cli_s_exceptions(tmp_path, run_cli):
    import mnist_cnn as mc

    with pytest.raises(mc.RunError, match="no manifest.json"):
        mc.open_run(tmp_path)
    with pytest.raises(mc.RunError, match="no such run directory"):
        mc.open_run(tmp_path / "missing")
    with pytest.raises(mc.ConfigError) as caught:
        mc.train(SMOKE, {"train.epoch": 3}, runs_dir=tmp_path / "runs")
    cli = run_cli("train", "--config", str(SMOKE), "--set", "train.epoch=3", "--runs-dir", str(tmp_path / "runs"))
    assert cli.code == 2 and cli.err.strip() == f"Error: {caught.value}"
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_overrides_as_a_dict_and_a_config_object():
    import mnist_cnn as mc

    cfg = mc.load_config(SMOKE, {"train.epochs": 3, "data.subset.train": 500, "output.export": ["onnx"]})
    assert (cfg.train.epochs, cfg.data.subset.train, list(cfg.output.export)) == (3, 500, ["onnx"])
    again = mc.load_config(cfg, ["seed=8"], runs_dir="elsewhere")
    assert (again.seed, again.train.epochs, again.output.runs_dir) == (8, 3, "elsewhere")
    with pytest.raises(mc.UsageError, match="expected a YAML file path"):
        mc.load_config(42)


def test_predict_files_arrays_and_images_through_onnx(exported_run):
    import mnist_cnn as mc

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a one, white on black like MNIST
    photo = Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8)))  # dark ink on paper, 112×112
    answers = mc.open_run(exported_run.root).predict([str(ROOT / "samples" / "seven-photo.jpg"), digit, photo])
    assert [p.path for p in answers] == [str(ROOT / "samples" / "seven-photo.jpg"), "array 1", "image 2"]
    assert answers.runtime == "onnxruntime" and answers.errors == []
    for p in answers:
        assert p.image.shape == (28, 28)
        np.testing.assert_allclose(p.probabilities, _expected(p.image), atol=1e-5)  # what it saw is what it scored
        assert p.digit == int(np.argmax(p.probabilities))
    assert "light background detected: inverted" in answers[2].notes
    card = answers[1]._repr_html_()
    assert card.count("<tr>") == 10 and "data:image/png;base64," in card
    batch = mc.predict(np.stack([digit, digit]), model=exported_run.root)
    assert [p.path for p in batch] == ["array 0[0]", "array 0[1]"]


def test_an_unreadable_input_raises_or_is_collected(exported_run):
    import mnist_cnn as mc

    run = mc.open_run(exported_run.root)
    with pytest.raises(mc.PredictError, match=r"^array 0: no digit found \(the image looks blank\)$"):
        run.predict(np.zeros((28, 28)))
    both = run.predict([np.zeros((28, 28)), "missing.png"], on_error="collect")
    assert list(both) == [] and sorted(e["path"] for e in both.errors) == ["array 0", "missing.png"]


def test_predict_on_an_exported_run_never_imports_tensorflow(exported_run):
    script = (
        "import sys, json\nimport numpy as np\nimport mnist_cnn as mc\n"
        f"answers = mc.open_run({str(exported_run.root)!r}).predict([{str(ROOT / 'samples')!r}, np.eye(28)])\n"
        "print(json.dumps([len(answers), answers.runtime, 'tensorflow' in sys.modules, 'keras' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_subprocess_env())
    assert json.loads(done.stdout.splitlines()[-1]) == [11, "onnxruntime", False, False], done.stderr


def test_runs_table_and_latest_run(exported_run, tmp_path):
    import mnist_cnn as mc

    table = mc.runs(tmp_path / "runs")
    assert [r["status"] for r in table] == ["completed"] and table[0]["test_accuracy"] == 0.8125
    assert "81.25%" in repr(table) and "81.25%" in table._repr_html_()
    assert list(table.to_pandas()["name"]) == [exported_run.root.name]
    assert mc.latest_run(tmp_path / "runs") == mc.open_run(exported_run.root)
    assert mc.latest_run(tmp_path) is None
    with pytest.raises(mc.UsageError, match="no such runs directory"):
        mc.runs(tmp_path / "nowhere")


def test_a_planned_sweep_is_the_cli_s_plan_and_reports_what_is_missing(tmp_path, run_cli):
    import mnist_cnn as mc

    study = mc.sweep(SMOKE, seeds=2, grid={"train.batch_size": [16, 32]}, sweep_dir=tmp_path / "api", run=False)
    cli = run_cli("sweep", str(SMOKE), "--seeds", "2", "--grid", "train.batch_size=16,32",
                  "--sweep-dir", str(tmp_path / "cli"), "--plan-only")  # fmt: skip
    assert cli.code == 0, cli.err
    assert (tmp_path / "api" / "plan.json").read_text() == (tmp_path / "cli" / "plan.json").read_text()
    assert study.trials == 4 and [r["state"] for r in study.status()] == ["pending"] * 4
    assert repr(study) == f"Sweep('{tmp_path / 'api'}', 4 trials: 4 pending)"
    report = study.report()
    assert [p["point"] for p in report["points"]] == ["train.batch_size=16", "train.batch_size=32"]
    assert len(report["unfinished"]) == 4 and "| train.batch_size=16 | 0 of 2 |" in repr(report)
    assert "not counted" in report._repr_html_() and study.runs() == []
    assert mc.open_sweep(tmp_path / "api").trials == 4
    with pytest.raises(mc.ConfigError, match="train.batch_size"):
        mc.sweep(SMOKE, grid={"train.batch_size": [0]}, sweep_dir=tmp_path / "bad", run=False)
    assert not (tmp_path / "bad").exists()


def test_latest_run_of_any_status_is_the_last_started(exported_run, tmp_path):
    import mnist_cnn as mc

    later = rundir.create(tmp_path / "runs", "later")
    m = manifests.Manifest(status="interrupted", name="later", seed=1, started_at="2999-01-01T00:00:00+00:00")
    manifests.write(later, m)
    (tmp_path / "runs" / "torn").mkdir()
    (tmp_path / "runs" / "torn" / "manifest.json").write_text('{"status": "compl')
    assert mc.latest_run(tmp_path / "runs").path == exported_run.root  # the latest *finished* one
    assert mc.latest_run(tmp_path / "runs", finished=False).status == "interrupted"
