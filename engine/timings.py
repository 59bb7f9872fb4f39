"""Per-batch phase timings: running last/min/max/total/count per phase (reference §4).

Timing is always on (§4.2): the loop wraps each phase of every batch, and ``ReportTimings`` only
decides whether reporting shows the numbers. The cost is two `time.perf_counter` calls and a few
float updates per phase; nothing is allocated per measurement and memory is constant (no lists of
durations, unlike a profiler that keeps every sample).

How the loop uses it (phases of DESIGN.md "The training loop and its timings", §4.3)::

    timer = PhaseTimer()
    with timer.measure("exec"):       # or timer.start("exec") ... timer.stop("exec")
        ...forward / backward / step...
    timer.record("batch", seconds)    # when the loop computes a duration itself
    info["$InternalTimings"] = info["$Timings"] = timer.as_callback_dict()
    if schedule.due(elapsed): events.emit("Timing", timer.as_log_value)   # TimingLogging, §3.7

Phase names are NetTrain's short names: ``batch exec sync gen coll rep calls`` (the panel labels
without the colon). Outward views use the verbose keys of §4.1 in the association order
Batch, Executor, Synchronize, Generator, Collector, Reporting, Callbacks.
"""

from __future__ import annotations

import time
from typing import Any

# Short phase name -> verbose key (§4.1), in the association order used by Print and logging.
VERBOSE_KEYS: dict[str, str] = {
    "batch": "Batch",
    "exec": "Executor",
    "sync": "Synchronize",
    "gen": "Generator",
    "coll": "Collector",
    "rep": "Reporting",
    "calls": "Callbacks",
}
PHASES: tuple[str, ...] = tuple(VERBOSE_KEYS)
# The panel shows the phases in this order (§4.1).
PANEL_ORDER: tuple[str, ...] = ("batch", "sync", "gen", "exec", "coll", "rep", "calls")

_perf = time.perf_counter


class _Span:
    """A reusable context manager for one phase, so ``measure`` allocates nothing per use."""

    __slots__ = ("_timer", "_phase", "_t0")

    def __init__(self, timer: PhaseTimer, phase: str):
        self._timer = timer
        self._phase = phase
        self._t0 = 0.0

    def __enter__(self) -> _Span:
        self._t0 = _perf()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.record(self._phase, _perf() - self._t0)


class PhaseTimer:
    """Running statistics per phase: ``[last, min, max, total, count]`` or ``None`` (§4.2).

    A phase that was never measured stays ``None``; its first measurement ``t`` becomes
    ``[t, t, t, t, 1]``. Unknown phase names raise ``KeyError`` at once (a typo in the loop
    should fail loudly rather than time nothing).
    """

    __slots__ = ("_stats", "_starts", "_spans")

    def __init__(self) -> None:
        self._stats: dict[str, list[float] | None] = dict.fromkeys(PHASES)
        self._starts: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._spans: dict[str, _Span] = {p: _Span(self, p) for p in PHASES}

    def start(self, phase: str) -> None:
        """Mark the start of ``phase``; the matching `stop` records the elapsed time."""
        if phase not in self._starts:
            raise KeyError(f"unknown timing phase {phase!r}; phases are {', '.join(PHASES)}")
        self._starts[phase] = _perf()

    def stop(self, phase: str) -> float:
        """Record the time since ``start(phase)`` and return it (seconds)."""
        t = _perf() - self._starts[phase]
        self.record(phase, t)
        return t

    def measure(self, phase: str) -> _Span:
        """A context manager timing its body as ``phase`` (not re-entrant for the same phase)."""
        return self._spans[phase]

    def record(self, phase: str, seconds: float) -> None:
        """Add one measurement of ``seconds`` to ``phase``."""
        s = self._stats[phase]
        if s is None:
            self._stats[phase] = [seconds, seconds, seconds, seconds, 1]
            return
        s[0] = seconds
        if seconds < s[1]:
            s[1] = seconds
        if seconds > s[2]:
            s[2] = seconds
        s[3] += seconds
        s[4] += 1

    def last(self, phase: str) -> float | None:
        """The latest measurement of ``phase``, or None if it was never measured."""
        s = self._stats[phase]
        return None if s is None else s[0]

    def stats(self, phase: str) -> tuple[float, float, float, float, int] | None:
        """``(last, min, max, total, count)`` for ``phase``, or None if never measured."""
        s = self._stats[phase]
        return None if s is None else (s[0], s[1], s[2], s[3], int(s[4]))

    def as_log_value(self) -> dict[str, tuple[float, float, float, float, int] | None]:
        """The TimingLogging association (§3.7): verbose key -> (last, min, max, total, count)
        or None for a phase never measured."""
        return {VERBOSE_KEYS[p]: self.stats(p) for p in PHASES}

    def as_callback_dict(self) -> dict[str, dict[str, float | None]]:
        """The ``"$InternalTimings"`` / ``"$Timings"`` view (§4.2): verbose key ->
        ``{"Last", "Min", "Max", "Mean"}``.

        A phase never measured gets all four values ``None`` (where the paclet leaves an
        unevaluated conversion): the shape stays the same so ``info["$Timings"]["Gen"]["Max"]``
        never raises.
        """
        out: dict[str, dict[str, float | None]] = {}
        for p in PHASES:
            s = self._stats[p]
            if s is None:
                out[VERBOSE_KEYS[p]] = {"Last": None, "Min": None, "Max": None, "Mean": None}
            else:
                out[VERBOSE_KEYS[p]] = {"Last": s[0], "Min": s[1], "Max": s[2], "Mean": s[3] / s[4]}
        return out


def timings_for_callback(timer: PhaseTimer) -> dict[str, Any]:
    """Both keys a TrainingProgressFunction may read: ``"$InternalTimings"`` (the README name)
    and ``"$Timings"`` (the stored paclet's name), sharing one dict."""
    view = timer.as_callback_dict()
    return {"$InternalTimings": view, "$Timings": view}
