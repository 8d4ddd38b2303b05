"""Reproducible training CLI for convolutional networks on MNIST."""

__version__ = "0.1.0"
