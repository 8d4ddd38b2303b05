"""The `Run` object: one run directory's state in memory — paths, typed manifest, metrics, history, exports.

It is what the Python API hands out (`mnist_cnn.train`, `open_run`, `latest_run`) and what the CLI
commands use underneath. Reading never takes the run's lock (a run being trained elsewhere is
shown at its last committed epoch); training, resuming and exporting into the run hold it.
TensorFlow is imported only by the methods that need a Keras model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mnist_cnn import display
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.manifest import Manifest
from mnist_cnn.runs.rundir import RunDir, RunError, read_history


class Run:
    """A run directory: `Run("runs/chollet-20261130-222100")` (or `mnist_cnn.open_run`)."""

    def __init__(self, path: str | Path | RunDir):
        self.dir = path if isinstance(path, RunDir) else RunDir(Path(path))
        if not self.dir.root.is_dir():
            raise RunError(f"{self.dir.root}: no such run directory")
        self._manifest: tuple[tuple[int, int], Manifest] | None = None
        self._runtime: tuple[object, object] | None = None  # (model source, loaded runtime) for predict
        self.last_session = None  # how the latest train/resume call in this process ended (train.runner.Outcome)
        self.manifest  # noqa: B018 - not a run directory (or a damaged manifest): one clear RunError now

    # ------------------------------------------------------------------ state (read fresh from disk)

    @property
    def path(self) -> Path:
        """The run directory."""
        return self.dir.root

    def __fspath__(self) -> str:
        return str(self.dir.root)

    @property
    def manifest(self) -> Manifest:
        """The typed manifest as last committed (re-read only when the file changed)."""
        try:
            stat = self.dir.manifest.stat()
            key = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = (0, 0)  # manifests.read raises the right RunError below
        if self._manifest is None or self._manifest[0] != key:
            self._manifest = (key, manifests.read(self.dir))
        return self._manifest[1]

    name = property(lambda self: self.manifest.name, doc="The config's name (the folder name starts with it).")
    status = property(lambda self: self.manifest.status, doc="running, completed, stopped_early, interrupted, …")
    epochs = property(lambda self: self.manifest.epochs_completed, doc="Epochs committed so far.")
    seed = property(lambda self: self.manifest.seed, doc="The run's seed.")
    exports = property(lambda self: dict(self.manifest.exports), doc="Verified exports by format (manifest records).")

    @property
    def finished(self) -> bool:
        """True once the run completed or stopped early."""
        return self.manifest.finished

    @property
    def config(self):
        """The run's resolved config (a frozen `mnist_cnn.config.Config`)."""
        from mnist_cnn import config

        return config.load(self.dir.config)

    @property
    def metrics(self) -> dict[str, Any]:
        """metrics.json: test loss/accuracy, per-class scores, confusion matrix, timings ({} before the end)."""
        metrics = self.dir.read_metrics()
        if isinstance(metrics.get("test"), dict):  # the figures people look for first, at top level too
            metrics.setdefault("test_accuracy", metrics["test"].get("accuracy"))
            metrics.setdefault("test_loss", metrics["test"].get("loss"))
        return metrics

    @property
    def test_accuracy(self) -> float | None:
        """Test accuracy of the checkpoint the run was scored with (None before the run ends)."""
        return self.metrics.get("test_accuracy")

    @property
    def history(self):
        """One row per epoch: a pandas DataFrame when pandas is installed, else a list of dicts."""
        rows = read_history(self.dir)
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)

    def plot(self, name: str = "history") -> display.Picture:
        """One of the run's figures (history, samples, confusion_matrix, misclassified, robustness), shown inline."""
        path = self.dir.plot(name)
        if not path.is_file():
            made_by = "evaluate(robustness=True)" if name == "robustness" else "training's end"
            raise RunError(f"{path}: not there yet (made by {made_by}); the run is {self.status}")
        return display.Picture(path)

    def refresh(self) -> Run:
        """Forget what was cached (manifest, loaded model) so the next read sees the disk."""
        self._manifest, self._runtime = None, None
        return self

    # ------------------------------------------------------------------ actions

    def predict(
        self,
        inputs: Iterable | object,
        top_k: int = 3,
        checkpoint: str | None = None,
        save_preprocessed: str | Path | None = None,
        on_error: str = "raise",
        single: bool = False,
    ):
        """Digits for image files, folders, NumPy arrays (28×28 or any 2-D gray; (N, H, W) is N) or Pillow images.

        A picture of a written number is read digit by digit (`.text`, `.digits`); `single=True` reads
        every picture as one digit. Uses the run's verified ONNX export when it has one (no TensorFlow
        import), else its checkpoint. An input that cannot be read raises PredictError
        (`on_error="collect"`: listed in `.errors`).
        """
        from mnist_cnn.inference import modelfiles

        source = modelfiles.from_run(self.dir, checkpoint, prefer_export=True)
        return predict_with(source, inputs, top_k, save_preprocessed, on_error, cache=self, single=single)

    def evaluate(
        self, checkpoint: str | None = None, robustness: bool = False, data: str | None = None, verbose: bool = False
    ):
        """Re-score the run on its test set (ONNX export when it has one and no checkpoint is asked for)."""
        from mnist_cnn import evaluate as evaluation
        from mnist_cnn.results import Evaluation

        log = print if verbose else _silent
        return Evaluation(evaluation.evaluate(str(self.path), None, checkpoint, data, log=log, robustness=robustness))

    def export(
        self,
        formats: str | Iterable[str] = "onnx",
        quantize: str | None = None,
        checkpoint: str | None = None,
        out: str | Path | None = None,
        data: str | None = None,
        verbose: bool = False,
    ) -> list[dict]:
        """Export to onnx, litert and/or saved_model, each verified by its own runtime; the records made.

        Into the run's export/ folder and manifest (holding the run's lock), or into `out` (not recorded).
        """
        import contextlib

        from mnist_cnn import export as exporter
        from mnist_cnn.runs import lock

        formats = [formats] if isinstance(formats, str) else list(formats)
        for fmt in formats:
            if fmt not in exporter.FORMATS:
                known = ", ".join(exporter.FORMATS)
                raise exporter.ExportError(f"unknown export format {fmt!r}; use one of {known}", exit_code=2)
            exporter.key_for(fmt, quantize)
        exporter.check_available(formats)
        log = print if verbose else _silent
        with contextlib.nullcontext() if out else lock.hold(self.path):
            target = Path(out) if out else None
            records = exporter.export_run(self.dir, formats, quantize, target, checkpoint, data, log)
        self.refresh()
        return records

    def resume(
        self, epochs: int | None = None, data: str | None = None, verbose: bool = True, log: Callable | None = None
    ) -> Run:
        """Continue an interrupted run from its last committed epoch (or extend a finished one to `epochs`)."""
        from mnist_cnn import api

        overrides = [f"train.epochs={int(epochs)}"] if epochs is not None else []
        console = api.console_for(log, verbose)
        with api.interrupt_as_keyboard_interrupt(console):
            self.last_session = api.resume_session(self.dir, overrides, data, console)
        return self.refresh()

    def compare(self, other: Run | str | Path) -> dict:
        """`runs compare`: identical history and weights? which recorded environment facts differ?"""
        from mnist_cnn.runs.compare import compare_runs

        other = other if isinstance(other, Run) else Run(other)
        return compare_runs(self.dir, other.dir)

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        try:
            accuracy = self.test_accuracy
            state = f"status={self.status}, epochs={self.epochs}"
        except RunError as exc:
            return f"Run('{self.path}', unreadable: {exc})"
        return f"Run('{self.path}', {state}" + ("" if accuracy is None else f", test_accuracy={accuracy:.4f}") + ")"

    def _repr_html_(self) -> str:
        m = self.manifest
        planned = (m.config or {}).get("train", {}).get("epochs")
        facts = [("status", m.status.replace("_", " ")),
                 ("epochs", f"{m.epochs_completed}" + (f" of {planned}" if planned else "")),
                 ("test accuracy", display.percent(self.test_accuracy)), ("seed", m.seed),
                 ("exports", ", ".join(m.exports) or None), ("path", str(self.path))]  # fmt: skip
        return display.card(f"Run {m.name}", facts, display.file_img_tag(self.dir.plot("history"), 480))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and self.path.resolve() == other.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())


def _silent(_message: str) -> None:
    """Where messages go when the caller did not ask to see them."""


def predict_with(source, inputs, top_k: int, save_preprocessed, on_error: str, cache: Run | None = None,
                 progress: Callable[[int, int], None] | None = None, single: bool = False):  # fmt: skip
    """Predict `inputs` with the model at `source` (a ModelSource): the API's and `mnist-cnn predict`'s one path.

    The runtime is loaded once per Run and source; `progress(done, total)` follows many files' preprocessing.
    """
    from mnist_cnn.inference import predict as predictor
    from mnist_cnn.inference.runtimes import load_runtime
    from mnist_cnn.results import PredictError, Predictions

    if on_error not in ("raise", "collect"):
        raise ValueError("on_error must be 'raise' or 'collect'")
    if isinstance(inputs, (str, Path)) or not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    loaded: list = []

    def load():
        if cache is not None and cache._runtime is not None and cache._runtime[0] == source:
            loaded.append(cache._runtime[1])
        else:
            loaded.append(load_runtime(source))
            if cache is not None:
                cache._runtime = (source, loaded[-1])
        return loaded[-1]

    save_dir = Path(save_preprocessed) if save_preprocessed else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
    report = predictor.run(load, inputs, top_k=top_k, save_dir=save_dir, progress=progress, single=single)
    if report.errors and on_error == "raise":
        first = report.errors[0]
        raise PredictError(f"{first['path']}: {first['error']}")
    return Predictions(report.predictions, report.errors, source.describe(), loaded[-1].name if loaded else None)
