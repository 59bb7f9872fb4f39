"""Loop overhead: `wlbridge.net_train` per round vs a hand-written PyTorch loop, same work.

Same model (MLP 784-256-256-10), data (20,000 random examples), batches (the same fixed batch
assignment, pre-gathered tensors), loss (`F.cross_entropy` on logits in the hand loop; net_train
fuses SoftmaxLayer + CrossEntropyLoss the same way), optimizer (ADAM, LR 0.001, epsilon 1e-5) and
thread count (2). The hand loop runs twice: `torch.optim.Adam` as constructed by default (on the
CPU that is the per-tensor loop) and `Adam(foreach=True)` (multi-tensor kernels, which is what
`engine.optim` uses). All three are run interleaved in one process, several rounds each, and the
medians of the per-round times are compared. Then each logger channel is switched on in turn
(batch 256) to show what it costs, as a ratio to all loggers off.

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


def hand_rounds(x: np.ndarray, y: np.ndarray, bs: int, rounds: int,
                foreach: bool | None = None) -> list[float]:
    """The reference: a plain PyTorch loop over pre-batched tensors, one loss read per batch.
    ``foreach=None`` is torch's default Adam, ``True`` its multi-tensor implementation."""
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5, foreach=foreach)
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
    print("| batch | hand Adam() s/round | hand Adam(foreach) s/round | net_train s/round "
          "| vs Adam() | vs Adam(foreach) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for bs in (64, 256):
        plain, multi, ours = [], [], []
        for _ in range(args.repeats):  # interleaved
            plain += hand_rounds(x, y, bs, args.rounds)
            multi += hand_rounds(x, y, bs, args.rounds, foreach=True)
            ours += wl_rounds(x, y, bs, args.rounds)
        p, m, o = (statistics.median(v) for v in (plain, multi, ours))
        print(f"| {bs} | {p:.4f} | {m:.4f} | {o:.4f} | {o / p:.3f} | {o / m:.3f} |")
    print()
    print("| logger on (batch 256) | channel | net_train s/round | ratio to all off |")
    print("|---|---|---:|---:|")
    loggers = (("PlanLogging", "Plan"), ("ExecutorLogging", "Executor"),
               ("MemoryUsageLogging", "MemoryUsage"), ("TimingLogging", "Timing"),
               ("PermutationLogging", "Permutation"), ("GradientLogging", "Gradient"),
               ("MXNetLogging", "Backend"), ("CoreLoopLogging", "CoreLoop"),
               ("TrainerLogging", "Trainer"))
    base_runs: list[float] = []
    runs: dict[str, list[float]] = {o: [] for o, _ in loggers}
    for _ in range(args.repeats):  # interleaved with the all-off baseline
        base_runs += wl_rounds(x, y, 256, args.rounds)
        for option, _ in loggers:
            rounds = 1 if option == "MXNetLogging" else args.rounds  # one Python call per op
            runs[option] += wl_rounds(x, y, 256, rounds, f'"{option}" -> Bag[]')
    base = statistics.median(base_runs)
    print(f"| none | | {base:.4f} | 1.000 |")
    for option, channel in loggers:
        t = statistics.median(runs[option])
        print(f"| {option} | {channel} | {t:.4f} | {t / base:.3f} |")


if __name__ == "__main__":
    main()
