"""CPU threads on an idle and on a busy machine: torch's defaults against ThreadPolicy's governor.

Two workloads, the same MLP (784-256-256-10, ADAM, batch 64, random data):

* the hand-written PyTorch loop, run with torch's default threads ("defaults"), with one
  thread, and with `engine.threads.governed_threads("Adaptive")` observing every batch;
* `wlbridge.net_train` with ``"ThreadPolicy" -> "Fixed"`` (torch's defaults, what wlbridge did
  before the option) and with the default ``Automatic`` (the governor).

"busy" runs a second process spinning on one core (``python -c "while True: pass"``), started
by this script. Loads and policies are interleaved, several repeats each, and the tables give
medians with the ratio defaults / policy (> 1: the policy is faster). A last table changes the
load while one run goes on (idle, busy, idle) and counts batches per second in each phase.
``uptime`` is printed before and after: other processes on the machine change the figures.

    python benchmarks/bench_threads.py [--repeats 3] [--batches 300] [--examples 9600] [--phase 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wlbridge  # noqa: E402
from engine.denormal import flush_denormals  # noqa: E402
from engine.threads import governed_threads  # noqa: E402

NET = ('NetChain[{LinearLayer[256], Ramp, LinearLayer[256], Ramp, LinearLayer[10], '
       'SoftmaxLayer[]}, "Input" -> 784, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
BS = 64
TOP = torch.get_num_threads()


def uptime() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


@contextmanager
def competitor(on: bool) -> Iterator[None]:
    """A second process busy on one core while the block runs (nothing when ``on`` is False)."""
    if not on:
        yield
        return
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)  # let it reach the CPU
    try:
        yield
    finally:
        p.kill()
        p.wait()


class HandLoop:
    """A plain PyTorch training loop over pre-batched tensors, one loss read per batch."""

    def __init__(self, batches: int):
        torch.manual_seed(0)
        self.model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                                   nn.ReLU(), nn.Linear(256, 10))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-5, foreach=True)
        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(batches * BS, 784, generator=g), torch.randint(0, 10, (batches * BS,))
        self.batches = list(zip(x.split(BS), y.split(BS), strict=True))

    def batch(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        loss.item()

    def run(self, policy: str, until: Callable[[int], bool] | None = None) -> tuple[float, int]:
        """Seconds for all batches (or, with ``until(done)``, the batch count when it says
        stop) under "defaults", "one thread" or "governor"."""
        pol = {"defaults": "Fixed", "one thread": 1, "governor": "Adaptive"}[policy]
        done, perf = 0, time.perf_counter
        with flush_denormals(True), governed_threads(pol) as gov:
            t0 = perf()
            while True:
                for xb, yb in self.batches:
                    b0 = perf()
                    self.batch(xb, yb)
                    if gov is not None:
                        gov.observe(perf() - b0)
                    done += 1
                    if until is not None and until(done):
                        return perf() - t0, done
                if until is None:
                    return perf() - t0, done


def net_train_seconds(x: np.ndarray, y: np.ndarray, policy: str) -> float:
    t0 = time.perf_counter()
    wlbridge.net_train(NET, (x, y), BatchSize=BS, MaxTrainingRounds=1,
                       TrainingProgressReporting=None,
                       options=f'"InternalOptions" -> {{"ThreadPolicy" -> {policy}}}')
    return time.perf_counter() - t0


def table(title: str, results: dict[tuple[str, str], list[float]], base: str,
          policies: list[str]) -> None:
    print(f"\n{title}\n")
    print("| machine | " + " | ".join(f"{p} (s)" for p in policies) + " | "
          + " | ".join(f"{base} / {p}" for p in policies if p != base) + " |")
    print("|---" * (2 * len(policies)) + "|")
    for load in ("idle", "busy"):
        med = {p: statistics.median(results[load, p]) for p in policies}
        ratios = [f"{med[base] / med[p]:.2f}×" for p in policies if p != base]
        print(f"| {load} | " + " | ".join(f"{med[p]:.3f}" for p in policies) + " | "
              + " | ".join(ratios) + " |")


class Phases:
    """``until(done)`` for `HandLoop.run`: idle, then busy, then idle again, ``seconds`` each;
    notes the batches done and the thread count at each phase's end."""

    def __init__(self, seconds: float):
        self.seconds, self.t0 = seconds, time.perf_counter()
        self.marks: list[int] = []
        self.threads: list[int] = []
        self.proc: subprocess.Popen | None = None

    def __call__(self, done: int) -> bool:
        phase = int((time.perf_counter() - self.t0) // self.seconds)
        if phase > len(self.marks):
            self.marks.append(done)
            self.threads.append(torch.get_num_threads())
            self.stop()
            if phase == 1:
                self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return phase >= 3

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def phases(loop: HandLoop, seconds: float) -> None:
    """One run per policy while the load changes: idle, busy, idle; batches/s per phase."""
    print(f"\nLoad changing during one run ({seconds:g} s idle, {seconds:g} s busy, "
          f"{seconds:g} s idle), hand loop, batches per second\n")
    print("| policy | idle | busy | idle again | threads at the end of each phase |")
    print("|---|---:|---:|---:|---|")
    for policy in ("defaults", "governor"):
        ph = Phases(seconds)
        try:
            loop.run(policy, ph)
        finally:
            ph.stop()
        m = ph.marks
        counts = [m[0], m[1] - m[0], m[2] - m[1]]
        print(f"| {policy} | " + " | ".join(f"{c / seconds:.0f}" for c in counts)
              + f" | {', '.join(map(str, ph.threads))} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, default=300, help="batches per hand-loop run")
    ap.add_argument("--examples", type=int, default=64 * 150, help="examples for net_train")
    ap.add_argument("--phase", type=float, default=2.0, help="seconds per load phase; 0: none")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch default threads {TOP}, "
          f"{uptime()}")
    loop = HandLoop(args.batches)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.examples, 784)).astype(np.float32)
    y = rng.integers(0, 10, args.examples)
    hand = ["defaults", "one thread", "governor"]
    wl = {"defaults": '"Fixed"', "governor": "Automatic"}
    loop.run("defaults")  # warm-up: allocations, kernels, the thread pool
    net_train_seconds(x[:BS * 4], y[:BS * 4], '"Fixed"')
    hr: dict[tuple[str, str], list[float]] = {}
    nr: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.repeats):
        for load in ("idle", "busy"):
            with competitor(load == "busy"):
                order = hand[rep % 3:] + hand[:rep % 3]  # rotate, so no policy always goes first
                for p in order:
                    hr.setdefault((load, p), []).append(loop.run(p)[0])
                for p in (list(wl) if rep % 2 == 0 else list(wl)[::-1]):
                    nr.setdefault((load, p), []).append(net_train_seconds(x, y, wl[p]))
    table(f"Hand-written PyTorch loop, {args.batches} batches, median of {args.repeats}",
          hr, "defaults", hand)
    table(f"net_train, {args.examples} examples, 1 round, median of {args.repeats} "
          "(defaults = \"ThreadPolicy\" -> \"Fixed\", governor = Automatic)", nr, "defaults",
          list(wl))
    if args.phase > 0:
        phases(loop, args.phase)
    print(f"\n{uptime()}")


if __name__ == "__main__":
    main()
