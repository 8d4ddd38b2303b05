"""Run-directory layout: the one place that names a run's files, creates run folders and reads history."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cnn import atomic, safe_read
from mnist_cnn.errors import MnistCnnError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
STAMP_FORMAT = "%Y%m%d-%H%M%S"

# Every file and folder name inside a run directory, defined here once (as ludwig's globals.py does)
# and used from here: other modules ask RunDir for paths, or glob with these names.
CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.json"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
ROBUSTNESS_FILE = "robustness.json"
LOG_FILE = "train.log"
CHECKPOINTS_DIR = "checkpoints"
PLOTS_DIR = "plots"
EXPORT_DIR = "export"
TENSORBOARD_DIR = "tensorboard"
PLOT_NAMES = ("history", "samples", "confusion_matrix", "misclassified", "filters", "robustness")  # plots/<name>.png


class RunError(MnistCnnError):
    """A run directory is missing, incomplete or inconsistent; the message says what to do."""


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory (reading and writing run state is runs/manifest.py's and runs/run.py's job)."""

    root: Path

    config = property(lambda self: self.root / CONFIG_FILE)
    manifest = property(lambda self: self.root / MANIFEST_FILE)
    history_csv = property(lambda self: self.root / HISTORY_CSV)
    history_json = property(lambda self: self.root / HISTORY_JSON)
    metrics = property(lambda self: self.root / METRICS_FILE)
    evaluation = property(lambda self: self.root / EVALUATION_FILE)
    robustness = property(lambda self: self.root / ROBUSTNESS_FILE)
    checkpoints = property(lambda self: self.root / CHECKPOINTS_DIR)
    plots = property(lambda self: self.root / PLOTS_DIR)
    exports = property(lambda self: self.root / EXPORT_DIR)
    log = property(lambda self: self.root / LOG_FILE)
    tensorboard = property(lambda self: self.root / TENSORBOARD_DIR)

    def plot(self, name: str) -> Path:
        """plots/<name>.png for one of PLOT_NAMES."""
        if name not in PLOT_NAMES:
            raise RunError(f"no plot called {name!r}; a run has {', '.join(PLOT_NAMES)}")
        return self.plots / f"{name}.png"

    def read_metrics(self) -> dict[str, Any]:
        """metrics.json as a dict; empty if the run has none yet or it cannot be read (listings must not crash)."""
        try:
            data = safe_read.read_json(self.metrics, safe_read.METRICS_LIMIT, "metrics file", follow_links=False)
        except (OSError, ValueError, safe_read.FileRefused):
            return {}
        return data if isinstance(data, dict) else {}


def checkpoint_file_name(epoch: int) -> str:
    """The file of the checkpoint taken at the end of `epoch`."""
    return f"epoch-{epoch:04d}.keras"


def safe_name(name: str) -> str:
    """The run name as it appears in the folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


def create(runs_dir: str | Path, name: str, now: dt.datetime | None = None) -> RunDir:
    """Make a fresh runs/<name>-<YYYYmmdd-HHMMSS> directory (suffixed -2, -3... if taken)."""
    stamp = (now or dt.datetime.now()).strftime(STAMP_FORMAT)
    base = Path(runs_dir) / f"{safe_name(name)}-{stamp}"
    for attempt in range(1, 1000):
        root = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            root.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"cannot create the run directory {root}: {exc.strerror or exc}") from None
        for sub in (CHECKPOINTS_DIR, PLOTS_DIR):
            (root / sub).mkdir()
        return RunDir(root)
    raise RunError(f"{base}: could not create a unique run directory")


def file_sha256(path: str | Path, limit: int | None = None) -> str:
    """SHA-256 of a regular file's bytes; a FIFO or device, or a file over `limit`, is refused (FileRefused)."""
    digest = hashlib.sha256()
    fd = safe_read.open_regular(path, limit, "file")
    with open(fd, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_own_folders(run: RunDir) -> None:
    """The run's sub-folders (and config.yaml) the tool writes are real ones, not links it did not make (RunError)."""
    for path in (run.checkpoints, run.plots, run.root / "export", run.tensorboard, run.config):
        if path.is_symlink():
            raise RunError(
                f"{path}: is a symbolic link, which the tool never makes; it will not write through it "
                "(replace it with the real folder or file)"
            )


def format_history(rows: list[dict[str, float]]) -> str:
    """history.csv text: fixed columns, floats as repr so reruns compare byte for byte."""
    columns = [c for c in HISTORY_COLUMNS if any(c in row for row in rows)] or list(HISTORY_COLUMNS[:3])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(row[c]) if isinstance(row.get(c), float) else row.get(c, "") for c in columns])
    return out.getvalue()


def write_history(run: RunDir, rows: list[dict[str, float]]) -> str:
    """Write history.csv and history.json atomically; return the SHA-256 of history.csv."""
    text = format_history(rows)
    atomic.write_text(run.history_csv, text)
    atomic.write_json(run.history_json, rows)
    return hashlib.sha256(text.encode()).hexdigest()


def read_history(run: RunDir) -> list[dict[str, float]]:
    """Rows of history.csv (epoch as int, the rest as float); empty if there is none yet."""
    try:
        text = safe_read.read_text(run.history_csv, safe_read.HISTORY_LIMIT, "history", follow_links=False)
    except FileNotFoundError:
        return []
    except safe_read.FileRefused as exc:
        raise RunError(str(exc)) from None
    rows = []
    try:
        for record in csv.DictReader(io.StringIO(text)):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in record.items() if v != ""})
    except (ValueError, TypeError, csv.Error) as exc:
        raise RunError(f"{run.history_csv}: unreadable history ({exc})") from None
    return rows
