"""The model a server answers with: its runtime and the facts `/v1/model` and the console show."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_cnn.inference import modelfiles
from mnist_cnn.inference.runtimes import KerasRuntime, Runtime
from mnist_cnn.runs.rundir import file_sha256


@dataclass(frozen=True)
class ServedModel:
    """A loaded runtime plus what a user should know about it (strict-JSON-safe values only)."""

    runtime: Runtime
    facts: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the console: which model, and how good it is."""
        where = self.facts.get("run") or self.facts.get("file")
        accuracy = self.facts.get("test_accuracy")
        return f"{where} (test accuracy {accuracy:.2%})" if accuracy is not None else f"{where}"


def load_served(model: str | None, runs_dir: str | Path = "runs", checkpoint: str | None = None) -> ServedModel:
    """Resolve `model` (run directory, model file, or None for the latest finished run) and load it."""
    source = modelfiles.resolve(model, runs_dir, checkpoint)
    runtime = _runtime(source)
    return ServedModel(runtime, {**_facts(source), "runtime": runtime.name})


def _runtime(source: modelfiles.ModelSource) -> Runtime:
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()
    return KerasRuntime(modelfiles.load(source))


def _facts(source: modelfiles.ModelSource) -> dict[str, Any]:
    """Run, checkpoint, file, hash and test accuracy (null where unknown)."""
    run = source.run
    metrics = _read_metrics(run.metrics) if run is not None else {}
    accuracy = metrics.get("test", {}).get("accuracy")
    return {
        "run": str(run.root) if run is not None else None,
        "name": run.root.name if run is not None else source.path.name,
        "kind": "checkpoint",
        "checkpoint": source.checkpoint,
        "file": str(source.path),
        "format": source.path.suffix.lstrip("."),
        "sha256": source.expected_sha256 or file_sha256(source.path),
        "test_accuracy": accuracy if isinstance(accuracy, float) else None,
    }


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
