"""Inference: model files, image decoding, MNIST-style preprocessing and prediction."""
