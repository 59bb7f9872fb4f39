"""LeNet on 28 x 28 images: `wlbridge.net_train` per round vs a hand-written PyTorch loop.

The model is wl-nets.md §6.2's LeNet (explicit pooling strides: 1x28x28 -> 20x24x24 ->
20x12x12 -> 50x8x8 -> 50x4x4 -> 800 -> 500 -> 10), the data N random 28 x 28 images in [0, 1]
with random labels, batch 64, ADAM (LR 0.001, epsilon 1e-5, multi-tensor kernels in both),
2 threads, subnormals flushed. Three runs, interleaved so that load changes hit all alike:

* hand: a plain PyTorch loop over pre-batched tensors (`F.cross_entropy` on logits);
* net_train, arrays: the net with "Input" -> {1, 28, 28} on the same arrays;
* net_train, images: "Input" -> NetEncoder[{"Image", {28, 28}, "Grayscale"}] on the same
  images as 8-bit arrays (pre-encoded once, so a round is the same work as with arrays).

Per-round times are taken between "RoundComplete" events (net_train) or around each round
(hand); medians are compared. Prints a markdown table and the load average.

    python benchmarks/bench_lenet.py [--examples 2048] [--rounds 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wlbridge  # noqa: E402
from engine.denormal import flush_denormals  # noqa: E402

LAYERS = ('{ConvolutionLayer[20, 5], Ramp, PoolingLayer[2, 2], ConvolutionLayer[50, 5], Ramp, '
          'PoolingLayer[2, 2], FlattenLayer[], LinearLayer[500], Ramp, LinearLayer[10], '
          'SoftmaxLayer[]}')
ARRAYS = f'NetChain[{LAYERS}, "Input" -> {{1, 28, 28}}, "Output" -> NetDecoder[{{"Class", Range[0, 9]}}]]'
IMAGES = (f'NetChain[{LAYERS}, "Input" -> NetEncoder[{{"Image", {{28, 28}}, "Grayscale"}}], '
          '"Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
BATCH = 64


def hand_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5),
                         nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 500),
                         nn.ReLU(), nn.Linear(500, 10))


def hand_rounds(x: np.ndarray, y: np.ndarray, rounds: int) -> list[float]:
    model = hand_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-5, foreach=True)
    rng = np.random.default_rng(1)
    n = len(x)
    bpr = -(-n // BATCH)
    idx = np.concatenate([np.arange(n), rng.integers(0, n, bpr * BATCH - n)])
    perm = torch.from_numpy(rng.permutation(idx).reshape(bpr, BATCH))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batches = [(xt[p], yt[p]) for p in perm]
    times = []
    with flush_denormals(True):
        for _ in range(rounds):
            t0 = time.perf_counter()
            for xb, yb in batches:
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                loss.item()
            times.append(time.perf_counter() - t0)
    return times


def wl_rounds(net: str, inputs: object, y: np.ndarray, rounds: int) -> list[float]:
    """Per-round times of net_train; encoders run once up front ("DisablePreEncoding" ->
    False: with fewer than 5 rounds NetTrain would encode every batch, §8.5)."""
    from wolframclient.language import wl

    stamps: list[float] = []
    opts = (f"BatchSize -> {BATCH}, MaxTrainingRounds -> {rounds}, RandomSeeding -> 1, "
            'TrainingProgressReporting -> None, Method -> "ADAM", '
            '"InternalOptions" -> {"DisablePreEncoding" -> False}')
    callbacks = ((lambda _: stamps.append(time.perf_counter()), wl.Rule("Event", "TrainingStarted")),
                 (lambda _: stamps.append(time.perf_counter()), wl.Rule("Event", "RoundComplete")))
    wlbridge.net_train(net, {"Input": inputs, "Output": y}, "TotalBatches", options=opts,
                       TrainingProgressFunction=callbacks)
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(args.examples, 28, 28), dtype=np.uint8)
    x = (pixels / 255.0).astype(np.float32)[:, None]
    y = rng.integers(0, 10, args.examples)
    runs: dict[str, list[float]] = {"hand": [], "arrays": [], "images": []}
    for _ in range(args.repeats):  # interleaved
        runs["hand"] += hand_rounds(x, y, args.rounds)
        runs["arrays"] += wl_rounds(ARRAYS, x, y, args.rounds)
        runs["images"] += wl_rounds(IMAGES, list(pixels), y, args.rounds)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"LeNet 28x28, {args.examples} examples, batch {BATCH}, {args.rounds} rounds x "
          f"{args.repeats} repeats, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| run | s/round (median) | vs hand |")
    print("|---|---:|---:|")
    for k, label in (("hand", "hand-written PyTorch loop"), ("arrays", 'net_train, "Input" -> {1, 28, 28}'),
                     ("images", 'net_train, NetEncoder["Image"]')):
        print(f"| {label} | {med[k]:.3f} | {med[k] / med['hand']:.3f} |")


if __name__ == "__main__":
    main()
