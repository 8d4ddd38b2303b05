"""`explain` for image files: preprocess each like `predict`, explain it, write its PNG panel."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mnist_cnn.explain.explainer import Explainer
from mnist_cnn.inference import imaging
from mnist_cnn.inference.predict import Report, _saved_name, collect


@dataclass
class ExplainReport:
    """Every image explained (strict-JSON-safe rows) and every file that could not be."""

    explained: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    feature_maps_missing: str | None = None


def explain_files(load_explainer, inputs: Iterable[str], out: Path) -> ExplainReport:
    """Explain every input image into `out`; the model is loaded (`load_explainer()`) only if one image is usable."""
    from mnist_cnn.explain.panel import write_panel

    failures = Report()
    files = collect(inputs, failures)
    report = ExplainReport(errors=failures.errors)
    prepared = []
    for path in files:
        try:
            prepared.append((path, imaging.preprocess_file(path)))
        except imaging.ImageError as exc:
            report.errors.append({"path": str(path), "error": str(exc)})
    if not prepared:
        return report
    explainer: Explainer = load_explainer()
    report.feature_maps_missing = explainer.missing
    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for path, result in prepared:
        explanation = explainer.explain(result.image)
        panel = _saved_name(out, path, used)  # as --save-preprocessed names them: two inputs may share a stem
        write_panel(explanation, panel, title=f"{path.name}: {explanation.digit}")
        top = explanation.top(3)
        report.explained.append(
            {
                "path": str(path),
                "digit": explanation.digit,
                "probability": top[0]["probability"],
                "top_k": top,
                "probabilities": [float(p) for p in explanation.probabilities],
                "notes": list(result.notes),
                "panel": str(panel),
                **explanation.numbers(),
            }
        )
    return report
