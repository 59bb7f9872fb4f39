"""The compiled training step against the hand-written eager PyTorch loop (issue 11, item 3).

Two workloads, each three ways, side by side in one run:

* **MLP**: the digits MLP (64 -> LinearLayer[64] -> Ramp -> LinearLayer[10], cross-entropy,
  ADAM, batch 64) on 4,096 random 8x8 "images".
* **LSTM bucketing**: EmbeddingLayer[32] -> LongShortTermMemoryLayer[64] -> SequenceLastLayer
  -> LinearLayer[2] over 1,024 sequences with lengths in 4..40, batch 32, bucketed (§7).

``raw`` is a hand-written eager loop (torch.nn modules, torch.optim.Adam(foreach), one
``loss.item()`` per batch, batches prepared before timing); ``eager`` and ``compiled`` are
``wlbridge.net_train`` without and with ``"CompileTrainingStep" -> True``. Throughput is
measured after warm-up (rounds 2.., from RoundComplete callbacks); compile time is the sum of
the step's CompiledStepCompile entries (first call of each shape), reported apart.

    python benchmarks/bench_compiled_step.py [--rounds 20] [--backend inductor|aot_eager]
        [--only mlp|lstm] [--threads 1]

inductor's C++ build takes about a minute per graph on a small CPU; aot_eager checks the
wiring in seconds (and is not faster than eager).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MLP_NET = ('NetChain[{LinearLayer[64], Ramp, LinearLayer[10], SoftmaxLayer[]}, "Input" -> 64, '
           '"Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
LSTM_NET = ('NetChain[{EmbeddingLayer[32], LongShortTermMemoryLayer[64], SequenceLastLayer[], '
            'LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Characters", '
            '"abcdefghijklmnopqrst"}], "Output" -> NetDecoder[{"Class", {"no", "yes"}}]]')


def mlp_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((4096, 64), dtype=np.float32)
    return x, rng.integers(0, 10, 4096)


def lstm_data(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    letters = np.array(list("abcdefghijklmnopqrst"))
    strings = ["".join(rng.choice(letters, int(n))) for n in rng.integers(4, 41, 1024)]
    return strings, np.array([int("a" in s) for s in strings])


def raw_mlp(x: np.ndarray, y: np.ndarray, rounds: int, device: str = "cpu") -> float:
    """Examples per second of the hand-written loop after its first round."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 10)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, foreach=True)
    xs, ys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    batches = [(xs[i:i + 64], ys[i:i + 64]) for i in range(0, len(xs), 64)]
    return _raw_rounds(batches, rounds, lambda b: torch.nn.functional.cross_entropy(
        net(b[0]), b[1]), opt)


def raw_lstm(strings: list[str], y: np.ndarray, rounds: int, device: str = "cpu") -> float:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(21, 32).to(device)
    lstm = torch.nn.LSTM(32, 64, batch_first=True).to(device)
    lin = torch.nn.Linear(64, 2).to(device)
    params = [*emb.parameters(), *lstm.parameters(), *lin.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, foreach=True)
    order = np.argsort([len(s) for s in strings], kind="stable")  # bucketed: sorted batches
    batches = []
    for i in range(0, len(order), 32):
        idx = order[i:i + 32]
        n = max(len(strings[j]) for j in idx)
        ids = torch.zeros(len(idx), n, dtype=torch.long)
        for r, j in enumerate(idx):
            ids[r, :len(strings[j])] = torch.tensor([ord(c) - 96 for c in strings[j]])
        lens = torch.tensor([len(strings[j]) for j in idx])
        batches.append((ids.to(device), lens.to(device), torch.from_numpy(y[idx]).to(device)))

    def loss(b):
        out, _ = lstm(emb(b[0]))
        last = out[torch.arange(len(b[1])), b[1] - 1]
        return torch.nn.functional.cross_entropy(lin(last), b[2])
    return _raw_rounds(batches, rounds, loss, opt)


def _raw_rounds(batches: list, rounds: int, loss_of, opt) -> float:
    examples, t_warm = 0, 0.0
    rng = np.random.default_rng(0)
    for r in range(rounds):
        if r == 1:
            t_warm = time.perf_counter()
        for j in rng.permutation(len(batches)):
            b = batches[j]
            opt.zero_grad()
            loss = loss_of(b)
            loss.backward()
            opt.step()
            loss.item()
            if r >= 1:
                examples += len(b[-1])
    return examples / (time.perf_counter() - t_warm)


def wlbridge_run(net: str, data, batch: int, rounds: int, compiled: bool,
                 extra: str = "") -> tuple[float, float]:
    """(examples per second after round 1, compile seconds) of net_train."""
    from wolframclient.language import wl

    import wlbridge
    from wlbridge.sinks import bag

    ends: list[float] = []
    tag = f"bench{uuid.uuid4().hex[:8]}"
    wlbridge.net_train(
        net, data, "BatchLossList",
        options=f'MaxTrainingRounds -> {rounds}, BatchSize -> {batch}, RandomSeeding -> 1, '
        f'TrainingProgressReporting -> None, {extra}"InternalOptions" -> {{"CompileTrainingStep" -> '
        f'{"True" if compiled else "False"}, "ExecutorLogging" -> Bag["{tag}"]}}',
        TrainingProgressFunction=(lambda a: ends.append(time.perf_counter()),
                                  wl.Rule("Event", "RoundComplete")))
    n = len(data["Output"]) if isinstance(data, dict) else len(data)
    per_round = -(-n // batch) * batch
    compile_s = sum(float(e.args[1][2]) for e in bag(tag)
                    if str(e.args[1][0]) == "CompiledStepCompile")
    return per_round * (len(ends) - 1) / (ends[-1] - ends[0]), compile_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20,
                    help="rounds; throughput is measured over rounds 2.. (short runs are noise)")
    ap.add_argument("--backend", default="inductor")
    ap.add_argument("--only", choices=["mlp", "lstm"])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: no OpenMP busy-waiting on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["WLBRIDGE_COMPILE_BACKEND"] = args.backend
    from wolframclient.language import wl

    rng = np.random.default_rng(0)
    rows = []
    if args.only in (None, "mlp"):
        x, y = mlp_data(rng)
        data = {"Input": x, "Output": y}
        raw = raw_mlp(x, y, args.rounds)
        eager, _ = wlbridge_run(MLP_NET, data, 64, args.rounds, False)
        comp, cs = wlbridge_run(MLP_NET, data, 64, args.rounds, True)
        rows.append(("MLP (batch 64)", raw, eager, comp, cs))
    if args.only in (None, "lstm"):
        strings, y = lstm_data(rng)
        data = tuple(wl.Rule(s, "yes" if v else "no") for s, v in zip(strings, y, strict=True))
        raw = raw_lstm(strings, y, args.rounds)
        eager, _ = wlbridge_run(LSTM_NET, data, 32, args.rounds, False)
        comp, cs = wlbridge_run(LSTM_NET, data, 32, args.rounds, True)
        rows.append(("LSTM bucketing (batch 32)", raw, eager, comp, cs))
    print(f"backend {args.backend}, {args.rounds} rounds, torch threads "
          f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    print("| workload | raw eager loop ex/s | wlbridge eager ex/s | compiled step ex/s | "
          "compiled / raw | compile s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, raw, eager, comp, cs in rows:
        print(f"| {name} | {raw:,.0f} | {eager:,.0f} | {comp:,.0f} | {comp / raw:.2f}x | "
              f"{cs:.1f} |")


if __name__ == "__main__":
    main()
