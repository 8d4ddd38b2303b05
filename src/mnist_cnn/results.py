"""Typed results of the Python API (predictions, evaluations, run tables), each with a notebook card.

Every type keeps the plain data the CLI prints with `--json` (`to_json()`), and shows itself in
Jupyter through `_repr_html_`; `repr()` is one readable line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mnist_cnn import display
from mnist_cnn.errors import MnistCnnError
from mnist_cnn.inference.predict import Prediction  # noqa: F401 (the API's prediction type)


def prediction_html(p: Prediction) -> str:
    """One prediction: the 28×28 the model saw, enlarged, beside the ten probability bars (a number: each digit)."""
    if p.is_number:
        cells = "".join(
            f'<div style="text-align:center">{display.img_tag(display.png_bytes(d.image), 56, True, str(d.digit))}'
            f"<div>{d.digit} ({100 * d.probability:.0f}%)</div></div>"
            for d in p.digits
        )
        flag = " — uncertain" if p.uncertain else ""
        notes = "".join(f'<div style="font-size:85%;color:#666">{display.escape(n)}</div>' for n in p.notes)
        return (
            f'<div style="{display.CARD_STYLE}"><div><b>{display.escape(p.path)}</b>: '
            f'<span style="font-size:140%">{p.text}</span> (lowest {100 * p.probability:.1f}%{flag})</div>'
            f'<div style="display:flex;gap:8px">{cells}</div>{notes}</div>'
        )
    picture = "" if p.image is None else display.img_tag(display.png_bytes(p.image), 84, pixelated=True, alt=p.path)
    bars = "" if p.probabilities is None else display.probability_bars(p.probabilities, p.digit)
    notes = "".join(f'<div style="font-size:85%;color:#666">{display.escape(n)}</div>' for n in p.notes)
    return (
        f'<div style="{display.CARD_STYLE}"><div><b>{display.escape(p.path)}</b>: '
        f'<span style="font-size:140%">{p.digit}</span> ({100 * p.probability:.1f}%)</div>'
        f'<div style="display:flex;gap:8px;align-items:center">{picture}{bars}</div>{notes}</div>'
    )


class Predictions(list):
    """The answers for every input that could be read, in input order; `errors` lists those that could not."""

    def __init__(self, predictions: list[Prediction], errors: list[dict], model: str, runtime: str | None):
        super().__init__(predictions)
        self.errors, self.model, self.runtime = errors, model, runtime

    @property
    def digits(self) -> list[int | None]:
        """The predicted digit of each input (None where a number of several digits was read)."""
        return [p.digit for p in self]

    @property
    def texts(self) -> list[str]:
        """What is written in each input: "7", or a number such as "2026"."""
        return [p.text for p in self]

    def to_json(self) -> dict:
        """What `mnist-cnn predict --json` prints."""
        return {"model": self.model, "runtime": self.runtime, "predictions": [p.to_json() for p in self],
                "errors": self.errors}  # fmt: skip

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.path}: {p.text or p.digit} ({100 * p.probability:.1f}%)" for p in self[:10])
        more = f", … {len(self) - 10} more" if len(self) > 10 else ""
        errors = f"; {len(self.errors)} unreadable" if self.errors else ""
        return f"Predictions([{shown}{more}]{errors})"

    def _repr_html_(self) -> str:
        failed = "".join(f"<div>⚠ {display.escape(e['path'])}: {display.escape(e['error'])}</div>" for e in self.errors)
        head = f"<div>Model: {display.escape(self.model)} ({display.escape(self.runtime)})</div>"
        return head + "".join(prediction_html(p) for p in self) + failed


class PredictError(MnistCnnError):
    """An input could not be read as a digit (the message names it and says why)."""


class Evaluation(dict):
    """`evaluate`'s result (the dict `mnist-cnn evaluate --json` prints), with shortcuts and a card."""

    @property
    def accuracy(self) -> float:
        """Test accuracy (a fraction)."""
        return self["test"]["accuracy"]

    @property
    def loss(self) -> float:
        """Test cross-entropy."""
        return self["test"]["loss"]

    @property
    def confusion_matrix(self) -> np.ndarray:
        """10×10 counts: rows are true digits, columns predicted ones."""
        return np.asarray(self["test"]["confusion_matrix"])

    @property
    def robustness(self) -> dict | None:
        """The robustness table, when it was asked for."""
        return self.get("robustness")

    def report(self) -> str:
        """The per-class text table the CLI prints."""
        from mnist_cnn.scores import format_report

        return format_report(self["test"])

    def __repr__(self) -> str:
        figures = f"accuracy={self.accuracy:.4f}, loss={self.loss:.4f}"
        return f"Evaluation(model='{self['model']}', runtime={self['runtime']}, {figures})"

    def _repr_html_(self) -> str:
        from mnist_cnn import plots

        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "confusion.png"
            plots.plot_confusion_matrix(self.confusion_matrix, target)
            matrix = display.file_img_tag(target, 360)
            robust = ""
            if self.robustness:
                plots.plot_robustness({"model": self.robustness}, Path(folder) / "robustness.png")
                robust = display.file_img_tag(Path(folder) / "robustness.png", 480)
        facts = [("runtime", self["runtime"]), ("test accuracy", display.percent(self.accuracy)),
                 ("loss", f"{self.loss:.4f}"), ("images", int(self.confusion_matrix.sum()))]  # fmt: skip
        return display.card(f"Evaluation of {self['model']}", facts, f"<div>{matrix}{robust}</div>")


class RunTable(list):
    """`runs list` rows (dicts), with the notes about folders that could not be read."""

    def __init__(self, rows: list[dict], notes: list[str], root: Path):
        super().__init__(rows)
        self.notes, self.root = notes, root

    def to_pandas(self):
        """The rows as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame(list(self))

    def __repr__(self) -> str:
        from mnist_cnn.runs.listing import format_table

        return format_table(list(self)) if self else f"No runs under {self.root}."

    def _repr_html_(self) -> str:
        header = ["name", "status", "epochs", "test accuracy", "fit s", "seed", "started"]
        rows = [[r["name"], r["status"], r["epochs"], display.percent(r["test_accuracy"]) or "",
                 "" if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f}", r["seed"], r["started"]]
                for r in self]  # fmt: skip
        notes = "".join(f"<div>Note: {display.escape(n)}</div>" for n in self.notes)
        return display.table(header, rows) + notes
