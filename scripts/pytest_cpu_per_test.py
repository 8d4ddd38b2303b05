"""A pytest plugin: CPU seconds per test, the test process's own and its waited-for children's.

Loaded by `scripts/bench_tests.py --cpu-per-test` (`-p pytest_cpu_per_test`, scripts/ on the path);
each test process (an xdist worker or the one process) appends one JSON line per test to
$MNIST_CNN_CPU_PER_TEST/<worker>.jsonl. Wall time says which test waited; CPU time says which test
costs the machine, which is what bounds a suite on few cores. Daemons a test does not wait for
(Ray's) are not counted.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest


def _cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before, started = _cpu(), time.perf_counter()
    yield
    after = _cpu()
    folder = Path(os.environ["MNIST_CNN_CPU_PER_TEST"])
    line = {
        "test": item.nodeid,
        "own_cpu_s": round(after[0] - before[0], 2),
        "children_cpu_s": round(after[1] - before[1], 2),
        "wall_s": round(time.perf_counter() - started, 2),
    }
    with open(folder / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl", "a") as out:
        out.write(json.dumps(line) + "\n")
