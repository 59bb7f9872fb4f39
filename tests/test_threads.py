"""ThreadPolicy (issue 11 item 4): torch's CPU thread count follows the machine's load.

The governor's rule is checked twice: deterministically, on batch times that depend on the
thread count as a contended or a quiet machine makes them, and for real, in a subprocess that
trains a torch MLP while a busy-loop process competes for a core and then stops. The policy's
other half — never overriding a threading choice the user made — is checked in process and
through the ``wlbridge`` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import ROOT

import wlbridge
from engine import threads
from engine.threads import ThreadGovernor, governed_threads, ladder, resolve_policy

# ---------------------------------------------------------------------------------------------
# The rule, on simulated batch times


class Machine:
    """Batch seconds as a function of the thread count; ``idle`` is what /proc/stat would say."""

    def __init__(self, times: dict[int, float], idle: float | None):
        self.times, self.idle, self.now = times, idle, 0.0
        self.count = max(times)

    def set(self, n: int) -> None:
        self.count = n

    def clock(self) -> float:
        return self.now

    def run(self, gov: ThreadGovernor, batches: int) -> None:
        for _ in range(batches):
            t = self.times[self.count]
            self.now += t
            gov.observe(t)


def governor(m: Machine) -> ThreadGovernor:
    return ThreadGovernor(max(m.times), set_threads=m.set, clock=m.clock, idle=lambda: m.idle)


def test_ladder_halves_down_to_one():
    assert ladder(16) == [16, 8, 4, 2, 1]
    assert ladder(6) == [6, 3, 1]
    assert ladder(2) == [2, 1] and ladder(1) == [1]


def test_contention_lowers_and_quiet_restores():
    m = Machine({2: 0.010, 1: 0.004}, idle=0.0)  # 2 threads spin-wait on a busy core: 2.5x
    gov = governor(m)
    m.run(gov, 200)
    assert gov.threads == 1 and m.count == 1
    # started at one thread and, the other core being busy, did not explore two
    assert [why for _, _, why in gov.history] == ["start"]
    m.times, m.idle = {2: 0.002, 1: 0.004}, 1.0  # the competitor stopped: a core lies idle
    m.run(gov, 200)
    assert gov.threads == 2 and m.count == 2
    assert [why.split(":")[0] for _, _, why in gov.history] == ["start", "probe", "kept"]
    assert gov.history[1][2] == "probe: idle cores"


def test_without_proc_stat_the_exploring_probe_loses_within_two_batches():
    """No idle-core reading: explore anyway; 2 batches of 40 ms exceed the 1-thread window
    (13 batches of 4 ms), so the probe ends there."""
    m = Machine({2: 0.040, 1: 0.004}, idle=None)
    gov = governor(m)
    m.run(gov, 100)
    assert gov.threads == 1
    (b0, _, w0), (b1, n1, w1) = gov.history[1:3]
    assert w0 == "probe: explore" and w1.startswith("back") and n1 == 1 and b1 - b0 == 2


def test_idle_machine_keeps_all_threads_after_exploring():
    m = Machine({2: 0.002, 1: 0.0035}, idle=1.0)
    gov = governor(m)
    m.run(gov, 30_000)  # a minute of simulated batches
    assert gov.threads == 2
    # start at one, one exploring probe of two, kept ...
    assert [(c, why.split(":")[0]) for _, c, why in gov.history[:3]] == \
        [(1, "start"), (2, "probe"), (2, "kept")]
    # ... then only rechecks of one thread, each taken back, rarer and rarer
    rest = gov.history[3:]
    assert [why.split(":")[0] for _, _, why in rest] == ["probe", "back"] * (len(rest) // 2)
    assert all(why == "probe: recheck" for _, _, why in rest[::2])
    starts = [b for b, _, _ in rest[::2]]
    assert 3 <= len(starts) <= 6
    gaps = np.diff(starts)
    assert all(b > a for a, b in zip(gaps, gaps[1:], strict=False))
    assert m.now < 1.02 * 30_000 * 0.002  # what exploring and rechecking cost: < 2 %


def recheck_free(history: list) -> list:
    """The history without the rechecks of fewer threads and their answers."""
    out, skip = [], False
    for entry in history:
        if skip:
            skip = False
            continue
        if entry[2] == "probe: recheck":
            skip = True
            continue
        out.append(entry)
    return out


def test_a_jump_mid_run_moves_down_within_two_windows():
    m = Machine({2: 0.002, 1: 0.0035}, idle=1.0)
    gov = governor(m)
    m.run(gov, 300)
    assert gov.threads == 2
    m.times = {2: 0.020, 1: 0.004}  # a competitor arrives
    before = gov.batches
    m.run(gov, 2 * threads.WINDOW_BATCHES + 30)
    assert gov.threads == 1
    assert gov.history[-1][0] - before < 40


def test_slower_work_is_not_contention():
    """Longer batches at every count (a longer bucket, say) cost one probe, then are normal."""
    m = Machine({2: 0.002, 1: 0.0035}, idle=1.0)
    gov = governor(m)
    m.run(gov, 300)
    m.times = {2: 0.006, 1: 0.0105}
    n = len(recheck_free(gov.history))
    m.run(gov, 2000)
    assert gov.threads == 2
    assert len(recheck_free(gov.history)) - n == 2, gov.history  # probe down, back


def test_failed_probes_back_off():
    """Under lasting contention without idle cores, probes up get rarer (doubling waits)."""
    m = Machine({2: 0.050, 1: 0.004}, idle=0.0)
    gov = governor(m)
    m.run(gov, 30_000)  # two minutes of simulated batches
    probes = [b for b, _, why in gov.history if why.startswith("probe")]
    assert gov.threads == 1 and 4 <= len(probes) <= 8, gov.history
    gaps = np.diff(probes)
    assert all(b >= a for a, b in zip(gaps, gaps[1:], strict=False))
    # each failed probe ended early, once slower than a whole window at one thread
    backs = [b for b, _, why in gov.history if why.startswith("back")]
    assert all(b - p <= 2 for p, b in zip(probes, backs, strict=True)), gov.history


def test_idle_cores_bring_the_probe_forward():
    m = Machine({2: 0.050, 1: 0.004}, idle=0.0)
    gov = governor(m)
    m.run(gov, 5000)  # 20 s: the retry wait has grown past 8 s
    assert gov.threads == 1
    m.times, m.idle = {2: 0.002, 1: 0.004}, 1.0
    start = m.now
    m.run(gov, 200)
    assert gov.threads == 2
    assert m.now - start < 1.0


# ---------------------------------------------------------------------------------------------
# The rule on a real machine: a torch MLP, a real busy process


REAL = textwrap.dedent("""
    import json, subprocess, sys, time, torch
    from torch import nn
    from engine.threads import ThreadGovernor, governed_threads
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    x, y = torch.randn(256, 784), torch.randint(0, 10, (256,))

    def batch():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        return time.perf_counter() - t0

    def ab():
        # the truth right now: seconds per batch at 2 and at 1 thread, interleaved
        keep, res = torch.get_num_threads(), {2: [], 1: []}
        for _ in range(3):
            for n in (2, 1):
                torch.set_num_threads(n)
                batch()
                res[n].append(batch())
        torch.set_num_threads(keep)
        return {n: sorted(v)[1] for n, v in res.items()}

    out = {}
    with governed_threads("Fixed"):  # puts the count back at the end
        # at the full count, as after a quiet start, so that lowering it is what is tested
        gov = ThreadGovernor(torch.get_num_threads(), start_low=False)
        def run(seconds, stop=None, least=0):
            # for ``seconds`` (and ``least`` batches) or until ``stop()``, and on while a probe
            # is still undecided
            t0, n = time.perf_counter(), 0
            while (time.perf_counter() - t0 < seconds and not (stop and stop())) \
                    or n < least or gov.probing:
                gov.observe(batch())
                n += 1
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.2)
        run(1.5, least=20)  # the first retry comes 2 s after moving down: here, after the competitor
        out["busy_threads"] = gov.threads
        out["busy_ab"] = ab()
        busy.kill(); busy.wait()
        mark = len(gov.history)
        # until two threads are kept (a probe judged on a noisy batch may be retried)
        run(6.0, lambda: gov.threads == 2)
        out["quiet_threads"] = gov.threads
        out["quiet_ab"] = ab()
        out["history"] = gov.history
        out["mark"] = mark
    out["after"] = torch.get_num_threads()
    print(json.dumps(out))
""")


@pytest.mark.skipif(os.environ.get("WLBRIDGE_TIMING_TESTS") != "1",
                    reason="judges the governor by wall-clock speed on the real machine, which "
                           "another process on the same cores can reverse (speed belongs in "
                           "benchmarks/bench_threads.py); set WLBRIDGE_TIMING_TESTS=1 to run it")
def test_real_competitor_lowers_then_restores():
    """A busy process on one core makes a governor at two threads drop to one; when it stops,
    the governor probes back up and keeps two threads if they are faster. Other processes on a
    shared machine also load it, so each phase's end state is checked against an interleaved
    measurement of both counts taken right then (asserted only where they differ by 30 %)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for k in threads.USER_VARIABLES:
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-c", REAL], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    busy, quiet = out["busy_ab"], out["quiet_ab"]
    # the premise: a spinning competitor makes two threads clearly slower than one
    assert busy["2"] > 1.3 * busy["1"], out
    assert out["busy_threads"] == 1, out
    assert any("kept" in why and n == 1 for _, n, why in out["history"][:out["mark"]]), out
    after_kill = out["history"][out["mark"]:]
    assert any(why.startswith("probe") and n == 2 for _, n, why in after_kill), out
    if quiet["2"] < 0.7 * quiet["1"]:
        assert out["quiet_threads"] == 2, out
    elif quiet["2"] > 1.3 * quiet["1"]:  # still contended by someone else: one thread is right
        assert out["quiet_threads"] == 1, out
    assert out["after"] == 2  # the count found on entry is back


# ---------------------------------------------------------------------------------------------
# The policy: never overriding the user


@pytest.fixture
def two_threads():
    """torch at its own default count (the test session runs with one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads.default_threads())
    yield threads.default_threads()
    torch.set_num_threads(before)


def test_policy_resolution(two_threads, monkeypatch):
    for k in threads.USER_VARIABLES:
        monkeypatch.delenv(k, raising=False)
    assert threads.user_threading() is None
    assert resolve_policy(None) == ("adaptive", None)
    assert resolve_policy(None, "cuda") == ("fixed", None)  # CPU threads are not the work there
    assert resolve_policy("Fixed") == ("fixed", None)
    assert resolve_policy(3) == ("fixed", 3)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert threads.user_threading() == "OMP_WAIT_POLICY=PASSIVE"
    assert resolve_policy(None) == ("fixed", None)
    assert resolve_policy("Adaptive") == ("adaptive", None)  # asked for explicitly
    monkeypatch.delenv("OMP_WAIT_POLICY")
    torch.set_num_threads(1)
    assert threads.user_threading() == "torch.set_num_threads(1)"
    assert resolve_policy(None) == ("fixed", None)


def test_governed_threads_sets_and_restores(two_threads, monkeypatch):
    for k in threads.USER_VARIABLES:
        monkeypatch.delenv(k, raising=False)
    with governed_threads(1) as gov:
        assert gov is None and torch.get_num_threads() == 1
    assert torch.get_num_threads() == two_threads
    with governed_threads("Fixed") as gov:
        assert gov is None and torch.get_num_threads() == two_threads
    if two_threads > 1:
        with governed_threads(None) as gov:
            assert gov is not None and gov.counts[0] == two_threads
            assert gov.threads == 1 and torch.get_num_threads() == 1  # it starts low
        assert torch.get_num_threads() == two_threads


NET = 'NetChain[{LinearLayer[3]}, "Input" -> 4]'


def test_net_train_option_sets_the_count_for_the_run():
    """"ThreadPolicy" -> 1: training sees one thread; the caller's count is back afterwards."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.normal(size=(40, 3))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for policy, want in (("1", 1), ('"Fixed"', 2)):
            seen: list[int] = []
            wlbridge.net_train(NET, (x, y), BatchSize=8, MaxTrainingRounds=2,
                               TrainingProgressReporting=None,
                               TrainingProgressFunction=lambda a, seen=seen: seen.append(
                                   torch.get_num_threads()),
                               options=f'"InternalOptions" -> {{"ThreadPolicy" -> {policy}}}')
            assert seen and set(seen) == {want}, policy
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_adaptive_policy_governs_the_training_loop(two_threads):
    """"ThreadPolicy" -> "Adaptive" through net_train: the loop runs inside the governor, which
    starts at one thread, and every later count the batches see is one it logged on the Backend
    channel (MXNetLogging) as ("torch.set_num_threads", n, why); the caller's count is back
    afterwards."""
    from wolframclient.language import wl

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 4)).astype(np.float32), rng.normal(size=(400, 3))
    seen: list[int] = []
    bag = wlbridge.Bag()
    wlbridge.net_train(NET, (x, y), BatchSize=8, MaxTrainingRounds=3,
                       TrainingProgressReporting=None,
                       TrainingProgressFunction=(lambda a: seen.append(torch.get_num_threads()),
                                                 wl.Rule("Interval", wl.Quantity(1, "Batches"))),
                       InternalOptions=(wl.Rule("ThreadPolicy", "Adaptive"),
                                        wl.Rule("MXNetLogging", bag)))
    notes = [e[1] for e in bag if isinstance(e[1], tuple) and e[1][:1] == ("torch.set_num_threads",)]
    assert len(seen) == 150 and seen[0] == 1  # a callback per batch; the governor starts low
    assert set(seen) <= {1, *(n[1] for n in notes)}
    assert all(n[1] in (1, two_threads) and isinstance(n[2], str) for n in notes)
    assert torch.get_num_threads() == two_threads


CLI_CHECK = textwrap.dedent("""
    import json, os, sys
    import engine.threads as t
    from wlbridge.cli import main
    rc = main(["train", sys.argv[1], sys.argv[2], "--options",
               'MaxTrainingRounds -> 1, TrainingProgressReporting -> None'])
    import torch
    print(json.dumps({"rc": rc, "pristine": t._torch_pristine, "default": t.default_threads(),
                      "threads": torch.get_num_threads(), "user": t.user_threading(),
                      "policy": t.resolve_policy(None),
                      "env": {k: os.environ.get(k) for k in t.USER_VARIABLES}}))
""")


def test_cli_notes_torch_default_before_it_loads_and_keeps_user_settings():
    """The command notes torch unloaded at its start (so torch's own count is read, not
    estimated) and changes no threading variable: a user's OMP_NUM_THREADS / OMP_WAIT_POLICY
    stay as set and turn Automatic into Fixed."""
    data = '{{1., 2., 3., 4.} -> {1., 0., 0.}, {0., 1., 0., 1.} -> {0., 1., 0.}}'
    base = {k: v for k, v in os.environ.items() if k not in threads.USER_VARIABLES}
    base["PYTHONPATH"] = str(ROOT)
    procs = {name: subprocess.Popen([sys.executable, "-c", CLI_CHECK, NET, data], cwd=ROOT,
                                    env={**base, **extra}, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, extra in (("plain", {}), ("user", {"OMP_NUM_THREADS": "1",
                                                          "OMP_WAIT_POLICY": "PASSIVE"}))}
    runs = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        runs[name] = json.loads(stdout.strip().splitlines()[-1])
    plain, user = runs["plain"], runs["user"]
    assert plain["rc"] == 0 and plain["pristine"] is True
    assert plain["default"] == plain["threads"]  # torch's own count, restored after training
    assert plain["user"] is None and plain["policy"] == ["adaptive", None]
    assert all(v is None for v in plain["env"].values())  # nothing was set for the user
    assert user["rc"] == 0 and user["threads"] == 1
    assert user["env"]["OMP_NUM_THREADS"] == "1" and user["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert user["user"] == "OMP_NUM_THREADS=1" and user["policy"] == ["fixed", None]


def test_python_api_notes_torch_unloaded_at_import():
    """`import wlbridge` in a fresh interpreter (torch not loaded) means torch's own count is
    read exactly; importing torch first leaves the estimate, and a user's
    torch.set_num_threads before that is then seen as the user's choice."""
    code = ("import sys, wlbridge, engine.threads as t; print(t._torch_pristine, "
            "'torch' in sys.modules)")
    first = ("import torch; torch.set_num_threads(1); import wlbridge, engine.threads as t; "
             "print(t._torch_pristine, t.user_threading(), t.resolve_policy(None))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for k in threads.USER_VARIABLES:
        env.pop(k, None)
    out = [subprocess.run([sys.executable, "-c", c], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120) for c in (code, first)]
    assert out[0].stdout.split() == ["True", "False"], out[0].stderr
    assert out[1].stdout.strip() == "False torch.set_num_threads(1) ('fixed', None)", \
        out[1].stderr
