"""Memory samples for ReportMemoryUsage and MemoryUsageLogging (reference §5, §3.6).

A sample is the §5.1 association, all ints::

    {"System": 8123456789, "Kernel": 812345678, "Buckets": 3, "GPU1": 4012345678}

* ``"System"``: physical memory in use on the whole machine, ``total - available`` from psutil.
  §5.1 says "total minus free"; on Linux "free" (MemFree) excludes the page cache the kernel
  hands back on demand, so ``total - MemFree`` climbs with any file reading. ``available`` is
  what a new allocation can actually get, which is what "free" means to the user.
* ``"Kernel"``: the resident set size of this Python process (psutil RSS). It stands for the
  Wolfram kernel's ``MemoryInUse[]``: the memory the process running the training holds, torch's
  CPU tensors included.
* ``"Buckets"``: number of cached bucket executors, from the ``buckets`` callable (0 without).
* ``"GPU1"``, ``"GPU2"``, ...: per GPU (1-based, NVML order) total minus free device memory, all
  processes, through NVML (nvidia-ml-py). No NVML library, no driver or no GPU simply means no
  GPU keys, never an error. Only when ``gpus`` is on (§3.6: ReportMemoryUsage with a GPU
  target device).
* ``"GPU1TorchAllocated"`` / ``"GPU1TorchReserved"``: torch's caching-allocator figures for that
  device, added only when this process has initialised CUDA (they say how much of ``GPU1`` is
  ours). `format_memory` does not show them.

Loop use::

    sampler = MemorySampler(config.memory_reporting_interval, gpus=target_is_gpu,
                            buckets=lambda: executor.bucket_count)
    text = format_memory(sampler.sample(force=True))      # the string exists before training
    ...per batch, inside the "rep" timer:
    d = sampler.sample()            # None until an interval has elapsed since the last firing
    if d is not None:
        events.emit("MemoryUsage", d); text = format_memory(d)

Create the sampler only when ReportMemoryUsage is on or the ``MemoryUsage`` channel is live.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil

_PROCESS = psutil.Process()


class _NVML:
    """Lazy, failure-tolerant access to NVML: `used()` is ``[]`` whenever NVML cannot answer."""

    def __init__(self) -> None:
        self._lib: Any = None
        self._handles: list[Any] | None = None

    def _init(self) -> list[Any]:
        if self._handles is None:
            self._handles = []
            try:
                import pynvml

                pynvml.nvmlInit()
                self._lib = pynvml
                self._handles = [
                    pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
                ]
            except Exception:  # no library, no driver, no device: GPU part stays empty
                self._handles = []
        return self._handles

    def used(self, which: Sequence[int] | None) -> list[tuple[int, int, int]]:
        """``(index, used, total)`` for the chosen 0-based devices (all when ``which`` is None)."""
        handles = self._init()
        out = []
        for i, h in enumerate(handles):
            if which is not None and i not in which:
                continue
            try:
                info = self._lib.nvmlDeviceGetMemoryInfo(h)
            except Exception:
                continue
            out.append((i, int(info.total) - int(info.free), int(info.total)))
        return out


_NVML_SINGLETON = _NVML()


def gpu_memory(which: Sequence[int] | None = None) -> dict[int, tuple[int, int]]:
    """0-based GPU index -> (used bytes, total bytes) from NVML; ``{}`` without NVML or GPUs."""
    return {i: (u, t) for i, u, t in _NVML_SINGLETON.used(which)}


def memory_sample(gpus: bool | Sequence[int] = False, buckets: int = 0) -> dict[str, int]:
    """One §5.1 association, sampled now (see the module docstring for each key)."""
    vm = psutil.virtual_memory()
    d: dict[str, int] = {
        "System": int(vm.total - vm.available),
        "Kernel": int(_PROCESS.memory_info().rss),
        "Buckets": int(buckets),
    }
    if gpus:
        which = None if gpus is True else list(gpus)
        for i, used, _total in _NVML_SINGLETON.used(which):
            d[f"GPU{i + 1}"] = used
        _add_torch_allocator(d, which)
    return d


def _add_torch_allocator(d: dict[str, int], which: Sequence[int] | None) -> None:
    """torch's own CUDA allocator figures, only if this process already uses CUDA (never
    initialises CUDA just to look; torch is not imported if nobody imported it)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    for i in range(torch.cuda.device_count()):
        if which is not None and i not in which:
            continue
        d[f"GPU{i + 1}TorchAllocated"] = int(torch.cuda.memory_allocated(i))
        d[f"GPU{i + 1}TorchReserved"] = int(torch.cuda.memory_reserved(i))


class MemorySampler:
    """Samples memory no more often than every ``interval`` seconds (MemoryReportingInterval).

    Firing follows reference §9.6/§5.3: the first regular sample comes once one interval has
    passed since construction (or `reset`), then the next threshold is ``now + interval``.
    ``interval = 0`` samples on every call. ``force=True`` samples at once without moving the
    threshold (the initial string of §5.3). ``gpus`` is False, True (every GPU) or 0-based
    indices; ``buckets`` returns the current bucket count. ``clock`` is any monotonic seconds
    source; ``now`` arguments are in its units.
    """

    def __init__(
        self,
        interval: float = 2.0,
        gpus: bool | Sequence[int] = False,
        buckets: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not interval >= 0:  # also rejects NaN
            from engine.errors import EngineError

            raise EngineError(
                "invtint",
                f"MemoryReportingInterval must be a non-negative number of seconds, not {interval}.",
            )
        self.interval = float(interval)
        self.gpus = gpus
        self._buckets = buckets
        self._clock = clock
        self._threshold = clock() + self.interval
        self.latest: dict[str, int] | None = None

    def reset(self, now: float | None = None) -> None:
        """Restart the interval from ``now`` (call at the start of the training loop)."""
        self._threshold = (self._clock() if now is None else now) + self.interval

    def due(self, now: float | None = None) -> bool:
        """Whether a regular `sample` at ``now`` would sample (does not re-arm)."""
        return (self._clock() if now is None else now) >= self._threshold

    def sample(self, now: float | None = None, force: bool = False) -> dict[str, int] | None:
        """A fresh §5.1 association, or None when the interval has not elapsed yet."""
        t = self._clock() if now is None else now
        if not force:
            if t < self._threshold:
                return None
            self._threshold = t + self.interval
        self.latest = memory_sample(self.gpus, self._buckets() if self._buckets else 0)
        return self.latest


def _mb(n: int) -> str:
    """``<g>,<mmm>M`` or ``<mmm>M`` in decimal megabytes (§5.2)."""
    g, m = divmod(int(n) // 10**6, 1000)
    return f"{g},{m:03d}M" if g > 0 else f"{m:03d}M"


_LABELS = {"System": "S", "Kernel": "K", "Buckets": "B"}


def format_memory(d: dict[str, int] | None) -> str:
    """The ReportMemoryUsage string (§5.2), e.g. ``S:15,234M K:081M B:3 GPU1:4,012M``.

    Keys are shown in the association's order; torch-allocator keys are not shown.
    """
    if not d:
        return ""
    parts = []
    for k, v in d.items():
        if k in _LABELS:
            parts.append(f"{_LABELS[k]}:{int(v)}" if k == "Buckets" else f"{_LABELS[k]}:{_mb(v)}")
        elif k.startswith("GPU") and k[3:].isdigit():
            parts.append(f"{k}:{_mb(v)}")
    return " ".join(parts)
