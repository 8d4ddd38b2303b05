"""Tune status and report: the trials table, the best values as a recipe, Optuna's plots, the final comparison.

The headline is the final re-training's test accuracy over K seeds (best vs base); the search's
own objective is a validation number, and no trial's single test accuracy is shown as a result.
"""

from __future__ import annotations

from pathlib import Path

from mnist_cnn import atomic
from mnist_cnn.tune import final
from mnist_cnn.tune import study as studies

REPORT_DIR = "report"


def trial_rows(tune_dir: Path, plan: studies.TunePlan) -> list[dict]:
    """One row per Optuna trial: number, slot, state, params, objective, epochs, fit seconds, run directory."""
    study = studies.open_study(tune_dir, plan)
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs, reported = t.user_attrs, t.intermediate_values
        rows.append({"number": t.number, "slot": attrs.get("slot"), "state": t.state.name.lower(),
                     "retry_of": t.system_attrs.get("failed_trial"), "params": t.params,
                     "objective": t.value if t.state.name == "COMPLETE" else None,
                     "last_reported": reported[max(reported)] if reported else None,
                     "epochs": attrs.get("epochs"), "fit_seconds": attrs.get("fit_seconds"),
                     "note": attrs.get("invalid") or attrs.get("error"), "run_dir": attrs.get("run_dir")})  # fmt: skip
    return rows


def status(tune_dir: Path) -> dict:
    """Progress: trials per state, finished of requested, best so far."""
    plan = studies.read(tune_dir)
    rows = trial_rows(tune_dir, plan)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    done = [r for r in rows if r["objective"] is not None]
    pick = max if plan.direction == "maximize" else min
    best = pick(done, key=lambda r: r["objective"]) if done else None
    return {"tune_dir": str(tune_dir), "objective": plan.objective, "requested": plan.trials,
            "finished": counts.get("complete", 0) + counts.get("pruned", 0), "states": counts,
            "best": best, "trials": rows}  # fmt: skip


def format_status(info: dict) -> str:
    """A table of trials, then counts and the best so far."""
    lines = [f"{'#':>4}  {'state':<9} {'epochs':>6}  {info['objective']:>12}  params"]
    for r in info["trials"]:
        value = r["objective"] if r["objective"] is not None else r["last_reported"]
        shown = "" if value is None else f"{value:.4f}" + ("" if r["objective"] is not None else "*")
        epochs = "" if r["epochs"] is None else str(r["epochs"])
        lines.append(f"{r['number']:>4}  {r['state']:<9} {epochs:>6}  {shown:>12}  {_params(r['params'])}")
    states = ", ".join(f"{n} {s}" for s, n in sorted(info["states"].items()))
    lines.append(f"{info['finished']} of {info['requested']} trials finished ({states or 'none yet'}); "
                 "* = last value reported before the trial stopped")  # fmt: skip
    if info["best"]:
        lines.append(
            f"best so far: trial {info['best']['number']}, {info['objective']} {info['best']['objective']:.4f}"
        )
    return "\n".join(lines)


def _params(params: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def build_report(tune_dir: Path) -> dict:
    """The report as strict-JSON-ready data."""
    plan = studies.read(tune_dir)
    info = status(tune_dir)
    recipe = Path(tune_dir) / final.BEST_RECIPE
    return {**info, "name": plan.name, "source": plan.source, "space": plan.space_source, "sampler": plan.sampler,
            "pruner": plan.pruner, "direction": plan.direction, "seed": plan.seed,
            "storage": "sqlite (tune directory)" if not plan.storage else plan.storage.split("://")[0],
            "best_recipe": str(recipe) if recipe.exists() else None, "final": final.compare(tune_dir)}  # fmt: skip


def format_markdown(report: dict) -> str:
    """The report in Markdown: the honest comparison first, then the search."""
    lines = [f"# Tune {report['tune_dir']}", "",
             f"{report['source']} over {report['space']}: {report['sampler']} sampler, {report['pruner']} pruner, "
             f"objective {report['objective']} ({report['direction']}, validation data), "
             f"seed {report['seed']}.", ""]  # fmt: skip
    fin = report["final"]
    if fin:
        lines += ["## Final re-training (test accuracy over the same seeds)", "",
                  "| config | n | test accuracy mean ± sd | min | max |", "|---|---|---|---|---|"]  # fmt: skip
        for which in ("best", "base"):
            s = fin[which]
            n = f"{s['n']}" + ("" if s["n"] == s["planned"] else f" of {s['planned']}")
            lines.append(f"| {which} | {n} | {_pm(s)} | {_pct(s['min'])} | {_pct(s['max'])} |")
        lines += ["", fin["verdict"], ""]
    else:
        lines += ["Final re-training not run yet (it follows the search; `mnist-cnn tune run DIR` runs it).", ""]
    lines += [f"## Search: {report['finished']} of {report['requested']} trials finished", ""]
    if report["best"]:
        b = report["best"]
        lines += [f"Best trial {b['number']}: {report['objective']} {b['objective']:.4f} with {_params(b['params'])}."]
        if report["best_recipe"]:
            lines += [f"Recipe: `mnist-cnn train --config {report['best_recipe']}`"]
        lines += [""]
    lines += [f"| # | state | epochs | {report['objective']} | fit s | params |", "|---|---|---|---|---|---|"]
    for r in report["trials"]:
        value = "" if r["objective"] is None else f"{r['objective']:.4f}"
        if not value and r["last_reported"] is not None:
            value = f"({r['last_reported']:.4f})"
        fit = "" if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f}"
        lines.append(
            f"| {r['number']} | {r['state']} | {r['epochs'] or ''} | {value} | {fit} | {_params(r['params'])} |"
        )
    lines += ["", "(value) = last value reported before a pruned or failed trial stopped.",
              "Plots: optimization_history.png, param_importances.png."]  # fmt: skip
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _pm(s: dict) -> str:
    if s["mean"] is None:
        return "–"
    return f"{100 * s['mean']:.2f}%" + ("" if s["std"] is None else f" ± {100 * s['std']:.2f}")


def write_plots(tune_dir: Path, folder: Path) -> list[Path]:
    """Optuna's matplotlib optimization history and parameter importances (when there is enough to show)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    plan = studies.read(tune_dir)
    study = studies.open_study(tune_dir, plan)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    written = []
    plots = [("optimization_history.png", ovm.plot_optimization_history, 1)]
    if len(plan.params) > 1:
        plots.append(("param_importances.png", ovm.plot_param_importances, 2))
    for name, plot, needed in plots:
        if len(complete) < needed:
            continue
        ax = plot(study)
        fig = ax.figure
        fig.set_size_inches(7, 4.5)
        fig.tight_layout()
        with atomic.atomic_path(folder / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        written.append(folder / name)
    return written


def write_report(tune_dir: Path, report: dict) -> list[Path]:
    """report.md, report.json and the plots under TUNE_DIR/report/; the paths written."""
    folder = Path(tune_dir) / REPORT_DIR
    folder.mkdir(exist_ok=True)
    paths = [folder / "report.md", folder / "report.json"]
    atomic.write_text(paths[0], format_markdown(report) + "\n")
    atomic.write_json(paths[1], report)
    return paths + write_plots(tune_dir, folder)
