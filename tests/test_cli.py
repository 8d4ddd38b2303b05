"""CLI surface: help without TensorFlow, documented commands, one-line errors and exit codes."""

from __future__ import annotations

import subprocess

import click
import pytest

from conftest import CLI, ROOT, cli_subprocess_env
from mnist_cnn.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and sub-command, read from the click group itself (a new command cannot be missed)."""
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


COMMANDS = _commands(cli)


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from mnist_cnn.cli import main\n"
        "for args in (['--help'], ['train', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [*CLI[:1], "-c", code], capture_output=True, text=True, env=cli_subprocess_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize("args,command", COMMANDS, ids=lambda a: " ".join(a) if isinstance(a, tuple) else "")
def test_every_command_has_its_own_help_and_is_in_the_readme(run_cli, args, command):
    assert command.help and command.help.strip(), f"{' '.join(args)} has no docstring"
    result = run_cli(*args, "--help")
    assert result.code == 0
    first_line = " ".join(command.help.strip().splitlines()[0].split())
    assert first_line in " ".join(result.out.split())  # click wraps the text to the terminal width
    assert f"mnist-cnn {' '.join(args)}" in (ROOT / "README.md").read_text()


def test_missing_config_file_is_a_usage_error(run_cli, tmp_path):
    result = run_cli("train", "--config", str(tmp_path / "nope.yaml"))
    assert result.code == 2
    assert result.err.strip() == f"Error: {tmp_path / 'nope.yaml'}: no such config file"


def test_bad_config_exits_2_and_writes_nothing(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: 3\n  batch_sise: 64\n")
    result = run_cli("train", "--config", str(bad))
    assert result.code == 2
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "train.batch_sise (line 3): unknown key (did you mean 'batch_size'?)" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_bad_override_exits_2(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", "--config", str(ROOT / "configs" / "smoke.yaml"), "--set", "train.epochs=-1")
    assert result.code == 2
    assert "train.epochs (from --set): -1 is out of range" in result.err
    assert not (tmp_path / "runs").exists()


def test_train_needs_config_or_resume(run_cli):
    result = run_cli("train")
    assert result.code == 2
    assert "--config" in result.err and "--resume" in result.err


def test_resume_of_missing_directory(run_cli, tmp_path):
    result = run_cli("train", "--resume", str(tmp_path / "nothing"))
    assert result.code == 2
    assert "no such run directory" in result.err


def test_data_info_without_data_says_where_to_put_it(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CNN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MNIST_CNN_DATA", raising=False)
    result = run_cli("data", "info")
    assert result.code == 1
    assert result.err.startswith("Error: MNIST not found. Tried: cache")
    assert "--data PATH" in result.err and "\n" == result.err[-1] and result.err.count("\n") == 1


def test_unknown_command_is_usage_error(run_cli):
    assert run_cli("fly").code == 2


def test_tensorboard_without_the_package_is_refused_before_writing(run_cli, tmp_path, monkeypatch, mnist):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    runs = tmp_path / "runs"
    result = run_cli(
        "train",
        "--config",
        str(ROOT / "configs" / "smoke.yaml"),
        "--runs-dir",
        str(runs),
        "--set",
        "output.tensorboard=true",
    )
    assert result.code == 2
    assert "output.tensorboard: the tensorboard package is not installed" in result.err
    assert not runs.exists()
