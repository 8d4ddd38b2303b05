"""How long `import mnist_cnn` takes, next to `mnist-cnn --help`: medians over fresh interpreters.

    python scripts/bench_import.py [--repeats 15]

Each figure is the wall time of a fresh `python -c ...` minus that of a bare `python -c pass` (the
interpreter's own start-up), so it is what the import (or the help) adds. The last line says
whether the import loaded TensorFlow (it must not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import mnist_cnn": [sys.executable, "-c", "import mnist_cnn"],
    "import mnist_cnn; mnist_cnn.open_run": [sys.executable, "-c", "import mnist_cnn; mnist_cnn.open_run"],
    "mnist-cnn --help": [sys.executable, "-m", "mnist_cnn.cli", "--help"],
}


def _seconds(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p))
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):  # interleaved, so a busy moment on the machine hits every command alike
        for name, cmd in COMMANDS.items():
            times[name].append(_seconds(cmd, env))
    base = statistics.median(times["python -c pass"])
    print(f"median of {args.repeats}, minus the bare interpreter ({base * 1000:.0f} ms):")
    for name in list(COMMANDS)[1:]:
        print(f"  {name:40s} {1000 * (statistics.median(times[name]) - base):7.1f} ms")
    check = "import sys, mnist_cnn; mnist_cnn.open_run; print('tensorflow' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env).stdout.strip()
    print(f"TensorFlow imported by `import mnist_cnn; mnist_cnn.open_run`: {loaded}")


if __name__ == "__main__":
    main()
