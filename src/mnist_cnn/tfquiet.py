"""Keep native libraries' start-up chatter (TensorFlow, LiteRT) off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null meanwhile (C++ logging ignores Python's sys.stderr).

    Python exceptions are unaffected: they are raised, not printed, inside the block.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> None:
    """Import tensorflow and keras with stderr silenced meanwhile.

    TensorFlow 2.21 logs CUDA probing and oneDNN notices through absl before any log-level
    setting is read (TF_CPP_MIN_LOG_LEVEL does not silence them), so the only lever is the
    descriptor itself.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with silenced_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        tf.config.list_physical_devices("GPU")  # probes CUDA now, while quiet
