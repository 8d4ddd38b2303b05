"""Benchmark `mnist-cnn predict`: cold start for one image and throughput on 1,000 photos.

Run:  python scripts/bench_predict.py --model RUN_DIR [--repeats 3] [--output docs/predict-benchmark.md]
Targets (issue): cold predict of one image ≤ time to import TensorFlow + 0.7 s; ≥ 500 images/s
after start-up on a folder of 1,000 PNG photos. Also times `mnist-cnn --help` (target ≤ 0.3 s).
Every figure is a median over repeats of whole commands run in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_samples import render  # noqa: E402  (the same photo renderer as samples/)

from mnist_cnn.data.acquire import load_mnist  # noqa: E402

CLI = [sys.executable, "-m", "mnist_cnn.cli"]


def timed(command: list[str], repeats: int) -> tuple[float, list[float], str]:
    """Median wall time of `command` over fresh processes, all times, and the last stdout."""
    times, out = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed: {result.stderr.strip()[-300:]}")
        out = result.stdout
    return statistics.median(times), times, out


WARM = """
import sys, time
from mnist_cnn.tfquiet import import_tensorflow
import_tensorflow()
from mnist_cnn.inference import modelfiles, predict
model = modelfiles.load(modelfiles.resolve(sys.argv[1]))
predict.run(lambda: model, [sys.argv[2] + "/00000.png"])
started = time.perf_counter()
report = predict.run(lambda: model, [sys.argv[2]], top_k=1)
print(len(report.predictions) / (time.perf_counter() - started))
"""


def warm_throughput(model: str, folder: Path, repeats: int) -> float:
    """Images/s of predict.run on the folder once TensorFlow and the model are loaded (median)."""
    rates = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", WARM, model, str(folder)], capture_output=True, text=True, check=True
        )
        rates.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(rates)


def make_photos(folder: Path, count: int) -> np.ndarray:
    """`count` MNIST test digits as 200×200 dark-on-light PNG photos; returns their labels."""
    mnist = load_mnist(allow_download=False)
    rng = np.random.default_rng(7)
    for i in range(count):
        rgb = render(mnist.x_test[i], (200, 200), rng)
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(folder / f"{i:05d}.png")
    return mnist.y_test[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Run directory or .keras file to predict with.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=Path("docs/predict-benchmark.md"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        labels = make_photos(folder, args.count)
        one = str(folder / "00000.png")
        help_s, _, _ = timed([*CLI, "--help"], args.repeats)
        import_s, _, _ = timed([sys.executable, "-c", "import tensorflow, keras"], args.repeats)
        cold_s, _, _ = timed([*CLI, "predict", one, "--model", args.model], args.repeats)
        many_s, _, out = timed(
            [*CLI, "predict", str(folder), "--model", args.model, "--json", "--top-k", "1"], args.repeats
        )
        warm_rate = warm_throughput(args.model, folder, args.repeats)
    digits = np.array([p["digit"] for p in json.loads(out)["predictions"]])
    throughput = (args.count - 1) / max(many_s - cold_s, 1e-9)
    rows = [
        ("`mnist-cnn --help`", f"{help_s:.2f} s", "≤ 0.3 s"),
        ("`import tensorflow, keras`", f"{import_s:.2f} s", "(baseline)"),
        ("cold `predict` of one photo", f"{cold_s:.2f} s (import + {cold_s - import_s:.2f} s)", "≤ import + 0.7 s"),
        (f"`predict` of {args.count} photos", f"{many_s:.2f} s", ""),
        ("throughput after start-up", f"{throughput:.0f} images/s", "≥ 500 images/s"),
        ("throughput with the model already loaded (in-process)", f"{warm_rate:.0f} images/s", ""),
        (f"accuracy on the {args.count} photos", f"{np.mean(digits == labels):.2%}", ""),
    ]
    text = (
        "# predict benchmark\n\n"
        f"`python scripts/bench_predict.py --model {args.model} --repeats {args.repeats}` on "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} logical cores; medians over {args.repeats} fresh processes. "
        f"Photos: MNIST test digits rendered at 200×200 as dark ink on tinted, noisy paper (PNG). "
        "Throughput = (N − 1) / (time for N photos − time for one).\n\n"
        "| measure | result | target |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows) + "\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
