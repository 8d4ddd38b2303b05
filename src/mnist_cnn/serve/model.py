"""The model a server answers with: its runtime and the facts `/v1/model` and the console show.

A run is served from its verified ONNX export when it has one (ONNX Runtime: no TensorFlow, a
fast start), else from its checkpoint through Keras, exactly as `mnist-cnn predict` chooses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_cnn.inference import modelfiles
from mnist_cnn.inference.runtimes import Runtime, load_runtime
from mnist_cnn.runs.rundir import file_sha256


@dataclass(frozen=True)
class ServedModel:
    """A loaded runtime plus what a user should know about it (strict-JSON-safe values only)."""

    runtime: Runtime
    facts: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the console: which model, and how good it is."""
        where = self.facts.get("run") or self.facts.get("file")
        used = self.facts.get("export") or self.facts.get("checkpoint")
        what = f"{where} ({used} {self.facts.get('kind')}" if used else f"{where} ({self.facts.get('kind')}"
        accuracy = self.facts.get("test_accuracy")
        return f"{what}, test accuracy {accuracy:.2%})" if accuracy is not None else f"{what})"


def load_served(model: str | None, runs_dir: str | Path = "runs", checkpoint: str | None = None) -> ServedModel:
    """Resolve `model` (run directory, model file, or None for the latest finished run) and load it."""
    source = modelfiles.resolve(model, runs_dir, checkpoint, prefer_export=True)
    runtime = load_runtime(source)
    return ServedModel(runtime, {**_facts(source), "runtime": runtime.name})


@dataclass(frozen=True)
class VerifiedCopy:
    """The served model's bytes as verified once at start, in a private file: what every worker loads.

    Workers (and their restarts) load this copy, checked against the hash taken at start, never the
    original path: replacing or damaging the model file on disk while serving changes nothing served.
    """

    path: Path
    sha256: str
    facts: dict[str, Any]


def verified_copy(model: str | None, runs_dir: str | Path, checkpoint: str | None, folder: Path) -> VerifiedCopy:
    """Resolve and verify the model once (hash, limits), and keep its bytes in `folder` (private to this server)."""
    source = modelfiles.resolve(model, runs_dir, checkpoint, prefer_export=True)
    modelfiles.check_suffix(source.path)
    source, data = modelfiles.read_current(source)
    copy = Path(folder) / f"model{source.path.suffix}"
    copy.write_bytes(data)
    copy.chmod(0o400)
    digest = hashlib.sha256(data).hexdigest()
    return VerifiedCopy(copy, digest, _facts(source, digest))


def load_copy(copy: VerifiedCopy) -> ServedModel:
    """The runtime for a verified copy (its hash checked again), with the facts of the original."""
    runtime = load_runtime(modelfiles.ModelSource(copy.path, expected_sha256=copy.sha256))
    return ServedModel(runtime, {**copy.facts, "runtime": runtime.name})


def _facts(source: modelfiles.ModelSource, digest: str | None = None) -> dict[str, Any]:
    """Run, checkpoint or export, file, hash, test accuracy and the export's verification (null where unknown)."""
    run = source.run
    metrics = run.read_metrics() if run is not None else {}
    accuracy = metrics.get("test", {}).get("accuracy") if isinstance(metrics.get("test"), dict) else None
    verification = None
    if run is not None and source.export:
        from mnist_cnn.runs import manifest  # the manifest's one reader

        entry = manifest.read(run).exports.get(source.export)
        verification = entry.get("verification") if isinstance(entry, dict) else None
    return {
        "run": str(run.root) if run is not None else None,
        "name": run.root.name if run is not None else source.path.name,
        "kind": "export" if source.export else "checkpoint" if source.checkpoint else "file",
        "checkpoint": source.checkpoint,
        "export": source.export,
        "file": str(source.path),
        "format": source.path.suffix.lstrip("."),
        "sha256": digest or source.expected_sha256 or file_sha256(source.path),
        "sha256_verified": source.expected_sha256 is not None,
        "test_accuracy": accuracy if isinstance(accuracy, float) else None,
        "verification": verification,
    }
