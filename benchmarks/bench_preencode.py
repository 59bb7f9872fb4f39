"""Pre-encoding against "DisablePreEncoding" -> True on the "Characters" encoder.

5,000 random strings with lengths log-uniform in 5..400, batch size 32, bucketed permutation
(SequenceBucketingPartitions 8). For each mode: the set-up time (`plan_encoding`: measuring
lengths, and for pre-encoding encoding the whole column), then the time to produce every batch
of a round as the "gen" phase does (`EncodingPlan.batch` + filling the bucket executor's
buffers, `engine.buckets`), repeated over several rounds; medians reported side by side, both
modes measured in one process. Prints a markdown table for BENCHMARKS.md.

    python benchmarks/bench_preencode.py [--rounds 5] [--examples 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.batching import make_permutation  # noqa: E402
from engine.buckets import BucketExecutors, infer_layouts  # noqa: E402
from engine.preencode import plan_encoding  # noqa: E402
from engine.spec import EncoderSpec, TrainConfig  # noqa: E402

BATCH = 32
ALPHABET = list("abcdefghijklmnopqrstuvwxyz ")


def make_strings(n: int, rng: np.random.Generator) -> list[str]:
    lengths = np.exp(rng.uniform(np.log(5), np.log(400), n)).round().astype(np.int64)
    return ["".join(rng.choice(ALPHABET, size=int(k))) for k in lengths]


def measure(strings: list[str], labels: np.ndarray, disable: bool, rounds: int) -> dict[str, float]:
    encoder = {"Input": EncoderSpec("Characters")}
    cfg = TrainConfig(disable_pre_encoding=disable)
    t0 = time.perf_counter()
    plan = plan_encoding({"Input": strings, "Label": labels}, encoder, cfg)
    setup = time.perf_counter() - t0
    perm = make_permutation(plan.lengths["Input"], BATCH, 8, np.random.default_rng(0))
    layouts = infer_layouts(plan.batch(perm[0]), {"Input": 0})
    buckets = BucketExecutors(torch.nn.Identity(), layouts)
    round_times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for row in perm:
            buckets.load(plan.batch(row))
        round_times.append(time.perf_counter() - t0)
    med = statistics.median(round_times)
    return {"setup": setup, "round": med, "batch": med / len(perm), "bpr": len(perm)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--examples", type=int, default=5000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    strings = make_strings(args.examples, rng)
    labels = rng.integers(0, 2, args.examples).astype(np.float32)
    pre = measure(strings, labels, False, args.rounds)
    per = measure(strings, labels, True, args.rounds)
    print(f"{args.examples} strings, lengths 5–400, batch {BATCH}, {pre['bpr']} batches per round, "
          f"median of {args.rounds} rounds\n")
    print("| mode | set-up (s) | gen per round (s) | gen per batch (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in (("pre-encoded", pre), ('"DisablePreEncoding" -> True', per)):
        print(f"| {name} | {r['setup']:.3f} | {r['round']:.3f} | {1e3 * r['batch']:.2f} |")
    breakeven = (pre["setup"] - per["setup"]) / max(per["round"] - pre["round"], 1e-12)
    print(f"\nPre-encoding pays for itself after {breakeven:.1f} rounds.")


if __name__ == "__main__":
    main()
