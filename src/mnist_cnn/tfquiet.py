"""Import TensorFlow without its C++ start-up chatter on the user's terminal."""

from __future__ import annotations

import os
import sys


def import_tensorflow() -> None:
    """Import tensorflow and keras with file descriptor 2 pointed at /dev/null meanwhile.

    TensorFlow 2.21 logs CUDA probing and oneDNN notices through absl before any log-level
    setting is read (TF_CPP_MIN_LOG_LEVEL does not silence them), so the only lever is the
    descriptor itself. Python exceptions are unaffected: they are raised, not printed, here.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        tf.config.list_physical_devices("GPU")  # probes CUDA now, while quiet
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
