"""`python -m mnist_cnn.cli`: the same as the `mnist-cnn` command."""

from mnist_cnn.cli import entry

entry()
