"""`mnist-cnn serve` on a real smoke-trained run: same answers as `predict`, the command's start, errors and stop."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import CLI, ROOT, cli_subprocess_env
from mnist_cnn.serve.app import create_app
from mnist_cnn.serve.model import load_served

pytestmark = pytest.mark.smoke
SAMPLES = ROOT / "samples"
START_TIMEOUT = 120  # seconds; a shared 2-core machine can be slow, a hung server must still fail the test


@pytest.mark.parametrize("checkpoint", [None, "last"], ids=["onnx-export", "keras-checkpoint"])
def test_served_answers_equal_predict_for_the_same_files(run_cli, smoke_run, checkpoint):
    """Same files, same preprocessing, same runtime choice: the same digits and probabilities as `predict`."""
    choice = ["--checkpoint", checkpoint] if checkpoint else []
    result = run_cli("predict", str(SAMPLES), "--model", str(smoke_run.root), "--top-k", "10", "--json", *choice)
    assert result.code == 0, result.err
    expected = json.loads(result.out)["predictions"]

    served = load_served(str(smoke_run.root), checkpoint=checkpoint)
    assert served.facts["kind"] == ("checkpoint" if checkpoint else "export")
    paths = [Path(p["path"]) for p in expected]
    files = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    response = TestClient(create_app(served)).post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    assert [g["digit"] for g in got] == [e["digit"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        by_digit = {c["digit"]: c["probability"] for c in e["top_k"]}
        assert g["probabilities"] == pytest.approx([by_digit[d] for d in range(10)], abs=1e-6)
        assert g["notes"] == e["notes"]


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next stdout line of `proc`, or fail after `timeout` seconds (never hangs the suite)."""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            proc.kill()
            pytest.fail(f"no output from the server within {timeout} s")
    return proc.stdout.readline()


def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [*CLI, "serve", *args], env=cli_subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = read_line(proc, START_TIMEOUT)
    if not line.startswith("Serving "):
        proc.kill()
        pytest.fail(f"unexpected start: {line!r} {proc.stderr.read()}")
    return proc, line


def test_serve_command_starts_answers_refuses_a_busy_port_and_stops_on_sigterm(smoke_run):
    proc, line = start(str(smoke_run.root), "--port", "0")
    try:
        assert "(onnx export, test accuracy " in line and "(Ctrl-C to stop)" in line
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        facts = httpx.get(f"{url}/v1/model", timeout=10).json()
        assert (facts["kind"], facts["runtime"], facts["sha256_verified"]) == ("export", "onnxruntime", True)
        photo = SAMPLES / "seven-photo.jpg"
        answer = httpx.post(f"{url}/v1/predict", files={"file": (photo.name, photo.read_bytes())}, timeout=10)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["name"] == photo.name
        # The ONNX path never loads TensorFlow's libraries: the server's memory map (Linux, like CI) names none.
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "onnxruntime" in maps and "tensorflow" not in maps

        port = url.rsplit(":", 1)[1]
        busy = subprocess.run(
            [*CLI, "serve", str(smoke_run.root), "--port", port],
            env=cli_subprocess_env(),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        assert busy.returncode == 1
        message = f"Error: port {port} on 127.0.0.1 is already in use; stop that server or pass --port N"
        assert busy.stderr.strip() == message
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}  # the first one is unaffected

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "Stopped." and "Traceback" not in err


def test_serve_without_a_finished_run_is_one_line(tmp_path):
    empty = tmp_path / "runs"
    empty.mkdir()
    result = subprocess.run(
        [*CLI, "serve", "--runs-dir", str(empty), "--port", "0"],
        env=cli_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == f"Error: no finished run under {empty}; train one first or pass --model"


def test_ctrl_c_stops_the_server_cleanly(smoke_run):
    proc, line = start(str(smoke_run.root), "--port", "0")
    url = line.split(" at ")[1].split()[0]
    try:
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out.strip() == "Stopped.", err
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
