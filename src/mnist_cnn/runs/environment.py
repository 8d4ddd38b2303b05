"""Facts about the machine and software that decide whether two runs can be bit-identical."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

# CPU features that change which kernels TensorFlow/oneDNN picks, hence the low bits of results.
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "fma")


def cpu_model_and_flags() -> tuple[str, set[str]]:
    """The CPU's name and all its instruction-set flags (Linux /proc/cpuinfo; elsewhere, what platform knows)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("unknown", "", platform.machine()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model, flags


def cpu_facts() -> dict:
    """CPU model, core count and the instruction-set flags that matter for numerics."""
    model, flags = cpu_model_and_flags()
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "flags": [f for f in _CPU_FLAGS if f in flags],
    }


def git_commit() -> str | None:
    """The commit of the source tree mnist_cnn runs from ("+dirty" if it has local changes), if any."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def collect() -> dict:
    """Versions, platform, CPU and GPU facts for the manifest."""
    import keras
    import numpy
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(
            {"name": details.get("device_name", device.name), "compute_capability": details.get("compute_capability")}
        )
    return {
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": numpy.__version__,
            "mnist_cnn": _own_version(),
        },
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "cpu": cpu_facts(),
        "gpus": gpus,
        "git_commit": git_commit(),
    }


def _own_version() -> str:
    from mnist_cnn import __version__

    return __version__


# Keys whose difference explains non-identical results, as shown by `runs compare`.
COMPARABLE = (
    "versions",
    "git_commit",
    "platform",
    "cpu",
    "gpus",
    "reproducibility",
)
