"""Run directories: layout and file names, history, compare, environment facts."""
