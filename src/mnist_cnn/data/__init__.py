"""MNIST acquisition (sources, cache, checksums), file formats and run preparation (split, subset)."""
