"""Logs written to File["….wl"] read back exactly (reference §2.1, §2.2, §3).

One file takes VerboseLogging (Plan, Executor, Bucketing, MemoryUsage, Permutation, Timing)
and GradientLogging at once, as NetTrain allows; every line must be one
``{time, absBatch} -> value`` rule in InputForm that `wlbridge.parse` reads back.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wolframclient.language import wl

import engine.loop
import wlbridge

NET = ('NetChain[{LinearLayer[8], Tanh, LinearLayer[3], SoftmaxLayer[]}, "Input" -> 4, '
       '"Output" -> NetDecoder[{"Class", {"a", "b", "c"}}]]')
OPTS = ('BatchSize -> 16, MaxTrainingRounds -> 2, RandomSeeding -> 7, '
        'TrainingProgressReporting -> None')


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 48)
    x = rng.normal(size=(48, 4)).astype(np.float32) + 2 * np.eye(3, 4)[y]
    return {"Input": x, "Output": np.array(["a", "b", "c"])[y].tolist()}


def _run(data, **internal):
    torch.set_num_threads(1)
    rules = tuple(wl.Rule(k, v) for k, v in internal.items())
    return wlbridge.net_train(NET, data, "All", options=OPTS, InternalOptions=rules)


@pytest.fixture(scope="module")
def logged(data, tmp_path_factory):
    """(parsed entries of the shared log file, the results, Bag-logged gradients of a rerun)."""
    path = str(tmp_path_factory.mktemp("logs") / "log.wl")
    mp = pytest.MonkeyPatch()
    mp.setattr(engine.loop, "TIMING_LOG_PERIOD", 0.0)  # a Timing entry every batch
    try:
        res = _run(data, VerboseLogging=wl.File(path), GradientLogging=wl.File(path),
                   MemoryReportingInterval=0)  # a sample every batch: 1e-3 s missed fast ones
    finally:
        mp.undo()
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    bag = wlbridge.Bag()
    _run(data, GradientLogging=bag)  # same seed, same run: the same gradients
    return [wlbridge.parse(line) for line in lines], res, bag


def _is_gradient(v):
    return isinstance(v, dict) and "GradientMagnitudes" in v


def test_every_line_is_a_time_batch_rule(logged):
    """§2.1: each line is ``{SessionTime, absBatch} -> value`` with a real and an integer;
    the times never go back."""
    entries, _, _ = logged
    assert len(entries) > 20
    times = []
    for e in entries:
        assert e.head == wl.Rule and len(e.args) == 2
        (t, b), _v = e.args
        assert isinstance(t, float) and isinstance(b, int) and not isinstance(b, bool)
        times.append(t)
    assert times == sorted(times)


def test_absolute_batches_are_zero_in_setup_then_count_the_batches(logged):
    """§2.1: absBatch is 0 during setup, then 1..TotalBatches in order; GradientLogging
    writes exactly one entry per batch (§3.8)."""
    entries, res, _ = logged
    batches = [e.args[0][1] for e in entries]
    assert batches[0] == 0 and batches == sorted(batches)
    assert max(batches) == res["TotalBatches"] == 6
    grads = [e.args[0][1] for e in entries if _is_gradient(e.args[1])]
    assert grads == list(range(1, 7))


def test_verbose_logging_fans_out_to_its_channels(logged):
    """§1.3 row 12: VerboseLogging writes Plan, Executor, Permutation, MemoryUsage and Timing
    entries (Bucketing only for sequences); GradientLogging shares the file."""
    entries, _, _ = logged
    vals = [e.args[1] for e in entries]
    setup = [e.args[1] for e in entries if e.args[0][1] == 0]
    assert any(isinstance(v, tuple) and v[:1] == ("ToNetPlan",) for v in setup)
    assert any(isinstance(v, tuple) and v[:1] == (wl.NetExecutorCreate,) for v in setup)
    assert "Training" in setup
    assert any(isinstance(v, tuple) and v[:1] == ("PermutationCompressed",) for v in setup)
    assert any(isinstance(v, dict) and set(v) >= {"System", "Kernel"} for v in vals)
    timing = [v for v in vals if isinstance(v, dict) and "Synchronize" in v]
    assert timing and timing[-1]["Batch"][4] == 6  # (last, min, max, total, count)


def test_logged_numbers_read_back_bit_identical(logged):
    """Reals are written with every digit: the gradient magnitudes read from the file equal,
    bit for bit, those a Bag received in an identical (same seed) run."""
    entries, _, bag = logged
    from_file = [e.args[1] for e in entries if _is_gradient(e.args[1])]
    from_bag = [e[1] for e in bag]
    assert len(from_file) == len(from_bag) == 6
    for f, b in zip(from_file, from_bag, strict=True):
        for key in ("GradientMagnitudes", "UpdateMagnitudes"):
            a, c = np.asarray(f[key], dtype=np.float64), np.asarray(b[key], dtype=np.float64)
            assert a.shape == c.shape and a.tobytes() == c.tobytes()
    timings = [e.args[1] for e in entries if isinstance(e.args[1], dict)
               and "Synchronize" in e.args[1]]
    # Timing reals are exact too: (last, min, max, total, count) is a running statistic, so
    # where one measurement separates two entries, total' == total + last' holds bit for bit
    # in float arithmetic only if every value was written with all its digits.
    checked = 0
    for before, after in zip(timings, timings[1:], strict=False):
        for key, p in before.items():
            q = after[key]
            if p is None or q is None or q[4] != p[4] + 1:
                continue
            assert q[3] == p[3] + q[0], (key, p, q)
            assert q[1] == min(p[1], q[0]) and q[2] == max(p[2], q[0]), (key, p, q)
            checked += 1
    assert checked >= 10
