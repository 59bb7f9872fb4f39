"""Intra-op thread counts that follow the machine's load while training on the CPU.

Why: torch's OpenMP pool spins at every parallel region's barrier. With one thread per core and
another process on one of the cores, each region waits for a worker the OS has descheduled, and
a small net's batches got 4-70× slower (issue 11 measured 4.6-21 s for a 0.3 s loop). One
thread, or ``OMP_WAIT_POLICY=PASSIVE``, avoids that but costs 1.5-3× on an idle machine, and
the wait policy is fixed once torch loads. The thread count is not: `ThreadGovernor` watches
batch times and moves ``torch.set_num_threads`` along a ladder (all threads, half, ..., 1).

The rule, per window of a few batches (≥ ``WINDOW_BATCHES`` and ≥ ``WINDOW_SECONDS``):

* training starts at one thread, and after its first window *probes* the full count unless
  ``/proc/stat`` shows the other cores busy: a probe that loses ends after about one batch,
  while starting at the full count would cost a whole window at up to 20× on a busy machine
  (starting low costs about one window at 1.5× on an idle one);
* whenever a window's mean batch time jumps above ``JUMP`` × the best recent window at the
  current count, the next window probes one step down; so it does after a back-off too
  (``UP_WAIT`` doubling to ``MAX_WAIT``), for load that grew slowly;
* while below the top, a window probes one step up after a back-off (doubling on each failed
  probe, from ``UP_WAIT`` to ``MAX_WAIT`` seconds), or sooner when ``/proc/stat`` shows the
  cores the step would add lying idle;
* a probe is kept when its mean is ``MARGIN`` faster than the window before it, else the count
  goes back; a probe that is already slower than the whole window it competes with ends early,
  so a bad probe costs about one window.

`governed_threads` applies a ``ThreadPolicy`` (None = Automatic, "Adaptive", "Fixed", or a
count) for one run and puts the caller's count back afterwards. Automatic adapts only on the
CPU and only when the user expressed no threading choice (`user_threading`): an environment
variable of `USER_VARIABLES`, or ``torch.set_num_threads`` called before training. torch's own
default count is known exactly when `before_torch` ran before torch loaded (the CLI and the
ExternalEvaluate session call it); otherwise it is estimated as torch computes it (physical
cores available to the process). This module imports torch only inside functions.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: environment variables that fix threading before torch loads; any of them means "the user chose"
USER_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_DYNAMIC",
                  "MKL_NUM_THREADS", "MKL_DYNAMIC", "OPENBLAS_NUM_THREADS", "KMP_BLOCKTIME")
WINDOW_BATCHES = 4
WINDOW_SECONDS = 0.05
WARMUP_BATCHES = 3
JUMP = 1.5
MARGIN = 0.1
UP_WAIT = 2.0
FREE_WAIT = 0.25
MAX_WAIT = 60.0
HISTORY = 6  # steady windows remembered per count for the jump test

_default_threads: int | None = None
_torch_pristine = False


def before_torch() -> None:
    """Note that torch has not loaded yet, so the first count seen is torch's own default.
    Call before anything imports torch (the CLI entry, the ExternalEvaluate session start)."""
    global _torch_pristine
    if "torch" not in sys.modules:
        _torch_pristine = True


def default_threads() -> int:
    """torch's default intra-op count: read the first time when `before_torch` saw torch
    unloaded; else torch's rule (MKL's or cpuinfo's physical cores, within the affinity mask)."""
    global _default_threads
    if _default_threads is None:
        import torch

        if _torch_pristine and not os.environ.get("OMP_NUM_THREADS") \
                and not os.environ.get("MKL_NUM_THREADS"):
            _default_threads = torch.get_num_threads()
        else:
            import psutil

            cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
            try:
                cores = min(cores, len(os.sched_getaffinity(0)))
            except AttributeError:  # not Linux
                pass
            _default_threads = max(1, cores)
    return _default_threads


def user_threading() -> str | None:
    """The user's own threading choice, as text for a message, or None when there is none."""
    for name in USER_VARIABLES:
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    import torch

    n = torch.get_num_threads()
    if n != default_threads():
        return f"torch.set_num_threads({n})"
    return None


def free_cores() -> Callable[[], float | None]:
    """A reader of idle cores since its previous call, from /proc/stat (None where absent)."""
    ncpu = os.cpu_count() or 1
    last: list[tuple[int, int] | None] = [None]

    def read() -> float | None:
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        now = (sum(ticks[:8]), ticks[3] + ticks[4])  # all, idle + iowait
        before, last[0] = last[0], now
        if before is None or now[0] <= before[0]:
            return None
        return ncpu * (now[1] - before[1]) / (now[0] - before[0])

    return read


def ladder(top: int) -> list[int]:
    """Thread counts the governor moves between: top, top/2, ..., 1."""
    counts = [max(1, top)]
    while counts[-1] > 1:
        counts.append(counts[-1] // 2)
    return counts


class ThreadGovernor:
    """Moves torch's intra-op thread count to whatever runs batches fastest right now.

    ``observe(seconds)`` once per batch is the whole interface; ``history`` lists the changes
    as ``(batch, count, why)``; ``attach(events)`` logs them on the Backend channel."""

    def __init__(self, top: int, set_threads: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 idle: Callable[[], float | None] | None = None, start_low: bool = True):
        if set_threads is None:
            import torch

            set_threads = torch.set_num_threads
        self.counts = ladder(top)
        # start at one thread (see the module docstring) or at the full count
        self.level = len(self.counts) - 1 if start_low else 0
        self._set, self._clock = set_threads, clock
        self._idle = idle if idle is not None else free_cores()
        self.history: list[tuple[int, int, str]] = []
        self.events: Any = None
        self.batches = 0
        self._n, self._sum = 0, 0.0
        self._recent: dict[int, deque[float]] = {}
        # (level left, its mean, batches to beat it in, why)
        self._probe: tuple[int, float, int, str] | None = None
        self._explored = False
        self._up_wait, self._free_wait, self._down_wait = UP_WAIT, FREE_WAIT, UP_WAIT
        self._last_move = clock()
        self._idle()
        if self.level > 0:
            self._move(self.level, "start")

    @property
    def threads(self) -> int:
        return self.counts[self.level]

    @property
    def probing(self) -> bool:
        """True while a window tries a count (`threads`) that may be taken back."""
        return self._probe is not None

    def attach(self, events: Any) -> ThreadGovernor:
        self.events = events
        return self

    def observe(self, seconds: float) -> None:
        """Count one batch of ``seconds``; at a window's end, decide the next count."""
        self.batches += 1
        if self.batches <= WARMUP_BATCHES:
            return
        self._n += 1
        self._sum += seconds
        probe = self._probe
        if probe is not None and self._sum > probe[1] * probe[2]:
            self._end_probe(self._sum / self._n)  # already slower than the window it challenges
        elif self._n >= WINDOW_BATCHES and self._sum >= WINDOW_SECONDS:
            mean = self._sum / self._n
            if probe is not None:
                self._end_probe(mean)
            else:
                self._steady(mean)

    def _steady(self, mean: float) -> None:
        recent = self._recent.setdefault(self.level, deque(maxlen=HISTORY))
        jumped = bool(recent) and mean > JUMP * min(recent)
        recent.append(mean)
        self._reset()
        since = self._clock() - self._last_move
        idle = self._idle()
        lower = self.level + 1 < len(self.counts)
        if not self._explored:
            self._explored = True
            if lower:
                self._start_probe(self.level + 1, mean, "explore")
            # from one thread: unless the other cores are busy (then retry later)
            elif self.level > 0 and (idle is None or idle >= 0.75 * (self.counts[0] - 1)):
                self._start_probe(0, mean, "explore")
        elif jumped and lower:
            self._start_probe(self.level + 1, mean, "slower batches")
        elif self.level > 0 and since >= (self._free_wait if self._free(idle) else
                                          self._up_wait):
            self._start_probe(self.level - 1, mean,
                              "idle cores" if self._free(idle) else "retry")
        elif lower and since >= self._down_wait:
            self._start_probe(self.level + 1, mean, "recheck")

    def _free(self, idle: float | None) -> bool:
        """Whether the cores one step up would add lie idle."""
        step = self.counts[max(0, self.level - 1)] - self.threads
        return idle is not None and step > 0 and idle >= 0.75 * step

    def _start_probe(self, level: int, mean: float, why: str) -> None:
        batches = max(WINDOW_BATCHES, math.ceil(WINDOW_SECONDS / max(mean, 1e-9)))
        self._probe = (self.level, mean, batches, why)
        self._move(level, "probe: " + why)

    def _end_probe(self, mean: float) -> None:
        left, left_mean, _, why = self._probe
        self._probe = None
        self._reset()
        if mean < (1 - MARGIN) * left_mean:
            self._recent[self.level] = deque([mean], maxlen=HISTORY)
            self._up_wait, self._free_wait, self._down_wait = UP_WAIT, FREE_WAIT, UP_WAIT
            self._note(f"kept: {mean * 1e3:.2f} ms vs {left_mean * 1e3:.2f} ms")
            self._last_move = self._clock()
            self._idle()
            return
        if self.level < left:
            self._up_wait = min(MAX_WAIT, 2 * self._up_wait)
            self._free_wait = min(MAX_WAIT, 2 * self._free_wait)
        else:
            self._down_wait = min(MAX_WAIT, 2 * self._down_wait)
            if why == "slower batches":  # the work, not the machine: the next window is normal
                self._recent[left] = deque(maxlen=HISTORY)
        self._move(left, f"back: {mean * 1e3:.2f} ms vs {left_mean * 1e3:.2f} ms")
        self._idle()

    def _reset(self) -> None:
        self._n, self._sum = 0, 0.0

    def _move(self, level: int, why: str) -> None:
        self.level = level
        self._set(self.threads)
        self._last_move = self._clock()
        self._note(why)

    def _note(self, why: str) -> None:
        self.history.append((self.batches, self.threads, why))
        if self.events is not None:
            self.events.emit("Backend", ("torch.set_num_threads", self.threads, why))


def resolve_policy(policy: str | int | None, device: str = "cpu") -> tuple[str, int | None]:
    """``("adaptive" | "fixed", count to set or None)`` for a ThreadPolicy value."""
    if isinstance(policy, int) and not isinstance(policy, bool):
        return "fixed", policy
    if policy == "Adaptive":
        return "adaptive", None
    if policy == "Fixed" or (device or "cpu").lower() != "cpu":
        return "fixed", None
    return ("fixed" if user_threading() else "adaptive"), None


@contextmanager
def governed_threads(policy: str | int | None, device: str = "cpu"
                     ) -> Iterator[ThreadGovernor | None]:
    """Within the block, torch's thread count follows ``policy``; yields the governor (None
    when the count stays fixed). The count found on entry is restored on exit."""
    import torch

    mode, count = resolve_policy(policy, device)
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    governor = ThreadGovernor(before) if mode == "adaptive" and before > 1 else None
    try:
        yield governor
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
