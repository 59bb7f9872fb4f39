"""Data-parallel throughput: one CPU process against {"CPU", n} processes (gloo, DDP), side
by side in one run (issue 11, item 2).

Each setting is one `wlbridge train` command, started the way a user starts it (the
several-process runs go through torch's launcher); the figure is the run's own
MeanExamplesPerSecond (rank 0's examples of the global batch over its training time, so
process start-up and rendezvous are left out), and the wall time of the whole command is
shown beside it. Two nets: the digits MLP (communication-bound: each step all-reduces
~5k weights for ~1 ms of compute) and a wider MLP (1024 hidden units, compute-bound).

    python benchmarks/bench_ddp.py [--procs 1,2] [--rounds 20] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETS = {
    "digits MLP (64-64-10)": "examples/digits_mlp.wl",
    "wide MLP (64-1024-1024-10)": ('NetChain[{LinearLayer[1024], Ramp, LinearLayer[1024], Ramp, '
                                   'LinearLayer[10], SoftmaxLayer[]}, "Input" -> 64, "Output" -> '
                                   'NetDecoder[{"Class", Range[0, 9]}]]'),
}


def run(net: str, procs: int, rounds: int, batch: int, device: str | None = None
        ) -> tuple[float, float]:
    """(MeanExamplesPerSecond, wall seconds) of one command; ``device`` overrides the
    TargetDevice ({"CPU", procs} by default)."""
    device = device or ('"CPU"' if procs == 1 else f'{{"CPU", {procs}}}')
    threads = str(max(1, (os.cpu_count() or 1) // procs))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rate.wl"
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "wlbridge", "train", net, "examples/digits.npz",
             "MeanExamplesPerSecond", "-o", str(out), "--options",
             f"TargetDevice -> {device}, BatchSize -> {batch}, MaxTrainingRounds -> {rounds}, "
             "RandomSeeding -> 1, TrainingProgressReporting -> None"],
            cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": threads})
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(p.stderr)
        return float(out.read_text().strip().rstrip("`")), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    procs = [int(p) for p in args.procs.split(",")]
    print(f"{os.cpu_count()} CPUs, batch {args.batch}, {args.rounds} rounds, "
          f"load {os.getloadavg()[0]:.2f}")
    print("| net | " + " | ".join(f"{p} process{'es' if p > 1 else ''} ex/s (wall s)"
                                   for p in procs) + " | speed-up |")
    print("|---|" + "---:|" * (len(procs) + 1))
    for name, net in NETS.items():
        figures = [run(net, p, args.rounds, args.batch) for p in procs]
        cells = " | ".join(f"{r:,.0f} ({w:.1f})" for r, w in figures)
        print(f"| {name} | {cells} | {figures[-1][0] / figures[0][0]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
