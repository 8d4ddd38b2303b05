"""Model files and the paths to them, as a hostile file or a careless edit makes them (issue 19, principles 2, 6, 7).

ONNX graphs are built here with onnx.helper (no TensorFlow, no dataset): one that outputs NaN, one with
external data, one whose graph asks for gigabytes before running and one that asks for them only at run
time (the ONNX Runtime arena cap refuses it; at worst it would take 1 GB, so the test is safe to run).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from hostile_files import digit_png, onnx_run, save_huge_tflite, save_onnx, save_onnx_with_external_data

from conftest import CLI, cli_subprocess_env


def _one_line_error(result, *needles: str) -> str:
    lines = [ln for ln in result.err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in result.err, result.err
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def image(tmp_path) -> Path:
    return digit_png(tmp_path / "one.png")


def test_a_model_that_outputs_nan_fails_that_input_with_strict_json(tmp_path, run_cli, image):
    model = save_onnx(tmp_path / "nan.onnx", "nan")
    result = run_cli("predict", "--model", str(model), str(image), "--json")
    assert result.code == 1
    payload = json.loads(result.out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert payload["predictions"] == []
    assert payload["errors"] == [{"path": str(image), "error": payload["errors"][0]["error"]}]
    assert "not a number" in payload["errors"][0]["error"]
    plain = run_cli("predict", "--model", str(model), str(image))
    assert plain.code == 1 and "nan%" not in plain.out and "not a number" in plain.err


def test_an_onnx_file_with_external_data_is_refused(tmp_path, run_cli, image):
    model = save_onnx_with_external_data(tmp_path / "ext.onnx")
    assert (tmp_path / "weights.bin").is_file()
    result = run_cli("predict", "--model", str(model), str(image))
    assert result.code == 1
    _one_line_error(result, str(model), "keeps its data in another file")


def test_a_graph_that_would_allocate_gigabytes_is_refused_before_running(tmp_path, run_cli, image):
    model = save_onnx(tmp_path / "huge.onnx", "static-huge", huge_elements=2**29)  # 2 GB of float32
    result = run_cli("predict", "--model", str(model), str(image))
    assert result.code == 1
    _one_line_error(result, str(model), "2,048 MB", "limit 512 MB", "refused before running")


def test_a_graph_that_asks_for_too_much_memory_at_run_time_fails_with_one_line(tmp_path, run_cli, image):
    from mnist_cnn.inference.runtimes import MAX_ONNX_ARENA_BYTES

    # batch x 2**28 floats: 1 GB for one image, known only once the batch size is; over the arena's cap.
    assert 4 * 2**28 >= MAX_ONNX_ARENA_BYTES
    model = save_onnx(tmp_path / "dynamic.onnx", "dynamic-huge", huge_elements=2**28)
    result = run_cli("predict", "--model", str(model), str(image))
    assert result.code == 1
    line = _one_line_error(result, str(model), "failed while running", "ConstantOfShape")
    assert "1,024 MB" in line


@pytest.mark.parametrize("command", ["predict", "serve"])
@pytest.mark.parametrize("how", ["dotdot", "absolute", "link"])
def test_an_export_path_leading_out_of_the_run_is_refused(tmp_path, run_cli, image, command, how):
    elsewhere = save_onnx(tmp_path / "elsewhere" / "model.onnx")
    run = tmp_path / "runs" / "r"
    if how == "link":
        (run / "export").mkdir(parents=True)
        (run / "export" / "model.onnx").symlink_to(elsewhere)
        onnx_run(run, model=elsewhere)
    else:
        onnx_run(run, export_file="../../elsewhere/model.onnx" if how == "dotdot" else str(elsewhere), model=elsewhere)
    args = [str(image), "--model", str(run)] if command == "predict" else [str(run), "--port", "0"]
    result = run_cli(command, *args)
    assert result.code == 1, result.err
    line = _one_line_error(result)
    assert "outside" in line or "unexpected value" in line, line
    assert "sha256_verified" not in result.out


def _children(pid: int) -> list[int]:
    """The server's worker processes (spawned by multiprocessing; not its resource tracker)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    workers = []
    for child in text.split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(int(child))
        except OSError:
            pass
    return workers


def _post(url: str) -> dict:
    pixels = [[1.0 if 13 <= c <= 14 and 5 <= r <= 22 else 0.0 for c in range(28)] for r in range(28)]
    body = json.dumps({"images": [{"pixels": pixels}]}).encode()
    request = urllib.request.Request(f"{url}/v1/predict", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


@pytest.mark.smoke  # a server and its two worker processes: the slow tier
def test_serve_with_two_workers_keeps_the_verified_model_when_the_file_changes(tmp_path):
    run = onnx_run(tmp_path / "runs" / "r")
    served_file = run / "export" / "model.onnx"
    proc = subprocess.Popen(
        [*CLI, "serve", str(run), "--port", "0", "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=cli_subprocess_env(), start_new_session=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line).group(0)
        before = _post(url)["predictions"][0]["probabilities"]
        # The file on disk changes (same size class, other bytes: a NaN model), then every worker restarts.
        save_onnx(served_file, "nan")
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        answers = []
        while len(answers) < 6 and time.monotonic() < deadline:
            try:
                answers.append(_post(url)["predictions"][0]["probabilities"])
            except OSError:
                time.sleep(0.3)  # a worker is being restarted
        assert len(answers) == 6 and all(a == before for a in answers)
        assert proc.poll() is None, "the server stopped"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
    assert "Traceback" not in err, err


def test_a_litert_model_with_a_huge_tensor_is_refused_before_allocating(tmp_path, run_cli, image):
    model = save_huge_tflite(tmp_path / "huge.tflite")
    assert model.stat().st_size < 100_000  # small on disk; 2 GB once allocated
    result = run_cli("predict", "--model", str(model), str(image))
    assert result.code == 1
    _one_line_error(result, str(model), "'BroadcastTo' would take 2,048 MB", "refused before running")


def _keras_archive(path: Path, dense: dict) -> Path:
    """A .keras zip (no TensorFlow needed) whose config holds one Dense layer as given and 1 KB of 'weights'."""
    import zipfile

    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "evil", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28, 1]}},
        {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flatten"}},
        {"module": "keras.layers", "class_name": "Dense", **dense}]}}  # fmt: skip
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", b"\0" * 1024)
    return path


@pytest.mark.parametrize(
    ("dense", "needle"),
    [({"config": {"name": "d", "units": 10**8}, "build_config": {"input_shape": [None, 784]}},
      "declares 78,500,000,000 weights"),
     ({"config": {"name": "d", "units": 10}}, "layer d has no readable size")],
    ids=["declares-300-GB", "no-recorded-shape"],
)  # fmt: skip
def test_a_keras_archive_declaring_more_weights_than_it_holds_is_refused_before_building(
    tmp_path, run_cli, image, dense, needle
):
    model = _keras_archive(tmp_path / "evil.keras", dense)
    result = run_cli("predict", "--model", str(model), str(image))
    assert result.code == 1
    _one_line_error(result, str(model), needle)


@pytest.mark.parametrize("command", ["predict", "compare"])
def test_a_checkpoint_linked_out_of_the_run_is_refused(tmp_path, run_cli, image, command):
    import hashlib

    elsewhere = tmp_path / "elsewhere.keras"
    elsewhere.write_bytes(b"not really a model")
    run = onnx_run(tmp_path / "runs" / "r")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "epoch-0001.keras").symlink_to(elsewhere)
    manifest = json.loads((run / "manifest.json").read_text())
    digest = hashlib.sha256(elsewhere.read_bytes()).hexdigest()
    manifest["checkpoints"] = {"last": {"epoch": 1, "sha256": digest, "weights_sha256": "0" * 64,
                                        "file": "epoch-0001.keras"}}  # fmt: skip
    (run / "manifest.json").write_text(json.dumps(manifest))
    if command == "predict":
        result = run_cli("predict", str(image), "--model", str(run), "--checkpoint", "last")
        assert result.code == 1
        _one_line_error(result, "'checkpoints/epoch-0001.keras' leads outside")
    else:
        result = run_cli("runs", "compare", str(run), str(run), "--json")
        assert result.code == 1 and "Traceback" not in result.err
        assert any("leads outside" in problem for problem in json.loads(result.out)["damaged"])


def test_a_feature_model_path_leading_out_of_the_run_is_not_loaded(tmp_path):
    from mnist_cnn.explain.features import load_features
    from mnist_cnn.inference import modelfiles
    from mnist_cnn.inference.runtimes import load_runtime

    run = onnx_run(tmp_path / "runs" / "r")
    save_onnx(tmp_path / "elsewhere" / "features.onnx")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["exports"]["onnx"]["source_sha256"] = "s"
    manifest["exports"]["onnx"]["features"] = {"file": "../../elsewhere/features.onnx", "source_sha256": "s"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    source = modelfiles.resolve(str(run), prefer_export=True)
    features, missing = load_features(source, load_runtime(source))
    assert features is None and "points outside" in missing
