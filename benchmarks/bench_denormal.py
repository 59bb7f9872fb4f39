"""Time an LSTM's forward+backward over long sequences with and without flushing subnormals.

Long sequences drive the LSTM's gradients into the subnormal float range, where the CPU slows
down sharply; `engine.denormal.flush_denormals` avoids it. Prints a markdown table.

    python benchmarks/bench_denormal.py [--steps 50 200 400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.denormal import flush_denormals  # noqa: E402
from engine.layers import lookup  # noqa: E402
from engine.spec import LayerSpec, LengthVar, TensorType  # noqa: E402


def subnormal_share(t: torch.Tensor) -> float:
    a = t.abs()
    return float(((a > 0) & (a < torch.finfo(t.dtype).tiny)).float().mean())


def time_batch(steps: int, flush: bool, repeats: int) -> tuple[float, float]:
    """Median seconds of one forward+backward (loss on the last step, Wolfram's initial arrays),
    and the share of subnormal entries in the gradient reaching the input (it decays back in time)."""
    torch.manual_seed(0)
    lstm, _ = lookup("LongShortTermMemoryLayer").build(
        LayerSpec("LongShortTermMemoryLayer", {"OutputSize": 64}),
        {"Input": TensorType((LengthVar(0), 32))}, ("LSTM",))
    x = torch.randn(32, steps, 32, requires_grad=True)
    lens = torch.full((32,), steps)
    times, share = [], 0.0
    with flush_denormals(flush):
        for _ in range(repeats + 1):
            lstm.zero_grad()
            x.grad = None
            t0 = time.perf_counter()
            out = lstm({"Input": x}, {0: lens})["Output"]
            out[:, -1].sum().backward()
            times.append(time.perf_counter() - t0)
            share = subnormal_share(x.grad)
    times = sorted(times[1:])
    return times[len(times) // 2], share


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[50, 200, 400])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"LSTM 32 -> 64, batch 32, forward+backward, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}\n")
    print("| steps | default (ms) | subnormal input grads | flush_denormals (ms) | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for steps in args.steps:
        slow, share = time_batch(steps, False, args.repeats)
        fast, _ = time_batch(steps, True, args.repeats)
        print(f"| {steps} | {slow * 1e3:.1f} | {share:.1%} | {fast * 1e3:.1f} | {slow / fast:.1f}× |")


if __name__ == "__main__":
    main()
