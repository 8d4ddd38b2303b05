"""Finding runs under a folder: the latest finished one (predict/serve defaults) and `runs list`.

`runs list` shows one row per run directory (sweep trials included), read-only. A folder that looks
like a run (config.yaml, history.csv or manifest.json) but whose manifest cannot be read becomes
one note, never a crash: listing must work on half-written and damaged runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.rundir import CONFIG_FILE, HISTORY_CSV, MANIFEST_FILE, RunDir, RunError


def latest_run(
    runs_dir: str | Path, statuses: tuple[str, ...] = manifests.FINISHED, note: Callable[[str], None] | None = None
) -> RunDir | None:
    """The most recently finished run under `runs_dir`, by absolute finish time (time zones respected).

    Run folders whose manifest is unreadable or malformed are skipped, each with one `note`.
    """
    best = None
    for path in sorted(Path(runs_dir).glob(f"*/{MANIFEST_FILE}")):
        run = RunDir(path.parent)
        try:
            info = manifests.read(run)
        except RunError as exc:
            if note:
                note(f"note: skipping {run.root}: {exc}")
            continue
        finished = manifests.parse_time(info.finished_at)
        if info.status in statuses and finished is not None and (best is None or finished > best[0]):
            best = (finished, run)
    return best[1] if best else None


SORT_KEYS = ("started", "name", "status", "epochs", "accuracy", "fit", "seed")
_RUN_MARKERS = (MANIFEST_FILE, CONFIG_FILE, HISTORY_CSV)
_MAX_DEPTH = 6  # deep enough for DIR/sweeps/<sweep>/trials/<id>/<run>


def _candidates(root: Path, depth: int = 0):
    """Folders under `root` that look like runs; not descending into a run or deeper than a sweep."""
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        if any((child / marker).exists() or (child / marker).is_symlink() for marker in _RUN_MARKERS):
            yield child
        elif depth + 1 < _MAX_DEPTH and not child.is_symlink():  # links are not followed down: loops
            yield from _candidates(child, depth + 1)


def list_runs(root: str | Path) -> tuple[list[dict], list[str]]:
    """(rows, notes): name (relative to root), status, epochs, test accuracy, fit seconds, seed, started."""
    root = Path(root)
    rows, notes = [], []
    for folder in _candidates(root):
        run = RunDir(folder)
        name = str(folder.relative_to(root))
        try:
            info = manifests.read(run)
        except RunError as exc:
            notes.append(f"{name}: skipped, {str(exc).removeprefix(f'{folder}: ')}")
            continue
        metrics = run.read_metrics()
        test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
        rows.append({"name": name, "status": info.status, "epochs": info.epochs_completed,
                     "test_accuracy": _number(test.get("accuracy")), "fit_seconds": _number(metrics.get("fit_seconds")),
                     "seed": info.seed, "started": info.started_at if isinstance(info.started_at, str) else None,
                     "path": str(folder)})  # fmt: skip
    return rows, notes


def _number(value) -> float | None:
    """A metric as a plain number, or None: a hand-edited metrics.json must not break sorting or formatting."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


_SORT_FIELD = {"started": "started", "name": "name", "status": "status", "epochs": "epochs",
               "accuracy": "test_accuracy", "fit": "fit_seconds", "seed": "seed"}  # fmt: skip


def sort_rows(rows: list[dict], key: str, reverse: bool = False) -> list[dict]:
    """Rows sorted by one column; runs missing that value go last either way."""
    field = _SORT_FIELD[key]
    present = [r for r in rows if r.get(field) is not None]
    missing = [r for r in rows if r.get(field) is None]
    return sorted(present, key=lambda r: (r[field], r["name"]), reverse=reverse) + missing


def format_table(rows: list[dict]) -> str:
    """Aligned plain-text columns, one line per run."""
    header = ("name", "status", "epochs", "test acc", "fit s", "seed", "started")
    cells = [header]
    for r in rows:
        cells.append((_text(r["name"]), _text(r["status"] or "?"), _text(r["epochs"]),
                      "" if r["test_accuracy"] is None else f"{100 * r['test_accuracy']:.2f}%",
                      "" if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f}",
                      _text(r["seed"]), _text(r["started"])))  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = {2, 3, 4, 5}
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    )


def _text(value) -> str:
    # Values come from files anyone may edit: control characters (newlines, terminal escapes) could
    # forge rows or rewrite the screen, so they are shown escaped.
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
