"""Time an LSTM's forward+backward over long sequences with and without flushing subnormals.

Long sequences drive the LSTM's gradients into the subnormal float range, where some CPUs slow
down sharply; `engine.denormal.flush_denormals` avoids it. Three settings, side by side: no
flushing; ``torch.set_flush_denormal(True)`` alone (the calling thread only: torch's existing
intra-op workers keep computing on subnormals); and `flush_denormals` (every pool thread).
The input scale (default 3) makes the backward chain decay into the subnormal range within a
few hundred steps with Wolfram's initial arrays. Prints a markdown table.

    python benchmarks/bench_denormal.py [--steps 200 400 600] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.denormal import flush_denormals  # noqa: E402
from engine.init import initialize_layer  # noqa: E402
from engine.layers import lookup  # noqa: E402
from engine.spec import LayerSpec, LengthVar, TensorType  # noqa: E402


def subnormal_share(t: torch.Tensor) -> float:
    a = t.abs()
    return float(((a > 0) & (a < torch.finfo(t.dtype).tiny)).float().mean())


def time_batch(steps: int, mode: str, repeats: int, scale: float) -> tuple[float, float]:
    """Median seconds of one forward+backward (loss on the last step, Wolfram's initial arrays),
    and the share of subnormal entries in the gradient reaching the input (it decays back in
    time). ``mode``: "none", "caller" (torch.set_flush_denormal only) or "all" (flush_denormals)."""
    torch.manual_seed(0)
    lstm, _ = lookup("LongShortTermMemoryLayer").build(
        LayerSpec("LongShortTermMemoryLayer", {"OutputSize": 64}),
        {"Input": TensorType((LengthVar(0), 32))}, ("LSTM",))
    initialize_layer(lstm)
    x = (scale * torch.randn(32, steps, 32)).requires_grad_(True)
    lens = torch.full((32,), steps)
    times, share = [], 0.0
    (x.detach() * 2).sum()  # the intra-op pool exists before any flag is set, as in training
    if mode == "caller":
        torch.set_flush_denormal(True)
    try:
        with flush_denormals(mode == "all"):
            for _ in range(repeats + 1):
                lstm.zero_grad()
                x.grad = None
                t0 = time.perf_counter()
                out = lstm({"Input": x}, {0: lens})["Output"]
                out[:, -1].sum().backward()
                times.append(time.perf_counter() - t0)
                share = subnormal_share(x.grad)
    finally:
        torch.set_flush_denormal(False)
    times = sorted(times[1:])
    return times[len(times) // 2], share


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[200, 400, 600])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"LSTM 32 -> 64, batch 32, inputs N(0, {args.scale}^2), forward+backward, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}\n")
    print("| steps | subnormal input grads | no flushing (ms) | caller thread only (ms) "
          "| flush_denormals, all threads (ms) | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for steps in args.steps:
        slow, share = time_batch(steps, "none", args.repeats, args.scale)
        caller, _ = time_batch(steps, "caller", args.repeats, args.scale)
        fast, _ = time_batch(steps, "all", args.repeats, args.scale)
        print(f"| {steps} | {share:.1%} | {slow * 1e3:.1f} | {caller * 1e3:.1f} | "
              f"{fast * 1e3:.1f} | {slow / fast:.2f}× |")


if __name__ == "__main__":
    main()
