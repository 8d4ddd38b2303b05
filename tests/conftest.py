"""Shared fixtures: a shrunken smoke config, outputs under tmp_path, and a CLI caller."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, mnist) -> Path:
    """One run of configs/smoke.yaml (~15 s), trained once per session for tests that need a real model."""
    from mnist_cnn.cli import main

    runs_dir = tmp_path_factory.mktemp("smoke-run") / "runs"
    main(["train", "--config", str(SMOKE), "--runs-dir", str(runs_dir)])
    (root,) = runs_dir.iterdir()
    return root
