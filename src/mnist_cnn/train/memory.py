"""Keep freed memory in the process during training, so TensorFlow's per-step buffers stop page-faulting."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

# Buffers up to this size come from the heap and are reused; glibc refuses a threshold above 32 MiB on
# 64-bit. Activations of the shipped networks at training and inference batch sizes stay below it.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30  # give freed heap memory back to the OS only beyond 1 GiB
TOP_PAD = 64 << 20  # grow the heap in 64 MiB steps instead of one fault-in per request


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory instead of unmapping it; True if it took the settings.

    TensorFlow allocates and frees activation and gradient buffers of several MB on every step.
    With glibc's default (dynamic) thresholds many of them are fresh mmaps whose pages fault in
    again each time: a 1-epoch Chollet run measured 1.6 M minor page faults and 6.5 s of system
    time on this project's VM, where a page fault is dear. Fixed thresholds
    keep those pages for reuse; the numbers computed are unchanged (only where memory comes from).
    Written by hand with ctypes because no library wraps mallopt; the alternative (preloading
    tcmalloc or jemalloc) needs the process restarted. A no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
