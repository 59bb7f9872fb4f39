"""Which examples go into which batch, in what order, and how a batch of sequences is padded.

This is NetTrain's batch permutation and sequence bucketing (nettrain-loop.md §7):

* `make_permutation` builds the training permutation, a ``bpr × batch_size`` matrix of 0-based
  example indices (padding duplicates included). Without lengths it is the fixed random
  partition of §7.1; with lengths it is bucketed by ``SequenceBucketingPartitions`` (§7.2).
* `BatchPlan` walks that matrix round after round, reshuffling the batch order at the end of a
  round when there are more than 4 batches (§7.5). Unlike the stored paclet, every batch is
  visited exactly once in every round (its round-1 prefetch skip is a defect, not a feature).
* `validation_order` is the deterministic validation order of §7.3.
* `round_bucket` / `bucket_key` give the executor bucket length (§7.4) and `pad_batch` pads a
  batch's sequences to it, returning the true lengths the masked layers need.
* `permutation_log_payloads` builds the PermutationLogging payloads (§3.4).

Lengths are given either as a 1-D array (one length variable) or as an ``n × v`` array (one
column per independent length variable, compared lexicographically). Everything here is numpy;
torch is imported only by `pad_batch`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.events import Compressed

# nettrain-loop.md §7.5: batch order is reshuffled between rounds only above this many batches.
RESHUFFLE_MIN_BATCHES = 4


# ---------------------------------------------------------------------------------------------
# Permutations


def _as_length_matrix(lengths: np.ndarray | Sequence[Any]) -> np.ndarray:
    """Lengths as an ``n × v`` int64 matrix (v = number of length variables)."""
    arr = np.asarray(lengths, dtype=np.int64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise EngineError("seqlens", f"sequence lengths must be a vector or an n×v matrix, not an array of shape {arr.shape}.")
    return arr


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise EngineError("optpi", f"the value of BatchSize -> {batch_size!r} should be a positive integer.")


def padded_permutation(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """All ``n`` example indices plus ``bpr·bs − n`` random duplicates, randomly shuffled (§7.1).

    Duplicates fill the last batch so every batch has ``batch_size`` slots; they are drawn
    uniformly from the whole data, as NetTrain does.
    """
    _check_batch_size(batch_size)
    if n < 1:
        raise EngineError("nodata", "the training data contains no examples.")
    bpr = math.ceil(n / batch_size)
    excess = bpr * batch_size - n
    slots = np.concatenate([np.arange(n, dtype=np.int64), rng.integers(0, n, size=excess, dtype=np.int64)])
    return rng.permutation(slots)


def _check_partitions(partitions: int | None) -> None:
    if partitions is None:
        return
    if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) or partitions < 1:
        raise EngineError(
            "badintopt",
            f'the value of "SequenceBucketingPartitions" -> {partitions!r} should be None or a positive integer.',
        )


def make_permutation(
    lengths: np.ndarray | None,
    batch_size: int,
    partitions: int | None,
    rng: np.random.Generator,
    n: int | None = None,
) -> np.ndarray:
    """The training permutation: a ``bpr × batch_size`` int64 matrix of 0-based example indices.

    ``lengths`` None (non-sequence data; pass the example count ``n``): the fixed random
    partition of §7.1, reused every round. Otherwise the
    bucketed permutation of §7.2: slots (in the random padded order) are stably sorted by length;
    with an integer ``partitions`` the sort ranks are coarsened into rank bins of width
    ``(n−1)/partitions`` so batches are only roughly sorted (within a bin the order stays random);
    with ``None`` the full sort is kept. Batches are then shuffled and the batch holding the
    longest example is put first, so the first (largest) bucket allocates the most memory.
    """
    _check_batch_size(batch_size)
    _check_partitions(partitions)
    if lengths is None:
        if n is None:
            raise EngineError("seqlens", "make_permutation needs the lengths, or the number of examples n for non-sequence data.")
        return plain_permutation(n, batch_size, rng)
    lens = _as_length_matrix(lengths)
    n = lens.shape[0]
    if n and int(lens.min()) < 1:
        bad = int(np.argmin(lens.min(axis=1)))
        raise EngineError("netnullseq", f"example {bad + 1} has an empty sequence; sequences must have length ≥ 1.")
    slots = padded_permutation(n, batch_size, rng)
    # Stable lexicographic sort of the slots by their example's lengths (last key = first variable).
    slot_lens = lens[slots]
    order = np.lexsort(slot_lens.T[::-1])
    if partitions is not None and n > 1:
        # Sort rank r (1-based) -> bin ceil(r / ((n-1)/partitions)), in exact integer arithmetic.
        ranks = np.empty(len(slots), dtype=np.int64)
        ranks[order] = np.arange(1, len(slots) + 1)
        bins = -((-ranks * partitions) // (n - 1))
        order = np.argsort(bins, kind="stable")
    batches = slots[order].reshape(-1, batch_size)
    return _longest_first(batches, rng)


def plain_permutation(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """The non-sequence permutation of §7.1 as a ``bpr × batch_size`` matrix, fixed for the run."""
    return padded_permutation(n, batch_size, rng).reshape(-1, batch_size)


def _longest_first(batches: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffle the batches, then swap the last-sorted batch (the longest) to the front (§7.2 step 5)."""
    bpr = len(batches)
    order = rng.permutation(bpr)
    where = int(np.flatnonzero(order == bpr - 1)[0])
    order[[0, where]] = order[[where, 0]]
    return batches[order]


def validation_order(lengths: np.ndarray | None, batch_size: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The validation permutation and its validity mask, both ``bpr × batch_size`` (§7.3).

    With lengths: a full, deterministic sort by length; without (pass ``n``): identity order.
    When n is not a multiple of the batch size the *front* is padded (with the shortest example
    when sorted, else the first example); the mask is False on those padding slots, which must be
    left out of validation totals.
    """
    _check_batch_size(batch_size)
    if lengths is not None:
        lens = _as_length_matrix(lengths)
        n = lens.shape[0]
        order = np.lexsort(lens.T[::-1]).astype(np.int64)
    else:
        if n is None:
            raise EngineError("seqlens", "validation_order needs lengths or the number of examples n.")
        order = np.arange(n, dtype=np.int64)
    if n < 1:
        raise EngineError("nodata", "the validation data contains no examples.")
    bpr = math.ceil(n / batch_size)
    excess = bpr * batch_size - n
    flat = np.concatenate([np.full(excess, order[0], dtype=np.int64), order])
    valid = np.concatenate([np.zeros(excess, dtype=bool), np.ones(n, dtype=bool)])
    return flat.reshape(bpr, batch_size), valid.reshape(bpr, batch_size)


# ---------------------------------------------------------------------------------------------
# Round-to-round order


def reshuffle_round(order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The next round's batch-visiting order: a fresh shuffle when there are > 4 batches, else unchanged (§7.5)."""
    if len(order) > RESHUFFLE_MIN_BATCHES:
        return rng.permutation(order)
    return order


@dataclass
class BatchPlan:
    """Walks a permutation round after round: `next_batch()` gives the example indices of the next batch.

    Round 1 visits batches in permutation order (so the longest bucket runs first); at the end of
    each round the visiting order is reshuffled when there are more than 4 batches. Every batch is
    visited exactly once per round (the paclet's round-1 skip is deliberately not reproduced).
    """

    permutation: np.ndarray
    rng: np.random.Generator
    order: np.ndarray = field(init=False)
    position: int = field(init=False, default=0)
    round: int = field(init=False, default=1)

    def __post_init__(self) -> None:
        self.order = np.arange(len(self.permutation))

    @property
    def batches_per_round(self) -> int:
        return len(self.permutation)

    def next_batch(self) -> np.ndarray:
        """The next batch's 0-based example indices; advances ``round`` after the last batch of a round."""
        batch = self.permutation[self.order[self.position]]
        self.position += 1
        if self.position == len(self.order):
            self.position = 0
            self.round += 1
            self.order = reshuffle_round(self.order, self.rng)
        return batch

    def round_batches(self) -> Iterator[np.ndarray]:
        """The batches of the rest of the current round."""
        start = self.round
        while self.round == start:
            yield self.next_batch()


# ---------------------------------------------------------------------------------------------
# Buckets and padding


def round_bucket(k: int) -> int:
    """NetTrain's ``RoundBucket``: the padded length used for a sequence of length ``k`` (§7.4).

    Few distinct bucket lengths means few executors (and compiled graphs) while the padding stays
    below ~50 %: exact up to 8, then multiples of 2, 4, 8, and beyond 64 powers of 1.5 rounded up
    to a multiple of 8 (65 → 88, 100 → 136).
    """
    k = int(k)
    if k < 1:
        raise EngineError("netnullseq", "a sequence in the batch is empty; sequences must have length ≥ 1.")
    if k <= 8:
        return k
    for limit, step in ((16, 2), (32, 4), (64, 8)):
        if k <= limit:
            return -(-k // step) * step
    # Smallest power of 1.5 that is ≥ k; integer check guards against log rounding.
    p = math.ceil(math.log(k) / math.log(1.5))
    while 1.5 ** (p - 1) >= k:
        p -= 1
    while 1.5**p < k:
        p += 1
    return -(-math.ceil(1.5**p) // 8) * 8


def bucket_key(lengths: np.ndarray | Sequence[int] | int) -> tuple[int, ...]:
    """The bucket key of a batch: ``round_bucket`` of the longest sequence, one entry per length variable.

    ``lengths`` is the batch's lengths (a vector for one variable, ``batch × v`` for several,
    or a single int).
    """
    lens = _as_length_matrix(np.atleast_1d(np.asarray(lengths, dtype=np.int64)))
    return tuple(round_bucket(int(m)) for m in lens.max(axis=0))


def pad_batch(seqs: Sequence[np.ndarray], key_len: int, pad_value: float | None = None) -> tuple[Any, Any]:
    """Pad sequences (first axis = steps) to ``key_len`` steps: ``(tensor batch × key_len × ..., lengths)``.

    ``lengths`` is an int64 tensor of the true lengths; the masked layers use it so results do not
    depend on ``pad_value``. Integer sequences give an int64 tensor, others float32. The default
    pad is 1 for integers (a valid index for embeddings and class targets) and 0 for reals, as in
    `engine.buckets`.
    """
    import torch

    if not seqs:
        raise EngineError("nodata", "cannot pad an empty batch.")
    arrays = [np.asarray(s) for s in seqs]
    lens = np.array([len(a) for a in arrays], dtype=np.int64)
    if int(lens.max()) > key_len:
        raise EngineError("seqlens", f"a sequence of length {int(lens.max())} does not fit the bucket length {key_len}.")
    tail = arrays[0].shape[1:]
    for i, a in enumerate(arrays):
        if a.shape[1:] != tail:
            raise EngineError("seqlens", f"sequence {i + 1} has element shape {a.shape[1:]}, expected {tail}.")
    integer = all(np.issubdtype(a.dtype, np.integer) for a in arrays)
    dtype = np.int64 if integer else np.float32
    if pad_value is None:
        pad_value = 1 if integer else 0
    out = np.full((len(arrays), key_len, *tail), pad_value, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out), torch.from_numpy(lens)


def padding_fraction(lengths: np.ndarray, padded_len: int | np.ndarray) -> float:
    """Share of the padded steps that are padding (a measure of bucketing quality)."""
    lengths = np.asarray(lengths)
    total = np.broadcast_to(np.asarray(padded_len), lengths.shape).sum()
    return float(1.0 - lengths.sum() / total) if total else 0.0


# ---------------------------------------------------------------------------------------------
# PermutationLogging (§3.4)


def quartiles(values: np.ndarray | Sequence[float]) -> tuple[float, float, float]:
    """Wolfram's ``N[Quartiles[values]]``: quantile parameters {{1/2, 0}, {0, 1}}.

    By definition, with x sorted (1-based) and n values: position p = 1/2 + n·q; the quantile is
    x[⌊p⌋] + (x[⌈p⌉] − x[⌊p⌋])·frac(p), positions clamped to 1..n. (This is NumPy's "hazen".)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise EngineError("seqlens", "quartiles of an empty list are undefined.")
    out = []
    for num in (1, 2, 3):
        p = 0.5 + n * num / 4
        lo = min(max(math.floor(p), 1), n)
        hi = min(max(math.ceil(p), 1), n)
        out.append(float(x[lo - 1] + (x[hi - 1] - x[lo - 1]) * (p - math.floor(p))))
    return out[0], out[1], out[2]


def permutation_log_payloads(
    name: str,
    lengths_per_var: Mapping[int, np.ndarray] | Sequence[np.ndarray] | None,
    permutation: np.ndarray | None,
) -> list[Any]:
    """The PermutationLogging entries for one data generator, in NetTrain's order (§3.4).

    ``name`` is "Training" or "Validation"; ``lengths_per_var`` the per-example lengths of each
    length variable (mapping by LengthVar id, or a sequence; None/empty for non-sequence data);
    ``permutation`` the 0-based matrix from `make_permutation` (None = identity order). Returns
    the bare string ``name``, then for sequence data ``("SeqLenQuartiles", q)``,
    ``("SeqLenMinMeanMax", s)``, ``("SeqLensCompressed", Compressed(sorted lengths))``, and always
    ``("PermutationCompressed", Compressed(1-based matrix or None))``. Lists are tuples, as in the
    expression model.
    """
    payloads: list[Any] = [name]
    if isinstance(lengths_per_var, Mapping):
        per_var = [np.asarray(lengths_per_var[k]) for k in sorted(lengths_per_var)]
    else:
        per_var = [np.asarray(v) for v in (lengths_per_var or ())]
    if per_var:
        payloads.append(("SeqLenQuartiles", tuple(quartiles(v) for v in per_var)))
        payloads.append((
            "SeqLenMinMeanMax",
            tuple((int(v.min()), float(v.mean()), int(v.max())) for v in per_var),
        ))
        payloads.append(("SeqLensCompressed", Compressed(np.stack([np.sort(v).astype(np.int64) for v in per_var]))))
    perm = None if permutation is None else np.asarray(permutation, dtype=np.int64) + 1
    payloads.append(("PermutationCompressed", Compressed(perm)))
    return payloads
