"""Run-directory layout, manifest and history files: the one place that names them."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cnn import atomic
from mnist_cnn.errors import MnistCnnError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
FINISHED = ("completed", "stopped_early")


class RunError(MnistCnnError):
    """A run directory is missing, incomplete or inconsistent; the message says what to do."""


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    config = property(lambda self: self.root / "config.yaml")
    manifest = property(lambda self: self.root / "manifest.json")
    history_csv = property(lambda self: self.root / "history.csv")
    history_json = property(lambda self: self.root / "history.json")
    metrics = property(lambda self: self.root / "metrics.json")
    checkpoints = property(lambda self: self.root / "checkpoints")
    last_checkpoint = property(lambda self: self.root / "checkpoints" / "last.keras")
    previous_checkpoint = property(lambda self: self.root / "checkpoints" / "previous.keras")
    best_checkpoint = property(lambda self: self.root / "checkpoints" / "best.keras")
    plots = property(lambda self: self.root / "plots")
    log = property(lambda self: self.root / "train.log")
    tensorboard = property(lambda self: self.root / "tensorboard")

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict; RunError if this is not a run directory."""
        try:
            return json.loads(self.manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{self.root}: not a run directory (no manifest.json)") from None
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.root}: unreadable manifest.json ({exc})") from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically."""
        atomic.write_json(self.manifest, manifest)

    def checkpoint(self, which: str) -> Path:
        """Path of the 'best' or 'last' checkpoint."""
        return {"best": self.best_checkpoint, "last": self.last_checkpoint}[which]


def create(runs_dir: str | Path, name: str, now: dt.datetime | None = None) -> RunDir:
    """Make a fresh runs/<name>-<YYYYmmdd-HHMMSS> directory (suffixed -2, -3... if taken)."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"
    base = Path(runs_dir) / f"{safe}-{stamp}"
    for attempt in range(1, 1000):
        root = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            root.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        for sub in ("checkpoints", "plots"):
            (root / sub).mkdir()
        return RunDir(root)
    raise RunError(f"{base}: could not create a unique run directory")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def format_history(rows: list[dict[str, float]]) -> str:
    """history.csv text: fixed columns, floats as repr so reruns compare byte for byte."""
    columns = [c for c in HISTORY_COLUMNS if any(c in row for row in rows)] or list(HISTORY_COLUMNS[:3])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(row[c]) if isinstance(row.get(c), float) else row.get(c, "") for c in columns])
    return out.getvalue()


def write_history(run: RunDir, rows: list[dict[str, float]]) -> None:
    """Write history.csv and history.json atomically."""
    atomic.write_text(run.history_csv, format_history(rows))
    atomic.write_json(run.history_json, rows)


def read_history(run: RunDir) -> list[dict[str, float]]:
    """Rows of history.csv (epoch as int, the rest as float); empty if there is none yet."""
    try:
        text = run.history_csv.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in record.items() if v != ""})
    return rows


def latest_run(runs_dir: str | Path, statuses: tuple[str, ...] = FINISHED) -> RunDir | None:
    """The most recently finished run under `runs_dir` (by the manifest's finish time), if any."""
    best: tuple[str, RunDir] | None = None
    for manifest in Path(runs_dir).glob("*/manifest.json"):
        run = RunDir(manifest.parent)
        try:
            info = run.read_manifest()
        except RunError:
            continue
        if info.get("status") in statuses:
            key = str(info.get("finished_at") or "")
            if best is None or key > best[0]:
                best = (key, run)
    return best[1] if best else None
