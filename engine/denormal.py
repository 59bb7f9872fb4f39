"""Flush subnormal floats to zero while training on the CPU, in every thread that does the work.

An LSTM's backward pass through long sequences drives gradients into the subnormal range, where
some x86 CPUs take a slow microcode path (the issue measured 10-20× slower batches). Flushing
subnormals to zero (FTZ/DAZ) removes that cost and changes results only by amounts below
float32's smallest normal number (~1.2e-38).

The flag lives in each thread's MXCSR register. ``torch.set_flush_denormal`` sets it for the
calling thread only, and torch's intra-op OpenMP worker threads, once created, keep the state
they had: with 2 threads, half of every parallel op kept running on subnormals. Neither
re-setting ``torch.set_num_threads`` (the pool is reused, not re-created) nor anything else in
torch's Python API reaches those threads. What does: running one OpenMP parallel region of our
own on the same OpenMP runtime torch uses (``GOMP_parallel`` from the libgomp/libiomp already
loaded into the process, found through ``/proc/self/maps``), whose body — a ctypes callback —
calls ``torch.set_flush_denormal`` in every team thread. `flushing_all_threads` checks the
result the direct way: a subnormal tensor large enough to be split across the pool, multiplied
by 1, must come out all zeros.

torch has no getter for the flag, so the caller's setting is found by testing whether a
subnormal float32 survives a multiplication, and restored (in every thread) on exit.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

_SUBNORMAL = 1e-40  # below float32's smallest normal (1.18e-38), above its smallest subnormal
# Elements in the all-threads check: far above torch's parallel grain size (32768).
_CHECK_SIZE = 1 << 22
_OMP_LIBS = ("libgomp", "libiomp5", "libomp")

_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lock = threading.Lock()
_runtime: Any = None  # the loaded OpenMP library, False when none is found


def flushing_denormals() -> bool:
    """True when the current thread flushes subnormal float32 values to zero."""
    x = torch.tensor([_SUBNORMAL], dtype=torch.float32)
    return bool((x * 1.0).item() == 0.0)


def flushing_all_threads() -> bool:
    """True when every intra-op thread flushes: a pool-sized subnormal product is all zeros."""
    x = torch.full((_CHECK_SIZE,), _SUBNORMAL, dtype=torch.float32)
    return not bool((x * 1.0).any())


def _openmp() -> Any:
    """The OpenMP runtime loaded in this process (the one torch's thread pool uses), or None."""
    global _runtime
    if _runtime is None:
        _runtime = False
        if sys.platform.startswith("linux"):
            try:
                with open("/proc/self/maps") as f:
                    paths = [line.split()[-1] for line in f if "/" in line]
            except OSError:
                paths = []
            for path in paths:
                name = path.rsplit("/", 1)[-1]
                if name.startswith(_OMP_LIBS):
                    try:
                        lib = ctypes.CDLL(path)
                        fn = lib.GOMP_parallel
                    except (OSError, AttributeError):
                        continue
                    fn.argtypes = [_CALLBACK, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                    fn.restype = None
                    _runtime = lib
                    break
    return _runtime or None


def set_flush_denormal_all_threads(enabled: bool) -> bool:
    """Set the flush flag in the calling thread and in every thread of torch's intra-op pool.

    Returns whether the CPU supports flushing. Without a loadable OpenMP runtime only the
    calling thread is set (as ``torch.set_flush_denormal`` does).
    """
    supported = torch.set_flush_denormal(enabled)
    lib = _openmp()
    if lib is None or torch.get_num_threads() < 2:
        return supported

    def body(_: Any) -> None:
        torch.set_flush_denormal(enabled)

    callback = _CALLBACK(body)
    with _lock:  # one region at a time; the callback object lives until it returns
        lib.GOMP_parallel(callback, None, torch.get_num_threads(), 0)
    return supported


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Within the block, subnormal floats are flushed to zero in the calling thread and torch's
    intra-op threads (when ``enabled`` and the CPU supports it); the caller's setting is
    restored in all of them afterwards. Yields whether flushing is on."""
    before = flushing_denormals()
    if not enabled:
        yield before
        return
    supported = set_flush_denormal_all_threads(True)
    try:
        yield supported or before
    finally:
        set_flush_denormal_all_threads(before)
