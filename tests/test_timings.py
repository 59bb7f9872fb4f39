"""Phase timings (engine.timings): running last/min/max/mean per phase, reference §4 and §3.7."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from engine.intervals import Trigger
from engine.timings import (
    PHASES,
    VERBOSE_KEYS,
    PhaseTimer,
    timings_for_callback,
)

ORDER = ["Batch", "Executor", "Synchronize", "Generator", "Collector", "Reporting", "Callbacks"]


def test_phases_are_measured_and_ordered():
    """Each measured phase gets min <= mean <= max, and last is the latest duration (§4.2)."""
    timer = PhaseTimer()
    for d in (0.003, 0.001, 0.002):
        with timer.measure("exec"):
            time.sleep(d)
    timer.start("sync")
    time.sleep(0.001)
    got = timer.stop("sync")
    view = timer.as_callback_dict()
    ex = view["Executor"]
    assert ex["Min"] <= ex["Mean"] <= ex["Max"]
    assert ex["Min"] >= 0.001 and ex["Max"] >= 0.003
    assert ex["Last"] == timer.last("exec") and ex["Last"] < ex["Max"]
    assert view["Synchronize"]["Last"] == got >= 0.001
    last, mn, mx, total, count = timer.stats("exec")
    assert count == 3 and total == pytest.approx(ex["Mean"] * 3)


def test_callback_dict_keys_and_unmeasured_phases():
    """"$InternalTimings" uses the verbose keys of §4.1; an unmeasured phase has all-None values."""
    timer = PhaseTimer()
    view = timer.as_callback_dict()
    assert list(view) == ORDER
    assert all(v == {"Last": None, "Min": None, "Max": None, "Mean": None} for v in view.values())
    timer.record("gen", 0.5)
    view = timer.as_callback_dict()
    assert view["Generator"] == {"Last": 0.5, "Min": 0.5, "Max": 0.5, "Mean": 0.5}
    both = timings_for_callback(timer)
    assert both["$InternalTimings"] == both["$Timings"] == view


def test_log_value_is_the_five_list_of_section_3_7():
    """TimingLogging: verbose key -> (last, min, max, total, count) or None (§3.7, §4.2)."""
    timer = PhaseTimer()
    for t in (0.2, 0.1, 0.4):
        timer.record("batch", t)
    value = timer.as_log_value()
    assert list(value) == ORDER
    assert value["Batch"] == (0.4, 0.1, 0.4, pytest.approx(0.7), 3)
    assert value["Callbacks"] is None
    assert set(VERBOSE_KEYS) == set(PHASES) == {"batch", "exec", "sync", "gen", "coll", "rep", "calls"}


def test_unknown_phase_fails_loudly():
    timer = PhaseTimer()
    with pytest.raises(KeyError, match="unknown timing phase"):
        timer.start("forward")
    with pytest.raises(KeyError):
        timer.measure("forward")


def test_memory_is_constant():
    """Running statistics, not lists: 20000 measurements allocate (almost) nothing."""
    timer = PhaseTimer()
    span = timer.measure("coll")
    with span:
        pass
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(20000):
        with timer.measure("coll"):
            pass
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 2000
    assert timer.stats("coll")[4] == 20001


def test_timing_log_schedule_every_ten_seconds():
    """First firing after >= 10 s of training, then threshold = firing time + 10 (§3.7, §9.6)."""
    s = Trigger((0, 0, 10.0))  # the schedule the loop uses for TimingLogging
    due = lambda t: s.due((1, 0, t))  # noqa: E731 - clock (absBatch, round, seconds)
    assert [due(t) for t in (0.0, 5.0, 9.99)] == [False, False, False]
    assert due(10.0)
    assert not due(19.9)
    assert due(23.0)  # late firing shifts the next threshold to 33
    assert not due(30.0)
    assert due(33.0)
