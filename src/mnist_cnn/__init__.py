"""Reproducible training of convolutional networks on MNIST: the CLI `mnist-cnn`, and this Python API.

    import mnist_cnn as mc
    run = mc.train("configs/chollet.yaml", overrides={"train.epochs": 3})
    run.history, run.metrics["test_accuracy"], run.plot("confusion_matrix")
    run.predict(["my-digit.jpg", pixels_28x28])

Names are imported on first use (PEP 562), so `import mnist_cnn` stays as light as `mnist-cnn --help`
and never imports TensorFlow; docs/python-api.md documents every name.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "train": "mnist_cnn.api",
    "open_run": "mnist_cnn.api",
    "latest_run": "mnist_cnn.api",
    "runs": "mnist_cnn.api",
    "predict": "mnist_cnn.api",
    "evaluate_model": "mnist_cnn.api",
    "sweep": "mnist_cnn.api",
    "open_sweep": "mnist_cnn.api",
    "load_config": "mnist_cnn.api",
    "Run": "mnist_cnn.runs.run",
    "Sweep": "mnist_cnn.sweep.study",
    "SweepReport": "mnist_cnn.sweep.study",
    "Prediction": "mnist_cnn.inference.predict",
    "Predictions": "mnist_cnn.results",
    "PredictError": "mnist_cnn.results",
    "Evaluation": "mnist_cnn.results",
    "RunTable": "mnist_cnn.results",
    "Config": "mnist_cnn.config",
    "ConfigError": "mnist_cnn.config",
    "MnistCnnError": "mnist_cnn.errors",
    "UsageError": "mnist_cnn.errors",
    "RunError": "mnist_cnn.runs.rundir",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """Import a public name's module the first time the name is used."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'mnist_cnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


# `train`, `runs` and `sweep` are both API functions and subpackages (mnist_cnn/train/, runs/, sweep/).
# Importing a subpackage makes Python set it as an attribute of this package, which would replace the
# function; this module type ignores that assignment (the class is set before any subpackage is
# imported, so none can slip in). The subpackages stay importable as always
# (`from mnist_cnn.train import runner` finds them in sys.modules, not through this attribute).
_FUNCTIONS_OVER_PACKAGES = ("train", "runs", "sweep")


class _ApiModule(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        if name in _FUNCTIONS_OVER_PACKAGES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ApiModule
