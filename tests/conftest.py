"""Shared fixtures: a shrunken smoke config, outputs under tmp_path, and a CLI caller."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


def pytest_collection_modifyitems(items):
    """A test that needs the dataset (directly or through a trained run) belongs to the smoke tier.

    The smoke tier runs first (a stable sort: each file keeps its order): its tests take seconds to a
    minute each, the fast tier's a fraction of a second, so with pytest-xdist's workers (scripts/test)
    the long ones start early and the short ones fill the gaps, instead of a minute-long test
    starting last while the other worker idles.
    """
    for item in items:
        if "mnist" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.smoke)
    items.sort(key=lambda item: item.get_closest_marker("smoke") is None)


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


@contextlib.contextmanager
def fails_if_blocked(seconds: float = 30):
    """Fail the test, instead of hanging the suite, if the block runs longer than `seconds`.

    For code that could block on a FIFO in this process (main thread): SIGALRM interrupts a blocked
    open() or read(), and pytest.fail raises a BaseException that no `except Exception` in the CLI can
    turn into an ordinary error line. Cheaper than a child process per case (a Python start-up each).
    """

    def blocked(_signum, _frame):
        pytest.fail(f"still running after {seconds} s: it blocks")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cli_subprocess_env(synthetic: bool = False, **extra: str) -> dict[str, str]:
    """Environment for running `python -m mnist_cnn.cli` in a child process (`synthetic`: on tests/synthetic.py)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    paths = [str(ROOT / "src")]
    if synthetic:
        env["MNIST_CNN_TEST_SYNTHETIC"] = "1"
        paths.append(str(ROOT / "tests" / "synthetic_site"))
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
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


@pytest.fixture
def synthetic_mnist(monkeypatch):
    """MNIST replaced by the synthetic set (tests/synthetic.py) in this process: the fast tier trains on it."""
    import synthetic
    from mnist_cnn.data import acquire

    monkeypatch.setattr(acquire, "load_mnist", synthetic.load_synthetic)
    return synthetic.dataset()


def skip_plots(patch: pytest.MonkeyPatch) -> None:
    """Training draws no plots: for tests of something else, where drawing costs more than their epochs.

    The plots themselves are checked by test_plots.py and on the shared runs (test_train_synthetic, test_smoke).
    """
    from mnist_cnn import plots

    for name in [n for n in dir(plots) if n.startswith("plot_")]:
        patch.setattr(plots, name, lambda *_args, **_kwargs: None)


@pytest.fixture
def no_plots(monkeypatch):
    """skip_plots for one test (`pytestmark = pytest.mark.usefixtures("no_plots")` for a module)."""
    skip_plots(monkeypatch)


SYNTHETIC_EPOCHS = 2
# The synthetic reference run: the smoke recipe (it takes the whole synthetic set) with its ONNX export.
SYNTHETIC_RUN_ARGS = ("--set", f"train.epochs={SYNTHETIC_EPOCHS}", "--set", "output.export=[onnx]")


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory):
    """The smoke recipe trained once on the synthetic set (2 epochs, ONNX export); tests copy it before changing it."""
    import synthetic
    from mnist_cnn.data import acquire

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(acquire, "load_mnist", synthetic.load_synthetic)
        return train_in_process(tmp_path_factory.mktemp("synthetic") / "runs", *SYNTHETIC_RUN_ARGS)


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


# ---------------------------------------------------------------- training in a child process (real signals)


def start_training(runs_dir: Path, *args: str, synthetic: bool = False) -> subprocess.Popen:
    """`mnist-cnn train ARGS` in a child process (stdout and stderr together), run from runs_dir's parent."""
    return subprocess.Popen(
        [*CLI, "train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_subprocess_env(synthetic=synthetic),
        cwd=runs_dir.parent,
    )


def train_subprocess(runs_dir: Path, *args: str, synthetic: bool = False) -> tuple[int, str]:
    """Run `mnist-cnn train ARGS` to the end in a child process; its exit code and output."""
    proc = start_training(runs_dir, *args, synthetic=synthetic)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def only_run(runs_dir: Path):
    """The one run directory under runs_dir."""
    from mnist_cnn.runs.rundir import RunDir

    (root,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return RunDir(root)


def wait_for_epochs(runs_dir: Path, proc: subprocess.Popen, count: int, timeout: float = 240):
    """Poll the manifest until `count` epochs are committed; fail if training ends first or takes too long."""
    from mnist_cnn.runs.rundir import RunDir

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        runs = list(runs_dir.glob("*/manifest.json")) if runs_dir.exists() else []
        if runs:
            try:
                if json.loads(runs[0].read_text()).get("epochs_completed", 0) >= count:
                    return RunDir(runs[0].parent)
            except ValueError:
                pytest.fail("torn manifest.json observed while training")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no {count} epochs committed within {timeout}s")


def final_state(run) -> tuple[bytes, str, str]:
    """What an exact resume must reproduce: history.csv's bytes, the last weights' hash, the status."""
    from mnist_cnn.runs import manifest as manifests

    manifest = manifests.read(run).to_json()
    return run.history_csv.read_bytes(), manifest["checkpoints"]["last"]["weights_sha256"], manifest["status"]


# ---------------------------------------------------------------- optional packages: one policy


def need_package(module: str, extra: str):
    """Import `module` for a test, or say why the test cannot run.

    A package of the `test` extra is something the suite needs: its absence fails the test. A
    genuinely optional extra (`ray`) skips with the reason shown (`-rs`), except under scripts/test
    (MNIST_CNN_TEST_STRICT=1), which installs every extra, so there a missing one fails too.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is not installed ({exc}): pip install -e '.[{extra}]' (scripts/test installs it)"
        if extra == "test" or os.environ.get("MNIST_CNN_TEST_STRICT") == "1":
            pytest.fail(message)
        pytest.skip(message)
