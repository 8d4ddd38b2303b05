"""Sweep status and report: per grid point n, mean ± std, min, max of test accuracy and fit time.

The standard deviation is the sample one (n - 1 in the denominator: the seeds are a sample of
all seeds); with one trial it is null, never 0. Only finished trials (completed or stopped
early) count; every other trial is listed with its state.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from mnist_cnn import atomic
from mnist_cnn.config import ConfigError
from mnist_cnn.sweep.plan import Plan
from mnist_cnn.sweep.trial import is_finished, state_of

REPORT_DIR = "report"


def status_rows(sweep_dir: Path, plan: Plan) -> list[dict]:
    """One row per trial: id, point, seed, state, epochs done of planned, run directory."""
    rows = []
    for t in plan.trials:
        s = state_of(sweep_dir, t)
        rows.append({"index": t.index, "trial": t.id, "point": t.point, "seed": t.seed, "state": s.state,
                     "epochs_completed": s.manifest.epochs_completed if s.manifest else None,
                     "run_dir": str(s.run.root) if s.run else None})  # fmt: skip
    return rows


def format_status(rows: list[dict]) -> str:
    """A table of trials and a one-line count per state."""
    counts: dict[str, int] = {}
    lines = [f"{'#':>4}  {'state':<14} {'epochs':>6}  trial"]
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
        epochs = "" if r["epochs_completed"] is None else str(r["epochs_completed"])
        lines.append(f"{r['index']:>4}  {r['state']:<14} {epochs:>6}  {r['trial']}")
    lines.append(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) + f" (of {len(rows)})")
    return "\n".join(lines)


def _stats(values: list[float]) -> dict:
    """n, mean, sample std (null below 2), min, max; all null when there are no values."""
    if not values:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values), "max": max(values)}  # fmt: skip


def _number(metrics: dict | None, *keys: str) -> float | int | None:
    """metrics[k1][k2]... if it is a finite number, else None: metrics.json is a file anyone may edit."""
    value = metrics
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def build_report(sweep_dir: Path, plan: Plan) -> dict:
    """The report as strict-JSON-ready data: per-point statistics, every trial, unfinished ones listed."""
    trials, unfinished = [], []
    for t in plan.trials:
        s = state_of(sweep_dir, t)
        m = (s.run.read_metrics() or None) if is_finished(s) and s.run else None
        row = {"trial": t.id, "point": t.point, "seed": t.seed, "state": s.state,
               "test_accuracy": _number(m, "test", "accuracy"),
               "fit_seconds": _number(m, "fit_seconds"), "epochs": _number(m, "epochs"),
               "run_dir": str(s.run.root) if s.run else None}  # fmt: skip
        trials.append(row)
        if row["test_accuracy"] is None:
            reason = s.manifest.error if s.manifest and s.state in ("failed", "diverged") else None
            unfinished.append({**row, "reason": reason})
    points = []
    for point in plan.points:
        done = [r for r in trials if r["point"] == point and r["test_accuracy"] is not None]
        points.append({"point": point, "planned": sum(r["point"] == point for r in trials),
                       "test_accuracy": _stats([r["test_accuracy"] for r in done]),
                       "fit_seconds": _stats([r["fit_seconds"] for r in done])})  # fmt: skip
    return {"sweep_dir": str(sweep_dir), "name": plan.name, "source": plan.source, "set": common_overrides(plan),
            "grid": plan.grid, "seeds": list(plan.seeds), "points": points, "trials": trials,
            "unfinished": unfinished}  # fmt: skip


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _pm(stats: dict, fmt) -> str:
    """'mean ± std'; a std that cannot be computed (one trial) shows as '–', never as nothing or 0."""
    if stats["mean"] is None:
        return "–"
    return f"{fmt(stats['mean'])} ± {'–' if stats['std'] is None else fmt(stats['std'])}"


def common_overrides(plan: Plan) -> list[str]:
    """The sweep's `--set` overrides: what every trial's overrides start with, before its grid values and seed."""
    if not plan.trials:
        return []
    trial = plan.trials[0]
    return list(trial.overrides[: len(trial.overrides) - len(plan.grid) - 1])


def format_markdown(report: dict) -> str:
    """The report as a Markdown table plus a list of unfinished trials."""
    sets = "".join(f" --set {s}" for s in report.get("set", []))
    seeds = ", ".join(map(str, report["seeds"]))
    lines = [f"Sweep {report['sweep_dir']} ({report['source']}{sets}, seeds {seeds})", "",
             "| grid point | n | test accuracy mean ± std | min | max | fit time mean ± std |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for p in report["points"]:
        acc, fit = p["test_accuracy"], p["fit_seconds"]
        n = f"{acc['n']}" + ("" if acc["n"] == p["planned"] else f" of {p['planned']}")
        lines.append(f"| {p['point']} | {n} | {_pm(acc, lambda v: f'{100 * v:.2f}%')} | {_pct(acc['min'])} | "
                     f"{_pct(acc['max'])} | {_pm(fit, lambda v: f'{v:.1f} s')} |")  # fmt: skip
    if report["unfinished"]:
        lines += ["", f"Not counted ({len(report['unfinished'])} unfinished):"]
        for u in report["unfinished"]:
            lines.append(f"- {u['trial']}: {u['state']}" + (f" ({u['reason']})" if u.get("reason") else ""))
    return "\n".join(lines)


def plot_accuracy(report: dict, path: Path) -> None:
    """Each finished trial's test accuracy as a dot per grid point, with the mean as a bar: spread at a glance."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [p["point"] for p in report["points"]]
    fig = Figure(figsize=(max(4.0, 1.4 * len(points) + 2), 4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for x, p in enumerate(report["points"]):
        mine = [r["test_accuracy"] for r in report["trials"] if r["point"] == p["point"]]
        accs = [100 * a for a in mine if a is not None]
        # A small deterministic horizontal spread so equal accuracies stay visible as separate dots.
        offsets = [(i - (len(accs) - 1) / 2) * 0.06 for i in range(len(accs))]
        ax.scatter([x + o for o in offsets], accs, s=28, alpha=0.8, color="tab:blue")
        if accs:
            mean = sum(accs) / len(accs)
            ax.hlines(mean, x - 0.25, x + 0.25, color="black", linewidth=1.5)
    ax.set_xticks(range(len(points)), points, rotation=20 if len(points) > 3 else 0, fontsize=8)
    ax.set_xlim(-0.6, len(points) - 0.4)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{report['name']}: each trial (dots) and mean (bar)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def write_report(sweep_dir: Path, report: dict) -> list[Path]:
    """report.md, report.json and accuracy.png under SWEEP_DIR/report/; the paths written."""
    folder = Path(sweep_dir) / REPORT_DIR
    if folder.is_symlink():  # written into by the tool, so never a link it did not make
        raise ConfigError(f"{folder}: is a symbolic link, which a sweep never makes; replace it with a folder")
    folder.mkdir(exist_ok=True)
    paths = [folder / "report.md", folder / "report.json", folder / "accuracy.png"]
    atomic.write_text(paths[0], format_markdown(report) + "\n")
    atomic.write_json(paths[1], report)
    plot_accuracy(report, paths[2])
    return paths
