"""Side-by-side benchmark: the keras-io reference recipe against `mnist-cnn train`.

One invocation alternates, repeat after repeat and in a fixed order, three jobs:

- reference: `scripts/reference_keras_io.py`, the keras-io "Simple MNIST convnet" as published;
- chollet:   `mnist-cnn train --config configs/chollet.yaml`;
- fast:      `mnist-cnn train --config configs/chollet-fast.yaml`.

Every job is a fresh process, so TensorFlow state and peak RSS are per job; the child's peak RSS
and CPU time come from `os.wait4`. Our runs go through the project's CLI, so run-directory
bookkeeping (checkpoints, plots, manifest) is paid as a user pays it. The machine this was
written on is shared and noisy, so only ratios measured within one invocation mean anything:
the ratios reported are medians of per-repeat ratios (each repeat's jobs ran back to back).

    python scripts/benchmark.py            # full: 2 repeats of the real recipes (~10+ minutes)
    python scripts/benchmark.py --quick    # 1 repeat, 2 epochs, first 12,000 images (~1 minute)

Results go into docs/benchmarks.md (between generated-block markers, so hand-written notes
around them survive) and, with every raw number and the exact command, docs/benchmarks.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from mnist_cnn import config
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs import rundir
from mnist_cnn.runs.environment import cpu_model_and_flags, git_commit
from mnist_cnn.runs.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SCRIPT = ROOT / "scripts" / "reference_keras_io.py"
RECIPES = {"chollet": ROOT / "configs" / "chollet.yaml", "fast": ROOT / "configs" / "chollet-fast.yaml"}
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"
QUICK = {"repeats": 1, "epochs": 2, "train_subset": 12000}
SHORT = {"repeats": 3, "epochs": 3, "train_subset": None}
SHORT_OUTPUT = ROOT / "docs" / "benchmark-short.md"
# Flags that decide which kernels oneDNN can use; absence matters as much as presence.
CPU_FLAGS = ("fma", "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16")
# Targets of the performance issue, checked on the medians of a full run.
TARGET_CHOLLET_RATIO, TARGET_ACCURACY_POINTS = 1.0, 0.1
TARGET_FAST_RATIO, TARGET_FAST_ACCURACY = 0.25, 0.992


@dataclass(frozen=True)
class Job:
    """One measured command: which recipe, and the argv that runs it."""

    recipe: str
    argv: list[str]


@dataclass
class Measurement:
    """What one job reported, plus what the parent measured around it."""

    recipe: str
    repeat: int
    command: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    fit_seconds: float
    epochs: int
    epoch_seconds: list[float]
    train_images: int
    val_accuracy: float | None
    test_accuracy: float
    test_loss: float
    export_seconds: float = 0.0  # end-of-training export: reported on its own, not in wall_seconds
    settings: dict = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return self.fit_seconds / self.epochs

    @property
    def samples_per_second(self) -> float:
        return self.train_images * self.epochs / self.fit_seconds


# ---------------------------------------------------------------------------- jobs


def mnist_cnn_command() -> list[str]:
    """The installed `mnist-cnn` console script of this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("mnist-cnn")
    if script.exists():
        return [str(script)]
    found = shutil.which("mnist-cnn")
    return [found] if found else [sys.executable, "-m", "mnist_cnn.cli"]


def build_jobs(epochs: int | None, train_subset: int | None, runs_dir: Path, recipes: dict = RECIPES) -> list[Job]:
    """The three jobs of one repeat, in the fixed order reference, chollet, fast."""
    reference = [sys.executable, str(REFERENCE_SCRIPT)]
    overrides: list[str] = []
    if epochs is not None:
        reference += ["--epochs", str(epochs)]
        overrides += ["--set", f"train.epochs={epochs}"]
    if train_subset is not None:
        # The reference takes the first N images; `first` makes our subset the same images.
        reference += ["--train-subset", str(train_subset)]
        overrides += ["--set", f"data.subset.train={train_subset}", "--set", "data.subset.method=first"]
    jobs = [Job("reference", reference)]
    for recipe, recipe_file in recipes.items():
        argv = mnist_cnn_command() + ["train", "--config", str(recipe_file.relative_to(ROOT))]
        jobs.append(Job(recipe, argv + overrides + ["--runs-dir", str(runs_dir), "--json"]))
    return jobs


def run_child(argv: list[str], log_stem: Path) -> tuple[str, float, resource.struct_rusage, int]:
    """Run argv from the repository root; return stdout, wall seconds, its rusage, exit code.

    os.wait4 reaps the child and hands back its own rusage, so peak RSS is that job's alone
    (RUSAGE_CHILDREN would give the maximum over every child so far).
    """
    out_path, err_path = log_stem.with_suffix(".out"), log_stem.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()  # our own child only; then let the interrupt propagate
            proc.wait()
            raise
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait on it again
    return out_path.read_text(encoding="utf-8"), wall, usage, proc.returncode


def last_json_line(stdout: str) -> dict:
    """The reference prints Keras' progress first and its JSON result last."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result line in the output")


def reference_fields(stdout: str) -> dict:
    """Measurement fields from the reference script's JSON line."""
    result = last_json_line(stdout)
    return {
        "fit_seconds": result["fit_seconds"],
        "epochs": result["epochs"],
        "epoch_seconds": result["epoch_seconds"],
        "train_images": result["train_images"],
        "val_accuracy": result["val_accuracy"],
        "test_accuracy": result["test_accuracy"],
        "test_loss": result["test_loss"],
        "settings": {
            "precision": result["precision"],
            "batch_size": result["batch_size"],
            "fit_call_seconds": result["fit_call_seconds"],
        },
    }


def ours_fields(stdout: str) -> dict:
    """Measurement fields from `mnist-cnn train --json` and the run directory it wrote (read with the package)."""
    outcome = json.loads(stdout)
    run, metrics = RunDir(Path(outcome["run_dir"])), outcome["metrics"]
    manifest = manifests.read(run)
    history = rundir.read_history(run)
    return {
        "fit_seconds": metrics["fit_seconds"],
        "epochs": metrics["epochs"],
        "epoch_seconds": metrics["epoch_seconds"],
        "train_images": manifest.data["train"],
        "val_accuracy": history[-1].get("val_accuracy"),
        "test_accuracy": metrics["test"]["accuracy"],
        "test_loss": metrics["test"]["loss"],
        "export_seconds": outcome.get("export_seconds", 0.0),
        "settings": {
            "precision": manifest.reproducibility["precision"],
            "batch_size": config.load(run.config).train.batch_size,
            "status": outcome["status"],
            "run_dir": str(run.root),
        },
    }


def measure(job: Job, repeat: int, logs: Path) -> Measurement:
    """Run one job in a fresh process and collect its numbers; raise with its log on failure."""
    stem = logs / f"r{repeat}-{job.recipe}"
    stdout, wall, usage, code = run_child(job.argv, stem)
    if code != 0:
        tail = stem.with_suffix(".err").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{job.recipe} exited with {code}:\n{tail}")
    try:
        fields = reference_fields(stdout) if job.recipe == "reference" else ours_fields(stdout)
    except (ValueError, KeyError, OSError) as exc:
        raise RuntimeError(f"{job.recipe}: cannot read its results ({exc!r}); see {stem}.out") from exc
    return Measurement(
        recipe=job.recipe,
        repeat=repeat,
        command=shlex.join(job.argv),
        wall_seconds=round(wall - fields.get("export_seconds", 0.0), 3),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),  # Linux: ru_maxrss is in KiB
        **fields,
    )


# ---------------------------------------------------------------------------- summary

METRICS = (
    "fit_seconds",
    "seconds_per_epoch",
    "samples_per_second",
    "peak_rss_mib",
    "cpu_seconds",
    "wall_seconds",
    "export_seconds",
    "val_accuracy",
    "test_accuracy",
)
RATIOS = ("fit_seconds", "seconds_per_epoch", "samples_per_second", "peak_rss_mib", "wall_seconds")


def value(m: Measurement, name: str) -> float | None:
    """A field or derived property of a measurement, by name."""
    return getattr(m, name)


def medians(results: list[Measurement], recipe: str) -> dict:
    """Per-metric median over the repeats of one recipe."""
    runs = [m for m in results if m.recipe == recipe]
    out: dict = {"repeats": len(runs), "epochs": statistics.median(m.epochs for m in runs)}
    for name in METRICS:
        values = [value(m, name) for m in runs if value(m, name) is not None]
        out[name] = statistics.median(values) if values else None
    out["settings"] = runs[0].settings if runs else {}
    return out


def paired_ratios(results: list[Measurement], recipe: str) -> dict:
    """Median over repeats of recipe/reference, each ratio taken within one repeat.

    Pairing within a repeat cancels slow drift in machine load better than a ratio of medians.
    Accuracy differences are in percentage points.
    """
    ref = {m.repeat: m for m in results if m.recipe == "reference"}
    pairs = [(m, ref[m.repeat]) for m in results if m.recipe == recipe and m.repeat in ref]
    out = {name: statistics.median(value(a, name) / value(b, name) for a, b in pairs) for name in RATIOS}
    for name in ("val_accuracy", "test_accuracy"):
        diffs = [100 * (value(a, name) - value(b, name)) for a, b in pairs if value(a, name) is not None]
        out[f"{name}_points"] = statistics.median(diffs) if diffs else None
    return out


def target_checks(summary: dict, ratios: dict, quick: bool, short: bool = False) -> list[str]:
    """The issue's targets, judged on this run (not meaningful in quick mode)."""
    if short:
        chollet = ratios["chollet"]
        ok = chollet["wall_seconds"] <= 1.0
        return [
            f"Short run ({summary['chollet']['epochs']:.0f} epochs), whole process (end-of-training export "
            f"excluded: median {summary['chollet']['export_seconds']:.1f} s) no longer than the reference's: "
            f"{'met' if ok else 'NOT met'} (ratio {chollet['wall_seconds']:.2f} <= 1.0)"
        ]
    if quick:
        return ["Quick mode (fewer epochs, a subset): targets are judged on full runs only."]
    chollet, fast = ratios["chollet"], ratios["fast"]
    ok1 = chollet["fit_seconds"] <= TARGET_CHOLLET_RATIO and (
        abs(chollet["test_accuracy_points"]) <= TARGET_ACCURACY_POINTS
    )
    ok2 = fast["fit_seconds"] <= TARGET_FAST_RATIO and (summary["fast"]["test_accuracy"] >= TARGET_FAST_ACCURACY)
    return [
        f"Target 1, chollet no slower with the same accuracy: {'met' if ok1 else 'NOT met'} "
        f"(fit ratio {chollet['fit_seconds']:.2f} <= {TARGET_CHOLLET_RATIO}, test accuracy "
        f"{chollet['test_accuracy_points']:+.2f} points, within +-{TARGET_ACCURACY_POINTS})",
        f"Target 2, fast >= {100 * TARGET_FAST_ACCURACY:.1f}% in <= 1/4 of the reference's fit "
        f"time: {'met' if ok2 else 'NOT met'} (fit ratio {fast['fit_seconds']:.2f}, test "
        f"accuracy {100 * summary['fast']['test_accuracy']:.2f}%)",
    ]


# ---------------------------------------------------------------------------- machine


def cpu_facts() -> dict:
    """CPU model, cores, and which of the relevant instruction-set flags it has."""
    model, flags = cpu_model_and_flags()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "flags_present": [f for f in CPU_FLAGS if f in flags],
        "flags_absent": [f for f in CPU_FLAGS if f not in flags],
    }


def versions() -> dict:
    """Versions from package metadata, without importing TensorFlow into the parent."""
    out = {"python": platform.python_version()}
    for package in ("tensorflow", "keras", "numpy", "mnist-cnn"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def machine_facts() -> dict:
    return {
        "cpu": cpu_facts(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "versions": versions(),
        "git": git_commit(),
    }


# ---------------------------------------------------------------------------- report


def fmt(number: float | None, digits: int = 1, percent: bool = False) -> str:
    if number is None:
        return "-"
    return f"{100 * number:.2f}%" if percent else f"{number:,.{digits}f}"


def results_table(summary: dict) -> list[str]:
    lines = [
        "| recipe | precision, batch | epochs | fit s | s/epoch | train samples/s | peak RSS MiB "
        "| CPU s | command wall s | val acc | test acc |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for recipe, s in summary.items():
        settings = f"{s['settings'].get('precision')}, {s['settings'].get('batch_size')}"
        lines.append(
            f"| {recipe} | {settings} | {s['epochs']:g} | {fmt(s['fit_seconds'])} "
            f"| {fmt(s['seconds_per_epoch'], 2)} | {fmt(s['samples_per_second'], 0)} "
            f"| {fmt(s['peak_rss_mib'], 0)} | {fmt(s['cpu_seconds'])} | {fmt(s['wall_seconds'])} "
            f"| {fmt(s['val_accuracy'], percent=True)} | {fmt(s['test_accuracy'], percent=True)} |"
        )
    return lines


def ratio_table(ratios: dict) -> list[str]:
    lines = [
        "| ours / reference | fit time | s/epoch | samples/s | peak RSS | command wall "
        "| val acc (points) | test acc (points) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for recipe, r in ratios.items():
        cells = [f"{r[name]:.2f}" for name in RATIOS]
        cells += [fmt(r["val_accuracy_points"], 2), fmt(r["test_accuracy_points"], 2)]
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    return lines


def runs_table(results: list[Measurement]) -> list[str]:
    lines = [
        "| repeat | recipe | epochs | fit s | per-epoch s | peak RSS MiB | wall s | test acc |",
        "|--:|---|--:|--:|---|--:|--:|--:|",
    ]
    for m in results:
        per_epoch = ", ".join(f"{s:.1f}" for s in m.epoch_seconds)
        lines.append(
            f"| {m.repeat} | {m.recipe} | {m.epochs} | {m.fit_seconds:.1f} | {per_epoch} "
            f"| {m.peak_rss_mib:.0f} | {m.wall_seconds:.1f} | {100 * m.test_accuracy:.2f}% |"
        )
    return lines


def machine_lines(facts: dict, load: dict) -> list[str]:
    cpu, v = facts["cpu"], facts["versions"]
    return [
        f"- CPU: {cpu['model']}, {cpu['logical_cores']} logical cores ({cpu['usable_cores']} usable), "
        f"{facts['memory_gib']} GiB RAM",
        f"- CPU flags present: {', '.join(cpu['flags_present']) or 'none'}; "
        f"absent: {', '.join(cpu['flags_absent']) or 'none'}",
        f"- Software: Python {v['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"NumPy {v['numpy']}, mnist-cnn {v['mnist-cnn']} (git {facts['git']})",
        f"- Platform: {facts['platform']}",
        f"- Load average (1 min) before / after: {load['before']:.2f} / {load['after']:.2f}",
    ]


def render(report: dict) -> str:
    """The generated Markdown block (between the markers)."""
    quick = report["quick"]
    title = "Quick run (smoke check, not the recipes' real cost)" if quick else "Full run"
    if report.get("short"):
        title = "Short run (fixed overhead: whole-process time of a few epochs)"
    lines = [
        BEGIN,
        f"### {title}: {report['finished_at']}",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Mode: {report['repeats']} repeat(s); epochs "
        f"{report['epochs'] or 'as configured'}; training images "
        f"{'first ' + str(report['train_subset']) if report['train_subset'] else 'all'} "
        "(10% of them held out for validation); full test set.",
        "",
        *machine_lines(report["machine"], report["load_average"]),
        "",
        "Medians over repeats:",
        "",
        *results_table(report["summary"]),
        "",
        "Ratios to the reference (median of per-repeat ratios; accuracy as differences):",
        "",
        *ratio_table(report["ratios"]),
        "",
        *[f"- {line}" for line in report["targets"]],
        "",
        "Every job:",
        "",
        *runs_table([Measurement(**m) for m in report["results"]]),
        "",
        f"Raw numbers and exact per-job commands: `{report['json_name']}`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, block: str) -> None:
    """Replace the generated block in `path`, keeping hand-written text around it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block.rstrip("\n") + tail
    else:
        text = (text or "# Benchmarks\n\n") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs, 12,000 images")
    parser.add_argument(
        "--short", action="store_true", help="fixed overhead: 3 repeats of 3-epoch runs, whole-process time"
    )
    parser.add_argument("--repeats", type=int, help="repeats of the three jobs (default 2; quick 1)")
    parser.add_argument("--epochs", type=int, help="override every recipe's epochs (quick: 2)")
    parser.add_argument("--train-subset", type=int, help="first N training images (quick: 12000)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown file")
    parser.add_argument("--keep", action="store_true", help="keep run directories and logs")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else SHORT if args.short else {"repeats": 2, "epochs": None, "train_subset": None}
    if args.short and args.output == DEFAULT_OUTPUT:
        args.output = SHORT_OUTPUT
    for key, default in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    return args


def selected_recipes(args: argparse.Namespace) -> dict:
    """The recipes measured: the short (fixed-overhead) mode compares only chollet with the reference."""
    return {"chollet": RECIPES["chollet"]} if args.short else RECIPES


def run_all(args: argparse.Namespace, work: Path) -> list[Measurement]:
    """Alternate the jobs, repeat after repeat, printing one line per finished job."""
    jobs = build_jobs(args.epochs, args.train_subset, work / "runs", selected_recipes(args))
    results = []
    for repeat in range(1, args.repeats + 1):
        for job in jobs:
            m = measure(job, repeat, work)
            results.append(m)
            print(
                f"[repeat {repeat}] {m.recipe:9s} fit {m.fit_seconds:6.1f} s, {m.epochs} epochs, "
                f"test {100 * m.test_accuracy:.2f}%, peak RSS {m.peak_rss_mib:.0f} MiB, "
                f"wall {m.wall_seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    script = Path(__file__).resolve().relative_to(ROOT)
    command = shlex.join(["python", str(script), *(sys.argv[1:] if argv is None else argv)])
    work = Path(tempfile.mkdtemp(prefix="mnist-cnn-bench-"))
    load_before = os.getloadavg()[0]
    try:
        results = run_all(args, work)
    except RuntimeError as exc:
        print(f"benchmark failed: {exc}\n(logs kept in {work})", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    summary = {r: medians(results, r) for r in ("reference", *selected_recipes(args))}
    ratios = {r: paired_ratios(results, r) for r in selected_recipes(args)}
    json_path = args.output.with_suffix(".json")
    report = {
        "command": command,
        "finished_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": args.quick,
        "short": args.short,
        "repeats": args.repeats,
        "epochs": args.epochs,
        "train_subset": args.train_subset,
        "machine": machine_facts(),
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
        "summary": summary,
        "ratios": ratios,
        "targets": target_checks(summary, ratios, args.quick, args.short),
        "results": [vars(m) for m in results],
        "json_name": json_path.name,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    block = render(report)
    write_markdown(args.output, block)
    print(block, end="")
    if args.keep:
        print(f"runs and logs kept in {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
