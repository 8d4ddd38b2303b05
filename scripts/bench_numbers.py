"""Read written numbers: string and per-digit accuracy, speed, and single digits unchanged.

Strings of MNIST test digits are photographed by `mnist_cnn.number_photos` (random gaps, 20% of
neighbouring pairs touching, random size, ink, paper, noise and JPEG) and read as `mnist-cnn
predict` reads them. The headline rows are issue 22's target condition, with no broken strokes:
2–6 digits on plain paper, 4 digits on each other kind. A separate robustness row adds broken
strokes (a quarter of the digits), as `evaluate --robustness` draws them. Then single-digit
photos (paper_photos, every kind) and samples/ are read both ways, number reading and
`--single`, to show one digit gives today's result.
Figures for docs/numbers.md:

    python scripts/bench_numbers.py MODEL [--strings 200] [--singles 100] [--json FILE]

MODEL is a run directory or a model file, as for `mnist-cnn predict --model` (ONNX needs no
TensorFlow). The process is pinned to one CPU (ONNX Runtime's threads included) unless --all-cpus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def singles(runtime, x: np.ndarray, y: np.ndarray, count: int) -> dict:
    """Single-digit photos on every paper kind and samples/: number reading against today's one-digit reading."""
    from PIL import Image

    from mnist_cnn import paper_photos
    from mnist_cnn.inference import predict

    pictures = [predict.Picture(f"{kind}/{i}", paper_photos.photo(x[i], kind, 77 + i))
                for kind in paper_photos.KINDS for i in range(count)]  # fmt: skip
    truth = [str(y[i]) for _ in paper_photos.KINDS for i in range(count)]
    pictures += [predict.Picture(p.name, Image.open(p)) for p in sorted(SAMPLES.iterdir())]
    truth += [str(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"].index(
        p.name.split("-")[0])) for p in sorted(SAMPLES.iterdir())]  # fmt: skip
    both = {}
    for mode, single in (("number", False), ("single", True)):
        started = time.perf_counter()
        report = predict.run(lambda: runtime, pictures, single=single)
        read = {p.path: p for p in report.predictions}
        both[mode] = (read, time.perf_counter() - started)
    numbers, today = both["number"][0], both["single"][0]
    names = [p.name for p in pictures]
    same = sum(n in numbers and n in today and numbers[n].text == today[n].text for n in names)
    identical = sum(n in numbers and n in today and numbers[n].image is not None
                    and np.array_equal(numbers[n].image, today[n].image) for n in names)  # fmt: skip
    split = [f"{n}: {numbers[n].text}" for n in names if n in numbers and len(numbers[n].text) > 1]
    return {
        "photos": len(names),
        "same_answer": same,
        "identical_28x28": identical,
        "read_as_several_digits": split,
        "accuracy_number_mode": _accuracy(numbers, names, truth),
        "accuracy_single_mode": _accuracy(today, names, truth),
        "seconds_number_mode": both["number"][1],
        "seconds_single_mode": both["single"][1],
    }  # fmt: skip


def _accuracy(read: dict, names: list[str], truth: list[str]) -> float:
    """Share of pictures read as their true text (an unreadable one counts as wrong)."""
    return sum(n in read and read[n].text == t for n, t in zip(names, truth, strict=True)) / len(names)


def load_test_set_and_model(model: str, all_cpus: bool):
    """Pin this process to one CPU (unless all_cpus), then MNIST's test set as floats in [0, 1] and the model."""
    if not all_cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from mnist_cnn.data.acquire import load_mnist
    from mnist_cnn.inference.runtimes import load_runtime

    mnist = load_mnist()
    return mnist.x_test.astype(np.float32) / 255.0, mnist.y_test, load_runtime(model)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--strings", type=int, default=200, help="strings per row (default 200)")
    parser.add_argument("--singles", type=int, default=100, help="single-digit photos per paper kind (default 100)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--all-cpus", action="store_true", help="do not pin the process to one CPU")
    args = parser.parse_args()
    x, y, runtime = load_test_set_and_model(args.model, args.all_cpus)
    from mnist_cnn import robustness

    load_before = os.getloadavg()
    started = time.perf_counter()
    from mnist_cnn import number_photos

    plan = [("plain", n, 0.0) for n in robustness.NUMBER_LENGTHS]
    plan += [(k, 4, 0.0) for k in number_photos.KINDS if k != "plain"]
    plan += [("plain", 4, number_photos.BROKEN)]  # robustness, not the target: broken strokes
    written = robustness.numbers(runtime, x, y, per_row=args.strings, plan=plan)
    for row in written["rows"]:
        broken = f", {row['broken_strokes']:.0%} broken strokes" if row["broken_strokes"] else ""
        print(f"{row['paper']:<9} {row['digits']} digits{broken}: string {row['string_accuracy']:.2%}  digit "
              f"{row['digit_accuracy']:.2%}  ({row['strings']} strings, median {row['median_read_ms']:.0f} ms)",
              flush=True)  # fmt: skip
    one = singles(runtime, x, y, args.singles) if args.singles else None
    if one:
        print(f"single digits: {one['same_answer']}/{one['photos']} same answer as --single, "
              f"{one['identical_28x28']} identical 28x28; accuracy {one['accuracy_number_mode']:.2%} "
              f"(number reading) vs {one['accuracy_single_mode']:.2%} (--single)")  # fmt: skip
        for line in one["read_as_several_digits"][:20]:
            print(f"  read as several digits: {line}")
    report = {
        "model": args.model,
        "numbers": written,
        "single_digits": one,
        "seconds": time.perf_counter() - started,
        "cpus": "all" if args.all_cpus else 1,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
