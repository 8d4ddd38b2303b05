"""The training process's malloc settings (fast: no TensorFlow)."""

from __future__ import annotations

import ctypes.util
import platform
import sys

import pytest

from mnist_cnn.train.memory import keep_freed_memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)
def test_glibc_takes_the_settings():
    assert ctypes.util.find_library("c")
    assert keep_freed_memory() is True


@pytest.mark.parametrize("platform_name", ["darwin", "win32"])
def test_elsewhere_it_is_a_no_op(monkeypatch, platform_name):
    """Off Linux nothing is set (the platform is pretended, so this runs on every machine)."""
    monkeypatch.setattr(sys, "platform", platform_name)
    assert keep_freed_memory() is False
