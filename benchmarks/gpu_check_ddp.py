"""The GPU check's data-parallel and compiled-step sections (issue 11, item 5), as functions
benchmarks/gpu_check.py calls, and runnable alone:

    python benchmarks/gpu_check_ddp.py [--rounds 10]

`section_ddp_gpus`: one GPU against TargetDevice -> {"GPU", All} (one process per GPU under
torch's launcher, NCCL), through `wlbridge train` as a user runs it, so the processes are
really started (`net_train` in a running Python refuses several devices: ddpnolaunch).
`section_compiled_gpu`: the hand-written eager loop, wlbridge eager and the compiled step
(inductor) on CUDA for the MLP and the bucketed LSTM, after warm-up, compile time apart.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_compiled_step as bc  # noqa: E402
import bench_ddp  # noqa: E402


def section_ddp_gpus(rounds: int = 10, batch: int = 512) -> list[list[str]]:
    """Rows: net, GPUs, 1-GPU ex/s, all-GPU ex/s, speed-up (MeanExamplesPerSecond)."""
    n = torch.cuda.device_count()
    print(f"## Data-parallel on every GPU ({n} present, NCCL, global batch {batch})\n")
    rows = []
    for name, net in bench_ddp.NETS.items():
        one, w1 = bench_ddp.run(net, 1, rounds, batch, '"GPU"')
        all_, wn = bench_ddp.run(net, n, rounds, batch, '{"GPU", All}')
        rows.append([name, str(n), f"{one:,.0f} ({w1:.0f} s)", f"{all_:,.0f} ({wn:.0f} s)",
                     f"{all_ / one:.2f}x"])
    _table(["net", "GPUs", "1 GPU ex/s (wall)", "all GPUs ex/s (wall)", "speed-up"], rows)
    return rows


def section_compiled_gpu(rounds: int = 6) -> list[list[str]]:
    """Rows: workload, raw eager ex/s, wlbridge eager, compiled, compiled/raw, compile s."""
    os.environ.setdefault("WLBRIDGE_COMPILE_BACKEND", "inductor")
    from wolframclient.language import wl

    print("## Compiled training step on CUDA (after warm-up)\n")
    rng = np.random.default_rng(0)
    gpu = 'TargetDevice -> "GPU", '
    x, y = bc.mlp_data(rng)
    mlp = {"Input": x, "Output": y}
    strings, ys = bc.lstm_data(rng)
    seqs = tuple(wl.Rule(s, "yes" if v else "no") for s, v in zip(strings, ys, strict=True))
    rows = []
    for name, raw, net, data, bs in (
            ("MLP (batch 64)", lambda: bc.raw_mlp(x, y, rounds, "cuda"), bc.MLP_NET, mlp, 64),
            ("LSTM bucketing (batch 32)", lambda: bc.raw_lstm(strings, ys, rounds, "cuda"),
             bc.LSTM_NET, seqs, 32)):
        r = raw()
        eager, _ = bc.wlbridge_run(net, data, bs, rounds, False, gpu)
        comp, cs = bc.wlbridge_run(net, data, bs, rounds, True, gpu)
        rows.append([name, f"{r:,.0f}", f"{eager:,.0f}", f"{comp:,.0f}", f"{comp / r:.2f}x",
                     f"{cs:.1f}"])
    _table(["workload", "raw eager ex/s", "wlbridge eager ex/s", "compiled ex/s",
            "compiled / raw", "compile s"], rows)
    return rows


def _table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check_ddp: no CUDA device; nothing measured.")
        return 0
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    section_ddp_gpus(args.rounds)
    section_compiled_gpu(max(3, args.rounds // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
