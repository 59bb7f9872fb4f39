"""Loop overhead: `wlbridge.net_train` per round vs a hand-written PyTorch loop, same work.

Same model (MLP 784-256-256-10), data (20,000 random examples), batches (the same fixed batch
assignment, pre-gathered tensors), optimizer (ADAM, LR 0.001) and thread count (2). The two are
run interleaved in one process, several rounds each, and the medians of the per-round times are
compared. Then each logger channel is switched on in turn to show what it costs.

    python benchmarks/bench_loop_overhead.py [--rounds 3] [--repeats 3]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

import wlbridge
from engine.denormal import flush_denormals

NET = ('NetChain[{LinearLayer[256], Ramp, LinearLayer[256], Ramp, LinearLayer[10], '
       'SoftmaxLayer[]}, "Input" -> 784, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
N = 20_000


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, 784)).astype(np.float32), rng.integers(0, 10, N)


def hand_rounds(x: np.ndarray, y: np.ndarray, bs: int, rounds: int) -> list[float]:
    """The reference: a plain PyTorch loop over pre-batched tensors, one loss read per batch."""
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5)
    rng = np.random.default_rng(1)
    bpr = -(-N // bs)
    idx = np.concatenate([np.arange(N), rng.integers(0, N, bpr * bs - N)])
    perm = torch.from_numpy(rng.permutation(idx).reshape(bpr, bs))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batches = [(xt[p], yt[p]) for p in perm]
    times, losses = [], []
    with flush_denormals(True):  # as net_train does on the CPU
        for _ in range(rounds):
            times.append(_hand_round(model, opt, batches, losses))
    return times


def _hand_round(model, opt, batches, losses) -> float:
    t0 = time.perf_counter()
    for xb, yb in batches:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return time.perf_counter() - t0


def wl_rounds(x: np.ndarray, y: np.ndarray, bs: int, rounds: int, internal: str = "") -> list[float]:
    """Per-round times of net_train, from a "RoundComplete" event callback."""
    stamps: list[float] = []

    def on(info):
        stamps.append(time.perf_counter())

    start: list[float] = []

    def started(info):
        start.append(time.perf_counter())

    opts = (f"BatchSize -> {bs}, MaxTrainingRounds -> {rounds}, RandomSeeding -> 1, "
            'TrainingProgressReporting -> None, Method -> "ADAM"'
            + (f', "InternalOptions" -> {{{internal}}}' if internal else ""))
    wlbridge.net_train(NET, {"Input": x, "Output": y}, "TotalBatches", options=opts,
                       **_event_callbacks(on, started))
    marks = start[:1] + stamps
    return [b - a for a, b in zip(marks, marks[1:], strict=False)]


def _event_callbacks(on, started) -> dict:
    """TrainingProgressFunction -> {{f, "Event" -> ...}, ...} with Python callables."""
    from wolframclient.language import wl

    return {"TrainingProgressFunction": (
        (started, wl.Rule("Event", "TrainingStarted")),
        (on, wl.Rule("Event", "RoundComplete")),
    )}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    # Flush subnormals in *every* thread: the flag is per thread and torch's intra-op workers
    # inherit it only when created after it is set. Without this, random-data runs hit the
    # x86 subnormal slow path at random and per-round times vary ten-fold.
    torch.set_flush_denormal(True)
    torch.set_num_threads(2)
    x, y = data()
    print("| batch | hand loop s/round | net_train s/round | overhead |")
    print("|---:|---:|---:|---:|")
    for bs in (64, 256):
        hand, ours = [], []
        for _ in range(args.repeats):  # interleaved
            hand += hand_rounds(x, y, bs, args.rounds)
            ours += wl_rounds(x, y, bs, args.rounds)
        h, o = statistics.median(hand), statistics.median(ours)
        print(f"| {bs} | {h:.4f} | {o:.4f} | {100 * (o / h - 1):+.1f} % |")
    print()
    print("| logger on (batch 256) | net_train s/round | vs all off |")
    print("|---|---:|---:|")
    base = statistics.median(wl_rounds(x, y, 256, args.rounds))  # loggers: batch 256 only
    print(f"| none | {base:.4f} | |")
    for option in ("CoreLoopLogging", "TrainerLogging", "ExecutorLogging", "PermutationLogging",
                   "TimingLogging", "MemoryUsageLogging", "GradientLogging"):
        t = statistics.median(wl_rounds(x, y, 256, args.rounds, f'"{option}" -> Bag[]'))
        print(f"| {option} | {t:.4f} | {100 * (t / base - 1):+.1f} % |")


if __name__ == "__main__":
    main()
