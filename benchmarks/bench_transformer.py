"""The Transformer example (examples/transformer_encoder.wl) trained by NetTrain here, against a
hand-written PyTorch loop of the same model on the same data: seconds per round, side by side.

Data: 2,000 strings of 5-12 letters over "abc", labelled by their most frequent letter; batch
size 32; ADAM with NetTrain's default learning rate (0.001). The PyTorch loop pads each batch
to its longest string and masks the padded keys and the pooling, as the engine does. Prints a
markdown table for BENCHMARKS.md.

    python benchmarks/bench_transformer.py [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import wlbridge  # noqa: E402

D, FF, BATCH = 16, 32, 32


def majority_strings(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        s = "".join(rng.choice("abc") for _ in range(rng.randint(5, 12)))
        first, second = sorted("abc", key=s.count, reverse=True)[:2]
        if s.count(first) > s.count(second):
            out.append((s, first))
    return out


class Encoder(nn.Module):
    """The same layers as the .wl net: embeddings, one attention block, one feed-forward block."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.pos = nn.Embedding(3, D), nn.Embedding(12, D)
        self.q, self.k, self.v, self.proj = (nn.Linear(D, D) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(D, eps=1e-3), nn.LayerNorm(D, eps=1e-3)
        self.expand, self.contract, self.out = nn.Linear(D, FF), nn.Linear(FF, D), nn.Linear(D, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos(torch.arange(x.shape[1]).clamp_max(11))
        s = self.q(h) @ self.k(h).transpose(1, 2) / math.sqrt(D)
        s = s.masked_fill(~mask[:, None, :], torch.finfo(s.dtype).min)
        h = self.norm1(h + self.proj(torch.softmax(s, -1) @ self.v(h)))
        h = self.norm2(h + self.contract(torch.relu(self.expand(h))))
        m = mask[..., None].to(h.dtype)
        return self.out((h * m).sum(1) / m.sum(1))


def torch_round(model: Encoder, opt: torch.optim.Optimizer, data: list[tuple[str, str]]) -> None:
    order = list(range(len(data)))
    random.shuffle(order)
    for i in range(0, len(order), BATCH):
        batch = [data[j] for j in order[i:i + BATCH]]
        width = max(len(s) for s, _ in batch)
        x = torch.tensor([["abc".index(c) for c in s] + [0] * (width - len(s)) for s, _ in batch])
        mask = torch.tensor([[k < len(s) for k in range(width)] for s, _ in batch])
        y = torch.tensor(["abc".index(label) for _, label in batch])
        loss = nn.functional.cross_entropy(model(x, mask), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = majority_strings(2000, 1)
    text = (ROOT / "examples" / "transformer_encoder.wl").read_text()
    t0 = time.perf_counter()
    wlbridge.net_train(text, data, options=f"MaxTrainingRounds -> {args.rounds}, BatchSize -> {BATCH}, "
                                           "TrainingProgressReporting -> None, RandomSeeding -> 1")
    ours = (time.perf_counter() - t0) / args.rounds
    torch.manual_seed(1)
    model = Encoder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        torch_round(model, opt, data)
    theirs = (time.perf_counter() - t0) / args.rounds
    print("| model | rounds | wlbridge s/round | hand-written PyTorch s/round | ratio |")
    print("|---|---|---|---|---|")
    print(f"| Transformer encoder (examples/transformer_encoder.wl), 2,000 strings, batch {BATCH} "
          f"| {args.rounds} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
