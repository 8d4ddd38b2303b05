"""Child processes of the tests: with MNIST_CNN_TEST_SYNTHETIC=1, MNIST is the synthetic test set.

`conftest.cli_subprocess_env(synthetic=True)` puts this folder first on PYTHONPATH, so a child
`python -m mnist_cnn.cli ...` (and the trial processes a sweep starts) trains on tests/synthetic.py
without any hook in the package itself.
"""

import os
import sys

if os.environ.get("MNIST_CNN_TEST_SYNTHETIC") == "1":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import synthetic

    synthetic.install()
