"""Hyper-parameter search on Optuna: space, study/storage, worker (trials as runs), final re-training, report."""
