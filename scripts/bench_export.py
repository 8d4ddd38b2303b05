"""Benchmark prediction through exported models against the Keras path, side by side in one run.

Run:  python scripts/bench_export.py --run RUN_DIR [--repeats 3] [--output docs/export-benchmark.md]
RUN_DIR needs its ONNX export (training makes it) and, for the LiteRT rows, `mnist-cnn export RUN_DIR
--format litert` (and `--quantize int8`). Targets (issue 9): cold `predict photo.png` on a run with an
ONNX export ≤ 0.5 s and ≤ 200 MB peak RSS; throughput on 1,000 photos ≥ 582 photos/s (the Keras
path's figure). Every figure is a median over fresh processes, the ONNX and Keras commands alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_predict import make_photos  # noqa: E402  (the same 200x200 photos as the predict benchmark)

from mnist_cnn.export import ARTIFACTS  # noqa: E402
from mnist_cnn.runs.rundir import RunDir  # noqa: E402

CLI = [sys.executable, "-m", "mnist_cnn.cli"]

MODEL_ONLY = """
import sys, time, statistics
import numpy as np
from mnist_cnn.data.acquire import load_mnist
from mnist_cnn.inference.runtimes import load_runtime
from mnist_cnn.inference import modelfiles
from pathlib import Path
from mnist_cnn.runs.rundir import RunDir
target = sys.argv[1]
source = modelfiles.from_run(RunDir(Path(target)), "last") if sys.argv[2] == "keras" else target
runtime = load_runtime(source)
images = (load_mnist(allow_download=False).x_test.astype(np.float32) / 255)[..., None]
runtime.probabilities(images[:512])
rates = []
for _ in range(3):
    started = time.perf_counter()
    runtime.probabilities(images)
    rates.append(len(images) / (time.perf_counter() - started))
print(statistics.median(rates))
"""


def measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed: {child.stderr.read().decode()[-300:]}")
    return wall, usage.ru_maxrss / 1024


def medians(commands: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall time and peak RSS per command, the commands alternating in each round."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            samples[name].append(measured(command))
    return {n: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v)) for n, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="Run directory with an ONNX export.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=Path("docs/export-benchmark.md"))
    args = parser.parse_args()
    run = Path(args.run)
    runtimes = {"keras": str(run), "onnx": str(RunDir(run).exports / ARTIFACTS["onnx"][0])}
    for name, key in (("litert", "litert"), ("litert int8", "litert_int8")):
        if (RunDir(run).exports / ARTIFACTS[key][0]).is_file():
            runtimes[name] = str(RunDir(run).exports / ARTIFACTS[key][0])
    model_only = {}
    for name, target in runtimes.items():
        rates = [
            float(subprocess.run([sys.executable, "-c", MODEL_ONLY, target, name], capture_output=True, text=True,
                                 check=True).stdout.split()[-1])
            for _ in range(args.repeats)
        ]  # fmt: skip
        model_only[name] = statistics.median(rates)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        make_photos(folder, args.count)
        one = str(folder / "00000.png")
        paths = {"onnx": ["--model", str(run)], "keras": ["--model", str(run), "--checkpoint", "last"]}
        cold = medians({k: [*CLI, "predict", one, *v] for k, v in paths.items()}, args.repeats)
        many = medians({k: [*CLI, "predict", str(folder), "--top-k", "1", *v] for k, v in paths.items()}, args.repeats)
    rate = {k: (args.count - 1) / max(many[k][0] - cold[k][0], 1e-9) for k in paths}
    rows = [
        ("cold `predict photo.png`, wall time", cold["onnx"][0], cold["keras"][0], "s", "≤ 0.5 s"),
        ("cold `predict photo.png`, peak RSS", cold["onnx"][1], cold["keras"][1], "MB", "≤ 200 MB"),
        (f"`predict` of {args.count} photos, wall time", many["onnx"][0], many["keras"][0], "s", ""),
        ("throughput after start-up (photos/s)", rate["onnx"], rate["keras"], "", "≥ 582/s"),
    ]
    lines = [f"| {a} | {o:.2f} {u} | {k:.2f} {u} | {o / k:.2f} | {t} |" for a, o, k, u, t in rows]
    text = (
        "# Export benchmark\n\n"
        f"`python scripts/bench_export.py --run RUN --repeats {args.repeats}` on {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} logical cores shared with other jobs; medians over {args.repeats} fresh processes, the "
        "ONNX and Keras commands alternating. RUN: a full `configs/chollet.yaml` run. Photos: MNIST test digits "
        "rendered at 200×200 (as in predict-benchmark.md). Throughput = (N − 1) / (time for N − time for one).\n\n"
        "| measure | ONNX export | Keras checkpoint | ratio | target |\n|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n\nModel only (probabilities for the 10,000 MNIST test images in batches of 512, model loaded, median "
        "of 3 passes, median over fresh processes):\n\n| runtime | images/s |\n|---|---|\n"
        + "\n".join(f"| {name} | {value:,.0f} |" for name, value in model_only.items())
        + "\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
