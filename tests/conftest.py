"""Shared fixtures: a shrunken smoke config, outputs under tmp_path, and a CLI caller."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


def pytest_collection_modifyitems(items):
    """A test that needs the dataset (directly or through a trained run) belongs to the smoke tier."""
    for item in items:
        if "mnist" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.smoke)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys):
    """Call the real entry point in-process; return exit code, stdout and stderr."""
    from mnist_cnn.cli import main

    def call(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return call


def cli_subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running `python -m mnist_cnn.cli` in a child process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


CLI = [sys.executable, "-m", "mnist_cnn.cli"]


@pytest.fixture(scope="session")
def mnist():
    """The real, verified dataset from the cache (CI fills it with `mnist-cnn data download`)."""
    from mnist_cnn.data.acquire import DataError, load_mnist

    try:
        return load_mnist(allow_download=False)
    except DataError as exc:
        pytest.fail(f"smoke tests need MNIST: run `mnist-cnn data download` first ({exc})")


SMOKE_EPOCHS = 3
# The shared smoke run, as `train` makes it by default: with its ONNX export (configs/smoke.yaml turns it off).
SMOKE_RUN_ARGS = ("--set", f"train.epochs={SMOKE_EPOCHS}", "--set", "output.export=[onnx]")


def train_in_process(runs_dir: Path, *extra: str):
    """Train the smoke recipe through the real CLI in this process; the one run directory it made."""
    from mnist_cnn.cli import main
    from mnist_cnn.runs.rundir import RunDir

    before = set(runs_dir.iterdir()) if runs_dir.exists() else set()
    try:
        main(["train", "--config", str(SMOKE), "--runs-dir", str(runs_dir), *extra])
    except SystemExit as exc:
        pytest.fail(f"training exited with {exc.code}")
    (root,) = [p for p in runs_dir.iterdir() if p.is_dir() and p not in before]
    return RunDir(root)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, mnist):
    """The smoke recipe trained once for the whole session (3 epochs, ONNX export); tests copy it before changing it."""
    return train_in_process(tmp_path_factory.mktemp("smoke") / "runs", *SMOKE_RUN_ARGS)


def checkpoint_path(run, role: str) -> Path:
    """The file the run's manifest names for its `role` checkpoint (last, previous, best)."""
    from mnist_cnn.runs import manifest

    return manifest.read(run).checkpoints[role].path(run, role)


def predict_in_subprocess(*args: str) -> tuple[dict, set[str]]:
    """`mnist-cnn predict ARGS --json` in a fresh interpreter: its report, and which of TensorFlow/Keras it loaded."""
    import json
    import subprocess

    script = (
        "import sys\nfrom mnist_cnn.cli import main\ncode = 0\n"
        f"try:\n    main({['predict', *args, '--json']!r})\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "print('\\nLOADED', ','.join(m for m in ('tensorflow', 'keras') if m in sys.modules) or '-', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_subprocess_env())
    body, _, tail = done.stdout.rpartition("\nLOADED ")
    loaded, code = tail.split()
    assert code == "0", done.stderr
    return json.loads(body), set(loaded.split(",")) - {"-"}
