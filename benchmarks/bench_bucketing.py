"""Sequence bucketing: padding and training time per round for several SequenceBucketingPartitions.

An LSTM classifier (EmbeddingLayer 32 -> LongShortTermMemoryLayer 64 -> SequenceLastLayer ->
LinearLayer 2) over 5,000 sequences with lengths log-uniform in 5..400, batch size 32. For each
setting the whole round's padding is computed exactly, and the time per round is estimated from
the mean time of a random sample of training steps (forward, backward, ADAM update; 40 per
setting by default), the settings' steps interleaved so that load changes hit all alike. Bucketed batches are padded to their RoundBucket
length (nettrain-loop.md §7.4); "unbucketed" is plain random batches padded to each batch's
longest sequence. The recurrent layers run unpacked on the padded batch, stopping at the batch's
longest sequence, so a step's cost follows batch size × longest length: padding to the batch
maximum costs time, padding past it (up to the RoundBucket length) does not. Prints a markdown
table for BENCHMARKS.md.

    python benchmarks/bench_bucketing.py [--batches 40] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.batching import bucket_key, make_permutation, pad_batch  # noqa: E402
from engine.denormal import flush_denormals  # noqa: E402
from engine.init import initialize_layer  # noqa: E402
from engine.layers import lookup  # noqa: E402
from engine.spec import LayerSpec, LengthVar, TensorType  # noqa: E402

N_EXAMPLES, BATCH, VOCAB = 5000, 32, 20


def make_data(rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    lengths = np.exp(rng.uniform(np.log(5), np.log(400), N_EXAMPLES)).round().astype(np.int64)
    seqs = [rng.integers(1, VOCAB + 1, size=n) for n in lengths]
    labels = np.array([int((q == 1).mean() > 1 / VOCAB) for q in seqs])
    return seqs, labels, lengths


def make_net() -> list[torch.nn.Module]:
    """The classifier, built layer by layer through the layer registry."""
    specs = [LayerSpec("EmbeddingLayer", {"OutputDimensions": 32}),
             LayerSpec("LongShortTermMemoryLayer", {"OutputSize": 64}),
             LayerSpec("SequenceLastLayer"),
             LayerSpec("LinearLayer", {"OutputDimensions": (2,)})]
    t = TensorType((LengthVar(0),), index_range=VOCAB)
    mods = []
    for i, spec in enumerate(specs, 1):
        m, out = lookup(spec.kind).build(spec, {"Input": t}, (str(i),))
        initialize_layer(m)
        mods.append(m)
        t = out["Output"]
    return mods


def train_step(mods, opt, x, lens, y) -> None:
    h = x
    for m in mods:
        h = m({"Input": h}, {0: lens})["Output"]
    loss = torch.nn.functional.cross_entropy(h, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=40, help="timed training steps per setting")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    seqs, labels, lengths = make_data(rng)
    settings: dict[str, tuple[np.ndarray, bool]] = {
        "unbucketed": (rng.permutation(np.concatenate([np.arange(N_EXAMPLES), rng.integers(0, N_EXAMPLES, -N_EXAMPLES % BATCH)])).reshape(-1, BATCH), False),
    }
    for p in (None, 1, 8, 64):
        settings[f"partitions {p}"] = (make_permutation(lengths, BATCH, p, np.random.default_rng(1)), True)

    torch.manual_seed(0)
    mods = make_net()
    opt = torch.optim.Adam([p for m in mods for p in m.parameters()], lr=1e-3)
    rows = []
    prepared = {}
    for name, (perm, bucketed) in settings.items():
        lens = lengths[perm]
        padded_to = np.array([bucket_key(b)[0] if bucketed else int(b.max()) for b in lens])
        sample = np.random.default_rng(2).choice(len(perm), size=min(args.batches, len(perm)), replace=False)
        batches = []
        for j in sample:
            x, lv = pad_batch([seqs[i] for i in perm[j]], int(padded_to[j]))
            batches.append((x, lv, torch.as_tensor(labels[perm[j]])))
        prepared[name] = batches
    spent = dict.fromkeys(settings, 0.0)
    with flush_denormals():
        train_step(mods, opt, *prepared["unbucketed"][0])  # warm-up
        for k in range(args.batches):  # interleaved: step k of every setting, in turn
            for name, batches in prepared.items():
                if k < len(batches):
                    t0 = time.perf_counter()
                    train_step(mods, opt, *batches[k])
                    spent[name] += time.perf_counter() - t0
    for name, (perm, bucketed) in settings.items():
        lens = lengths[perm]
        padded_to = np.array([bucket_key(b)[0] if bucketed else int(b.max()) for b in lens])
        pad = 1 - lens.sum() / (padded_to.sum() * BATCH)
        pad_max = 1 - lens.sum() / (lens.max(axis=1).sum() * BATCH)
        per_batch = spent[name] / len(prepared[name])
        rows.append((name, pad_max, pad, len(set(padded_to.tolist())), per_batch, per_batch * len(perm)))
    base = rows[0][5]
    print(f"LSTM classifier, {N_EXAMPLES} sequences, lengths log-uniform 5..400, batch {BATCH}, "
          f"{len(settings['unbucketed'][0])} batches per round, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; time per round estimated from {args.batches} random batches\n")
    print("| batching | padding to batch max | padding to bucket (RoundBucket) | distinct padded lengths "
          "| ms per batch | s per round | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, pad_max, pad, keys, per_batch, per_round in rows:
        print(f"| {name} | {pad_max:.1%} | {pad:.1%} | {keys} | {per_batch * 1e3:.0f} | {per_round:.1f} "
              f"| {base / per_round:.2f}× |")


if __name__ == "__main__":
    main()
