"""One GPU machine, under five minutes: what BENCHMARKS.md needs from a CUDA device (issue 11).

Sections, each a markdown table:

1. the device: name, memory, torch and CUDA versions;
2. net_train against a hand-written PyTorch loop on the GPU, seconds per round: an MLP
   (784-256-256-10, batch 256), an LSTM over bucketed sequences (Embedding 32, LSTM 64,
   lengths 5..200, batch 32; the hand loop uses cuDNN's nn.LSTM on the same batches) and a
   conv net (28×28: conv 16, pool, conv 32, pool, linear 10, batch 128);
3. WorkingPrecision "Mixed" and "Real16" against "Real32" (MLP and conv net);
4. ForceSynchronization: the mean exec and sync phases without and with it (waiting for the
   whole step, update included, in sync takes that time out of the next batch's exec);
5. memory: NVML's used/total (pynvml or nvidia-smi) and torch's peak allocation per workload;
6. the compiled training step (``"CompileTrainingStep" -> True``), when that option exists;
7. data-parallel training on every GPU (``TargetDevice -> {"GPU", All}``), when accepted.

Without CUDA it says so and exits (status 0, nothing measured). ``--smoke`` runs every section
that can run on the CPU at toy sizes instead, to check the script itself.

    python benchmarks/gpu_check.py [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wlbridge  # noqa: E402
from engine.batching import make_permutation  # noqa: E402

MLP = ('NetChain[{LinearLayer[256], Ramp, LinearLayer[256], Ramp, LinearLayer[10], '
       'SoftmaxLayer[]}, "Input" -> 784, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
LSTM = ('NetChain[{EmbeddingLayer[32], LongShortTermMemoryLayer[64], SequenceLastLayer[], '
        'LinearLayer[2], SoftmaxLayer[]}, "Input" -> {"Varying", Restricted["Integer", 20]}, '
        '"Output" -> NetDecoder[{"Class", {0, 1}}]]')
CONV = ('NetChain[{ConvolutionLayer[16, 3], Ramp, PoolingLayer[2], ConvolutionLayer[32, 3], '
        'Ramp, PoolingLayer[2], FlattenLayer[], LinearLayer[10], SoftmaxLayer[]}, '
        '"Input" -> {1, 28, 28}, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]')


class Sizes:
    """Examples per workload: full on a GPU, toy with --smoke."""

    def __init__(self, smoke: bool):
        self.mlp, self.seq, self.conv = (512, 128, 256) if smoke else (20_000, 5_000, 10_000)
        self.max_len = 30 if smoke else 200


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def table(header: list[str], rows: list[list[Any]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r)
              + " |")
    print()


# ---------------------------------------------------------------------------------------------
# Data and the hand-written loops


def mlp_data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"Input": rng.normal(size=(n, 784)).astype(np.float32),
            "Output": rng.integers(0, 10, n)}


def conv_data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"Input": rng.normal(size=(n, 1, 28, 28)).astype(np.float32),
            "Output": rng.integers(0, 10, n)}


def seq_data(n: int, max_len: int) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    lengths = np.exp(rng.uniform(np.log(5), np.log(max_len), n)).round().astype(np.int64)
    seqs = [rng.integers(1, 21, size=k) for k in lengths]
    labels = np.array([int((q == 1).mean() > 1 / 20) for q in seqs])
    return {"Input": seqs, "Output": labels}


def hand_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def hand_conv() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 10))


class HandLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.lstm = nn.Embedding(21, 32), nn.LSTM(32, 64, batch_first=True)
        self.out = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.emb(x))
        return self.out(h[torch.arange(len(x), device=x.device), lens - 1])


def hand_rounds(kind: str, data: dict[str, Any], bs: int, rounds: int,
                device: torch.device) -> list[float]:
    """Seconds per round of a plain PyTorch loop (ADAM, one loss read per batch), batches
    gathered on the device first; the LSTM's batches come from the §7 bucketing permutation."""
    torch.manual_seed(0)
    model = {"mlp": hand_mlp, "conv": hand_conv, "lstm": HandLSTM}[kind]().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    y = torch.as_tensor(data["Output"], device=device)
    rng = np.random.default_rng(3)
    if kind == "lstm":
        lens = np.array([len(s) for s in data["Input"]])
        perm = make_permutation(lens[:, None], bs, 8, rng)
        batches = []
        for row in perm:
            m = int(lens[row].max())
            x = np.zeros((len(row), m), dtype=np.int64)
            for i, j in enumerate(row):
                x[i, :lens[j]] = data["Input"][j]
            batches.append(((torch.as_tensor(x, device=device),
                             torch.as_tensor(lens[row], device=device)), y[row]))
    else:
        x = torch.as_tensor(data["Input"], device=device)
        idx = torch.as_tensor(rng.permutation(len(x)), device=device)
        batches = [((x[i],), y[i]) for i in idx.split(bs)]
    times = []
    for _ in range(rounds + 1):  # the first round warms up kernels and allocator
        sync(device)
        t0 = time.perf_counter()
        for args, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(*args), yb)
            loss.backward()
            opt.step()
            loss.item()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times[1:]


# ---------------------------------------------------------------------------------------------
# net_train


def wl_rounds(net: str, data: dict[str, Any], bs: int, rounds: int, device: str,
              options: str = "") -> tuple[list[float], Any]:
    """Seconds per round of net_train (from RoundComplete events; the first round dropped)
    and its results object."""
    from wolframclient.language import wl

    stamps: list[float] = []

    def tick(info: Any) -> None:
        stamps.append(time.perf_counter())

    opts = (f'BatchSize -> {bs}, MaxTrainingRounds -> {rounds + 1}, RandomSeeding -> 1, '
            f'TrainingProgressReporting -> None, TargetDevice -> {device}'
            + (", " + options if options else ""))
    res = wlbridge.net_train(net, data, "All", options=opts, TrainingProgressFunction=(
        (tick, wl.Rule("Event", "TrainingStarted")), (tick, wl.Rule("Event", "RoundComplete"))))
    return [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)], res


def phase_means(res: Any) -> dict[str, float]:
    t = res["$Timings"]
    return {k: t[k]["Mean"] for k in t if t[k]["Mean"] is not None}


def internal_option_exists(name: str) -> bool:
    from wlbridge.options.internal import INTERNAL_ROWS

    return any(row.name == name for row in INTERNAL_ROWS)


def option_accepted(text: str) -> bool:
    from wlbridge.options import resolve

    try:
        resolve(text)
    except Exception:  # noqa: BLE001 - a NetTrain message: the feature is not there yet
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Memory


def nvml_memory() -> str:
    """NVML's used / total MiB per GPU, through pynvml or nvidia-smi; '' without either."""
    try:
        import pynvml

        pynvml.nvmlInit()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            m = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i))
            out.append(f"GPU{i}: {m.used / 2**20:.0f} / {m.total / 2**20:.0f} MiB")
        return ", ".join(out)
    except Exception:  # noqa: BLE001 - no pynvml: ask nvidia-smi
        pass
    if shutil.which("nvidia-smi") is None:
        return ""
    q = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.used,memory.total",
                        "--format=csv,noheader,nounits"], capture_output=True, text=True,
                       timeout=20)
    return ", ".join(f"GPU{i}: {u.strip()} / {t.strip()} MiB"
                     for i, u, t in (line.split(",") for line in q.stdout.strip().splitlines()))


# ---------------------------------------------------------------------------------------------
# Sections


Workload = tuple[str, str, Callable[[], dict[str, Any]], int]


def workloads(sizes: Sizes) -> list[Workload]:
    return [("MLP", MLP, lambda: mlp_data(sizes.mlp), 256),
            ("LSTM, bucketed", LSTM, lambda: seq_data(sizes.seq, sizes.max_len), 32),
            ("conv net", CONV, lambda: conv_data(sizes.conv), 128)]


def section_vs_hand(ws: list[Workload], rounds: int, dev: torch.device, wl_dev: str) -> None:
    print("## net_train against a hand-written PyTorch loop (s/round, median)\n")
    rows = []
    for (name, net, make, bs), kind in zip(ws, ("mlp", "lstm", "conv"), strict=True):
        data = make()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        hand = statistics.median(hand_rounds(kind, data, bs, rounds, dev))
        ours, _ = wl_rounds(net, data, bs, rounds, wl_dev)
        ours_m = statistics.median(ours) if ours else float("nan")
        peak = (f"{torch.cuda.max_memory_allocated(dev) / 2**20:.0f}"
                if dev.type == "cuda" else "-")
        rows.append([name, bs, hand, ours_m, f"{ours_m / hand:.2f}", peak])
    table(["workload", "batch", "hand loop", "net_train", "ratio", "torch peak MiB"], rows)


def section_precision(ws: list[Workload], rounds: int, dev: torch.device, wl_dev: str) -> None:
    print("## WorkingPrecision against \"Real32\" (net_train s/round, median)\n")
    precisions = ["Real32", "Real16"] + (["Mixed"] if dev.type == "cuda" else [])
    rows = []
    for name, net, make, bs in (ws[0], ws[2]):
        data = make()
        t = {p: statistics.median(wl_rounds(net, data, bs, rounds, wl_dev,
                                            f'WorkingPrecision -> "{p}"')[0])
             for p in precisions}
        rows.append([name] + [t[p] for p in precisions]
                    + [f"{t['Real32'] / t[p]:.2f}×" for p in precisions[1:]])
    table(["workload"] + precisions + [f"{p} speed-up" for p in precisions[1:]], rows)


def section_sync(ws: list[Workload], rounds: int, wl_dev: str) -> None:
    print("## ForceSynchronization: mean phase times (ms), MLP\n")
    name, net, make, bs = ws[0]
    data = make()
    rows = []
    for force in (False, True):
        _, res = wl_rounds(net, data, bs, rounds, wl_dev,
                           f'"InternalOptions" -> {{"ForceSynchronization" -> {force}}}')
        m = phase_means(res)
        rows.append([str(force)] + [f"{m.get(k, float('nan')) * 1e3:.3f}"
                                    for k in ("Executor", "Synchronize", "Batch")])
    table(["ForceSynchronization", "exec", "sync", "batch"], rows)


def section_compiled(ws: list[Workload], rounds: int, wl_dev: str) -> None:
    print("## Compiled training step\n")
    if not internal_option_exists("CompileTrainingStep"):
        print("skipped: \"CompileTrainingStep\" is not an internal option yet.\n")
        return
    rows = []
    for name, net, make, bs in (ws[0], ws[1]):
        data = make()
        eager = statistics.median(wl_rounds(net, data, bs, rounds, wl_dev)[0])
        t0 = time.perf_counter()
        times, _ = wl_rounds(net, data, bs, rounds, wl_dev,
                             '"InternalOptions" -> {"CompileTrainingStep" -> True}')
        total = time.perf_counter() - t0
        comp = statistics.median(times)
        rows.append([name, eager, comp, f"{eager / comp:.2f}×",
                     f"{total - comp * (rounds + 1):.1f}"])
    table(["workload", "eager s/round", "compiled s/round", "speed-up", "compile s (approx.)"],
          rows)


def section_ddp(ws: list[Workload], rounds: int) -> None:
    print("## Data-parallel on every GPU\n")
    n = torch.cuda.device_count()
    if not option_accepted('TargetDevice -> {"GPU", All}'):
        print("skipped: TargetDevice -> {\"GPU\", All} is not accepted yet.\n")
        return
    name, net, make, bs = ws[0]
    data = make()
    one = statistics.median(wl_rounds(net, data, bs, rounds, '"GPU"')[0])
    all_ = statistics.median(wl_rounds(net, data, bs, rounds, '{"GPU", All}')[0])
    table(["workload", "GPUs", "1 GPU s/round", "all GPUs s/round", "speed-up"],
          [[name, n, one, all_, f"{one / all_:.2f}×"]])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up")
    ap.add_argument("--smoke", action="store_true",
                    help="run the CPU-safe sections at toy sizes on the CPU (checks the script)")
    args = ap.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False); nothing "
              "measured. --smoke runs the CPU-safe sections at toy sizes.")
        return 0
    dev = torch.device("cpu" if args.smoke else "cuda:0")
    wl_dev = '"CPU"' if args.smoke else '"GPU"'
    rounds = 1 if args.smoke else args.rounds
    t_start = time.perf_counter()
    print(f"# gpu_check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        print(f"{p.name}, {p.total_memory / 2**30:.1f} GiB, {torch.cuda.device_count()} GPU(s), "
              f"torch {torch.__version__}, CUDA {torch.version.cuda}")
        print(f"NVML before: {nvml_memory() or 'unavailable'}\n")
    else:
        print(f"smoke run on the CPU, torch {torch.__version__}\n")
    ws = workloads(Sizes(args.smoke))
    section_vs_hand(ws, rounds, dev, wl_dev)
    section_precision(ws, rounds, dev, wl_dev)
    section_sync(ws, rounds, wl_dev)
    if dev.type == "cuda":
        print(f"NVML after the runs above: {nvml_memory() or 'unavailable'}\n")
    section_compiled(ws, rounds, wl_dev)
    if dev.type == "cuda":
        section_ddp(ws, rounds)
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
