"""Flush subnormal floats to zero while training on the CPU.

An LSTM's backward pass through long sequences (≳ 170 steps) drives gradients into the
subnormal range, where x86 arithmetic takes a slow microcode path: a batch ran 10–20× slower
on this machine. Flushing subnormals to zero (FTZ/DAZ) removes that cost and changes results
only by amounts below float32's smallest normal number (~1.2e-38).

The flag belongs to the calling thread (threads it starts later inherit it); torch's intra-op
worker threads that already exist keep theirs, so enter the block before the first parallel op
or train with one thread where that matters.

torch has no getter for the flag, so the caller's setting is found by testing whether a
subnormal float32 survives a multiplication, and restored on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_SUBNORMAL = 1e-40  # below float32's smallest normal (1.18e-38), above its smallest subnormal


def flushing_denormals() -> bool:
    """True when the current thread flushes subnormal float32 values to zero."""
    x = torch.tensor([_SUBNORMAL], dtype=torch.float32)
    return bool((x * 1.0).item() == 0.0)


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Within the block, subnormal floats are flushed to zero (when ``enabled`` and the CPU
    supports it); the caller's setting is restored afterwards. Yields whether flushing is on."""
    before = flushing_denormals()
    if not enabled:
        yield before
        return
    supported = torch.set_flush_denormal(True)
    try:
        yield supported or before
    finally:
        torch.set_flush_denormal(before)
