"""The `Sweep` object of the Python API: plan, run, status, report and the trials' runs of one sweep folder."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mnist_cnn import display
from mnist_cnn.errors import UsageError
from mnist_cnn.sweep import plan as plans


def grid_options(grid: Mapping[str, Iterable[Any]] | None) -> dict[str, list[str]]:
    """{"train.batch_size": [64, 128]} as the CLI's --grid options, parsed and checked the same way."""
    import json

    items = []
    for key, values in (grid or {}).items():
        values = [values] if isinstance(values, (str, int, float)) else list(values)
        # Strings as they are (so a grid point reads optimizer=adam, not "adam"); the rest as JSON (= YAML).
        items.append(f"{key}=" + ",".join(v if isinstance(v, str) else json.dumps(v) for v in values))
    return plans.parse_grid(items)


class SweepReport(dict):
    """`sweep report`'s data (what `--json` prints), shown as its Markdown table and accuracy plot."""

    def __init__(self, report: dict, written: list[Path]):
        super().__init__(report)
        self.written = written

    @property
    def markdown(self) -> str:
        """The table `mnist-cnn sweep report` prints."""
        from mnist_cnn.sweep.report import format_markdown

        return format_markdown(self)

    def __repr__(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        header = ["grid point", "n", "test accuracy mean", "± std", "min", "max", "fit s mean"]
        rows = []
        for p in self["points"]:
            acc, fit = p["test_accuracy"], p["fit_seconds"]
            shown = [display.percent(acc[k]) or "–" for k in ("mean", "std", "min", "max")]
            fit_mean = "–" if fit["mean"] is None else f"{fit['mean']:.1f}"
            rows.append([p["point"], f"{acc['n']} of {p['planned']}", *shown, fit_mean])
        unfinished = "".join(f"<div>not counted: {display.escape(u['trial'])} ({display.escape(u['state'])})</div>"
                             for u in self["unfinished"])  # fmt: skip
        plot = next((display.file_img_tag(p, 420) for p in self.written if p.suffix == ".png"), "")
        return display.card(f"Sweep {self['name']}", [("folder", self["sweep_dir"])],
                            display.table(header, rows) + unfinished + plot)  # fmt: skip


class Sweep:
    """One sweep folder (`mnist_cnn.sweep(...)` or `mnist_cnn.open_sweep(dir)`)."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir)
        self.plan_data = plans.read(self.dir)
        self.tally = None  # what the latest run() in this process did

    @classmethod
    def plan(cls, config, seeds, grid, sets: list[str], sweep_dir, run: bool, workers: int, executor: str,
             verbose: bool) -> Sweep:  # fmt: skip
        """Validate every trial, write the plan (or find the same plan already there) and optionally run it."""
        if not isinstance(config, (str, Path)):
            raise UsageError("sweep: config must be a YAML file path (the plan records it)")
        seeds_text = str(seeds) if isinstance(seeds, int) else ",".join(str(int(s)) for s in seeds)
        the_plan, base_yaml = plans.expand(str(config), sets, grid_options(grid), seeds_text)
        folder = Path(sweep_dir) if sweep_dir else plans.default_dir(the_plan, base_yaml)
        plans.write(folder, the_plan, base_yaml)
        study = cls(folder)
        if run:
            study.run(workers=workers, executor=executor, verbose=verbose)
        return study

    @property
    def trials(self) -> int:
        """How many trials the plan has."""
        return len(self.plan_data.trials)

    def run(self, workers: int = 1, executor: str = "local", cpus_per_trial: int = 1, address: str | None = None,
            verbose: bool = True):  # fmt: skip
        """Run every unfinished trial (finished ones are skipped, interrupted ones resumed); the tally."""
        from mnist_cnn.sweep import execute

        log = print if verbose else (lambda _m: None)
        if workers < 1:
            raise UsageError("workers: expected at least 1")
        if executor == "ray":
            from mnist_cnn.sweep.ray_executor import run_ray

            self.tally = run_ray(self.dir, self.plan_data, address, cpus_per_trial, log)
        elif executor == "local":
            self.tally = execute.run_local(self.dir, self.plan_data, workers, log)
        else:
            raise UsageError(f"executor: expected 'local' or 'ray', got {executor!r}")
        if self.tally.failed:
            warnings.warn(f"{len(self.tally.failed)} trial(s) failed: {', '.join(self.tally.failed)}", stacklevel=2)
        return self.tally

    def status(self) -> list[dict]:
        """Each trial's state (pending, running, completed, interrupted, failed…) and epochs done."""
        from mnist_cnn.sweep.report import status_rows

        return status_rows(self.dir, self.plan_data)

    def report(self, write: bool = True) -> SweepReport:
        """Per grid point n, test accuracy and fit time mean ± std, min, max (report.md/json and accuracy.png too)."""
        from mnist_cnn.sweep.report import build_report, write_report

        report = build_report(self.dir, self.plan_data)
        return SweepReport(report, write_report(self.dir, report) if write else [])

    def runs(self) -> list:
        """The Run of every trial started so far, in plan order."""
        from mnist_cnn.runs.run import Run

        return [Run(row["run_dir"]) for row in self.status() if row["run_dir"]]

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self.status():
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"Sweep('{self.dir}', {self.trials} trials: {states})"

    def _repr_html_(self) -> str:
        rows = [[r["index"], r["trial"], r["state"], "" if r["epochs_completed"] is None else r["epochs_completed"]]
                for r in self.status()]  # fmt: skip
        return display.card(f"Sweep {self.plan_data.name}", [("folder", str(self.dir)), ("trials", self.trials)],
                            display.table(["#", "trial", "state", "epochs"], rows))  # fmt: skip
