"""Finding runs under a runs folder: the latest finished one (for predict/serve defaults)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.rundir import RunDir, RunError


def latest_run(
    runs_dir: str | Path, statuses: tuple[str, ...] = manifests.FINISHED, note: Callable[[str], None] | None = None
) -> RunDir | None:
    """The most recently finished run under `runs_dir`, by absolute finish time (time zones respected).

    Run folders whose manifest is unreadable or malformed are skipped, each with one `note`.
    """
    best = None
    for path in sorted(Path(runs_dir).glob("*/manifest.json")):
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
