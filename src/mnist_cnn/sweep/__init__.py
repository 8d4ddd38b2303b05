"""Sweeps: plan (config x grid x seeds), execute (local processes, array-job index, Ray), report."""
