"""Batch permutation, sequence bucketing, padding and PermutationLogging payloads.

Behaviour from nettrain-loop.md §7.1–7.6 (bucketing) and §3.4 (PermutationLogging).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wolframclient.deserializers import binary_deserialize
from wolframclient.serializers import export

from engine.batching import (
    BatchPlan,
    bucket_key,
    make_permutation,
    pad_batch,
    padding_fraction,
    permutation_log_payloads,
    quartiles,
    reshuffle_round,
    round_bucket,
    validation_order,
)
from engine.errors import EngineError
from engine.events import Compressed

PARTITIONS = [1, 2, 8, 64, None]


def loguniform_lengths(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(np.log(5), np.log(400), n)).astype(np.int64)


def mean_padding(perm: np.ndarray, lengths: np.ndarray) -> float:
    lens = lengths[perm]
    return padding_fraction(lens, lens.max(axis=1, keepdims=True))


@pytest.mark.parametrize("partitions", PARTITIONS)
@pytest.mark.parametrize("n,bs", [(1000, 32), (37, 5), (7, 10), (1, 3)])
def test_every_example_in_the_permutation(partitions, n, bs):
    """§7.1/§7.2: bpr = ceil(n/bs) batches of bs slots; all n examples once, plus bpr·bs−n duplicates."""
    lengths = loguniform_lengths(n)
    perm = make_permutation(lengths, bs, partitions, np.random.default_rng(1))
    bpr = -(-n // bs)
    assert perm.shape == (bpr, bs)
    counts = np.bincount(perm.ravel(), minlength=n)
    assert counts.min() >= 1 and counts.sum() == bpr * bs
    assert (counts - 1).sum() == bpr * bs - n


@pytest.mark.parametrize("partitions", PARTITIONS)
def test_longest_batch_first(partitions):
    """§7.2 step 5: the batch holding the longest sequence comes first (priming the largest bucket)."""
    lengths = loguniform_lengths(500, seed=3)
    for seed in range(5):
        perm = make_permutation(lengths, 16, partitions, np.random.default_rng(seed))
        assert lengths[perm[0]].max() == lengths.max()
        assert bucket_key(lengths[perm[0]]) == max(bucket_key(lengths[b]) for b in perm)


@pytest.mark.parametrize("partitions", [1, 3, 8, 64])
def test_batches_are_contiguous_in_rank_bins(partitions):
    """§7.2 step 3: slots are grouped by rank bin ceil(r/((n−1)/nbins)); a batch spans consecutive
    bins only, and batches never interleave bins (exact check with distinct lengths, no padding)."""
    n, bs = 960, 32
    lengths = np.random.default_rng(0).permutation(n) + 1  # length == sort rank
    perm = make_permutation(lengths, bs, partitions, np.random.default_rng(5))
    bins = -((-lengths[perm] * partitions) // (n - 1))
    spans = sorted((b.min(), b.max()) for b in bins)
    for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False):
        assert hi <= lo


def test_order_inside_a_bin_is_random_and_none_is_fully_sorted():
    """§7.2 step 3 and §7.6: integer bins keep the random order inside a bin (batches are not
    internally sorted); None keeps the full sort (each batch ascending, batches contiguous)."""
    lengths = loguniform_lengths(1000, seed=2)
    perm = make_permutation(lengths, 32, 1, np.random.default_rng(0))
    assert not all(np.all(np.diff(lengths[b]) >= 0) for b in perm)
    perm = make_permutation(lengths, 32, None, np.random.default_rng(0))
    lens = lengths[perm]
    assert np.all(np.diff(lens, axis=1) >= 0)
    spans = sorted((b.min(), b.max()) for b in lens)
    assert all(hi <= lo for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False))


def test_more_partitions_more_homogeneous_batches():
    """§7.2: nbins = 1 is nearly unsorted SGD, more bins sort more, None sorts fully."""
    lengths = loguniform_lengths(5000, seed=4)
    rng = np.random.default_rng(0)
    unbucketed = mean_padding(rng.permutation(np.arange(5000)).reshape(-1, 40)[:, :], lengths)
    pads = [mean_padding(make_permutation(lengths, 40, p, np.random.default_rng(1)), lengths) for p in PARTITIONS]
    assert pads == sorted(pads, reverse=True)
    assert pads[0] > 0.9 * unbucketed  # 1 partition is about as bad as no bucketing
    # the default 8 bins cut padding to a third of unbucketed (each bin spans 80**(1/8) ≈ 1.7×
    # in length for these log-uniform lengths, so ~23 % padding remains)
    assert pads[2] < 0.4 * unbucketed
    assert pads[-1] < 0.03


def test_non_sequence_permutation_is_fixed_random_partition():
    """§7.1: without lengths, a random padded permutation split into batches."""
    perm = make_permutation(None, 8, 8, np.random.default_rng(0), n=50)
    assert perm.shape == (7, 8)
    assert set(perm.ravel()) == set(range(50))
    assert not np.array_equal(perm.ravel()[:50], np.arange(50))
    with pytest.raises(EngineError, match="number of examples"):
        make_permutation(None, 8, 8, np.random.default_rng(0))


@pytest.mark.parametrize("bpr,reshuffles", [(1, False), (4, False), (5, True), (12, True)])
def test_round_order_reshuffled_only_above_four_batches(bpr, reshuffles):
    """§7.5: every batch is visited exactly once per round (the paclet's round-1 skip is not
    reproduced); the visiting order is reshuffled at the end of a round only if bpr > 4."""
    perm = np.arange(bpr * 3).reshape(bpr, 3)
    plan = BatchPlan(perm, np.random.default_rng(0))
    orders = []
    for r in range(1, 7):
        assert plan.round == r
        batches = list(plan.round_batches())
        firsts = [int(b[0]) // 3 for b in batches]
        assert sorted(firsts) == list(range(bpr))
        orders.append(tuple(firsts))
    assert orders[0] == tuple(range(bpr))  # round 1 in permutation order: longest batch first
    assert (len(set(orders)) > 1) == reshuffles


def test_reshuffle_round_function():
    order = np.arange(4)
    assert reshuffle_round(order, np.random.default_rng(0)) is order
    order = np.arange(30)
    assert sorted(reshuffle_round(order, np.random.default_rng(0))) == list(range(30))


def test_validation_fully_sorted_front_padded():
    """§7.3: full sort by length, no randomness; the front is padded with the shortest example and
    those slots are masked out of totals."""
    lengths = np.array([5, 3, 9, 1, 4, 4, 7])
    perm, valid = validation_order(lengths, 3)
    assert perm.shape == (3, 3)
    assert perm.ravel().tolist() == [3, 3, 3, 1, 4, 5, 0, 6, 2]
    assert valid.ravel().tolist() == [False, False] + [True] * 7
    assert sorted(perm[valid].tolist()) == list(range(7))
    perm2, _ = validation_order(lengths, 3)
    assert np.array_equal(perm, perm2)
    # non-bucketed: identity order, smaller than a batch padded with the first element
    perm, valid = validation_order(None, 4, n=2)
    assert perm.tolist() == [[0, 0, 0, 1]] and valid.tolist() == [[False, False, True, True]]


def test_two_length_variables_sorted_lexicographically():
    """§7.2 step 2: the key is the tuple of an example's lengths, one per length variable."""
    lengths = np.array([[2, 9], [2, 1], [1, 5], [3, 0 + 1]])
    perm, _ = validation_order(lengths, 2)
    assert perm.ravel().tolist() == [2, 1, 0, 3]
    assert bucket_key(lengths[[0, 1]]) == (2, 10)


def test_round_bucket_table():
    """§7.4 RoundBucket: exact up to 8, then multiples of 2/4/8, then powers of 1.5 rounded to 8."""
    expected = {1: 1, 8: 8, 9: 10, 16: 16, 17: 20, 32: 32, 33: 40, 64: 64, 65: 88, 86: 88, 87: 136, 100: 136, 137: 200}
    for k, v in expected.items():
        assert round_bucket(k) == v, k
    keys = [round_bucket(k) for k in range(1, 2000)]
    assert all(k >= i for i, k in enumerate(keys, 1)) and keys == sorted(keys)
    assert len(set(keys)) < 40  # few distinct buckets
    with pytest.raises(EngineError, match="netnullseq"):
        round_bucket(0)
    with pytest.raises(EngineError, match="example 2 has an empty sequence"):
        make_permutation(np.array([3, 0, 2]), 2, 8, np.random.default_rng(0))


def test_bad_partitions_message():
    with pytest.raises(EngineError, match='"SequenceBucketingPartitions" -> 0 should be None or a positive integer'):
        make_permutation(np.array([1, 2]), 2, 0, np.random.default_rng(0))


def test_pad_batch():
    """§7.4: a batch is padded to its bucket length; true lengths travel with it."""
    seqs = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]
    key = bucket_key([len(s) for s in seqs])[0]
    x, lens = pad_batch(seqs, key, pad_value=-7)
    assert x.dtype == torch.int64 and x.tolist() == [[1, 2, 3], [4, -7, -7], [5, 6, -7]]
    assert lens.tolist() == [3, 1, 2]
    x, lens = pad_batch([np.ones((2, 4)), np.ones((9, 4))], round_bucket(9))
    assert x.shape == (2, 10, 4) and x.dtype == torch.float32 and x[0, 2:].abs().sum() == 0
    with pytest.raises(EngineError, match="does not fit"):
        pad_batch(seqs, 2)


def test_quartiles_match_wolfram_definition():
    """§3.4: Quartiles with parameters {{1/2, 0}, {0, 1}}. Known values: Quartiles[{1,3,4,2,5,6}]
    = {2, 7/2, 5}; Quartiles[{1,2,3,4,5}] = {7/4, 3, 17/4}; it equals NumPy's "hazen" method."""
    assert quartiles([1, 3, 4, 2, 5, 6]) == (2.0, 3.5, 5.0)
    assert quartiles([1, 2, 3, 4, 5]) == (1.75, 3.0, 4.25)
    assert quartiles([7]) == (7.0, 7.0, 7.0)
    x = np.random.default_rng(0).integers(1, 100, 37)
    assert np.allclose(quartiles(x), np.quantile(x, [0.25, 0.5, 0.75], method="hazen"))


def test_permutation_log_payloads():
    """§3.4: bare name, then for sequence data quartiles, min/mean/max and the sorted lengths
    (compressed), and always the 1-based permutation (compressed; None for identity order)."""
    lengths = np.array([4, 2, 9, 3, 5])
    perm = make_permutation(lengths, 2, 8, np.random.default_rng(0))
    p = permutation_log_payloads("Training", {0: lengths}, perm)
    assert p[0] == "Training"
    assert [e[0] for e in p[1:]] == ["SeqLenQuartiles", "SeqLenMinMeanMax", "SeqLensCompressed", "PermutationCompressed"]
    assert p[1][1] == (quartiles(lengths),)
    assert p[2][1] == ((2, 4.6, 9),)
    assert isinstance(p[3][1], Compressed) and p[3][1].value.tolist() == [[2, 3, 4, 5, 9]]
    assert np.array_equal(p[4][1].value, perm + 1) and p[4][1].value.min() == 1
    for e in p[1:]:  # every payload is a valid Wolfram expression (packed arrays for the matrices)
        value = e[1].value if isinstance(e[1], Compressed) else e[1]
        back = binary_deserialize(export(value, target_format="wxf"))
        assert np.array_equal(np.asarray(back), np.asarray(value))
    v = permutation_log_payloads("Validation", None, None)
    assert v[0] == "Validation" and v[1][0] == "PermutationCompressed" and v[1][1].value is None
