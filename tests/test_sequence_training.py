"""Variable-length sequence training end to end: masking, bucketing, bucket executors, the
permutation, pre-encoding and subnormal flushing, through `wlbridge.net_train` and `engine.loop`.

Behaviour from nettrain-loop.md §3.3 (BucketingLogging), §3.4 (PermutationLogging), §7.1–7.6
(permutation, bucketing, RoundBucket), §8.5 (pre-encoding).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest
import torch
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl

import wlbridge
from engine.batching import round_bucket
from engine.loop import train
from engine.spec import Dataset, LengthVar, TensorType, TrainConfig
from wlbridge.sinks import bag

torch.set_num_threads(1)

ALPHABET = "abcdefghijklmnopqrstuvwxyz "
QUIET = "TrainingProgressReporting -> None"
CHAR_NET = ('NetChain[{EmbeddingLayer[12], LongShortTermMemoryLayer[16], SequenceLastLayer[], '
            'LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Characters", '
            '"abcdefghijklmnopqrstuvwxyz "}], "Output" -> NetDecoder[{"Class", {"no", "yes"}}]]')


def _strings(n: int, seed: int, lo: int = 3, hi: int = 40) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def _contains_data(n: int, seed: int, letter: str = "z") -> tuple:
    """Balanced strings: half contain ``letter``, half do not."""
    rng = random.Random(seed)
    out = []
    for i, s in enumerate(_strings(n, seed)):
        s = s.replace(letter, "a")
        if i % 2:
            k = rng.randrange(len(s))
            s = s[:k] + letter + s[k + 1:]
        out.append(wl.Rule(s, "yes" if letter in s else "no"))
    return tuple(out)


def _values(b: list) -> list:
    return [e.args[1] for e in b]


# ---------------------------------------------------------------------------------------------
# Masking through training


@pytest.mark.parametrize("layer", ["LongShortTermMemoryLayer[8]", "GatedRecurrentLayer[8]",
                                   "BasicRecurrentLayer[8]"])
def test_trained_recurrent_output_ignores_a_long_neighbour(layer):
    """Padded steps are masked: an example's output is the same alone or batched with a
    much longer sequence (which pads it to that length's bucket)."""
    net = (f'NetChain[{{{layer}, SequenceLastLayer[], LinearLayer[2], SoftmaxLayer[]}}, '
           f'"Input" -> {{"Varying", 3}}]')
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(int(k), 3)).astype(np.float32) for k in rng.integers(2, 12, 64)]
    ys = [1 + int(x[:, 0].sum() > 0) for x in xs]
    trained = wlbridge.net_train(net, {"Input": xs, "Output": ys}, options=
                                 f"MaxTrainingRounds -> 2, BatchSize -> 8, RandomSeeding -> 3, "
                                 f"{QUIET}")
    short, long_ = xs[0], rng.normal(size=(90, 3)).astype(np.float32)
    alone = np.asarray(trained(short))
    batched = np.asarray(trained([short, long_]))
    assert alone.shape == (2,)
    np.testing.assert_allclose(batched[0], alone, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Learning a task from Wolfram text (wl-nets.md §6.2 example 5's shape)


def test_character_lstm_learns_contains_letter():
    data = _contains_data(480, 1)
    res = wlbridge.net_train(
        CHAR_NET, data, ["TrainedNet", "ValidationMeasurementsLists"],
        options='ValidationSet -> Scaled[0.2], MaxTrainingRounds -> 8, BatchSize -> 16, '
                f'Method -> {{"ADAM", "LearningRate" -> 0.02}}, RandomSeeding -> 7, {QUIET}')
    errors = res[1]["ErrorRate"]
    assert min(errors[-3:]) <= 0.05, errors
    net = res[0]
    assert net("quiz") == "yes" and net("quick brown fox jumps") == "no"


# ---------------------------------------------------------------------------------------------
# Bucketing, executors and permutation logs through training


def _logged_run(partitions: str = "8", rounds: int = 3, extra: str = "") -> dict[str, list]:
    tag = uuid.uuid4().hex[:8]
    names = {k: f"{k}{tag}" for k in ("Bucketing", "Executor", "Permutation", "MemoryUsage")}
    data = tuple(wl.Rule(s, "yes" if "z" in s else "no") for s in _strings(200, 2, 1, 70))
    wlbridge.net_train(
        CHAR_NET, data, options=f'MaxTrainingRounds -> {rounds}, BatchSize -> 16, '
        f'RandomSeeding -> 5, {QUIET}, "InternalOptions" -> {{'
        f'"BucketingLogging" -> Bag["{names["Bucketing"]}"], '
        f'"ExecutorLogging" -> Bag["{names["Executor"]}"], '
        f'"PermutationLogging" -> Bag["{names["Permutation"]}"], '
        f'"MemoryUsageLogging" -> Bag["{names["MemoryUsage"]}"], "MemoryReportingInterval" -> 0, '
        f'"SequenceBucketingPartitions" -> {partitions}{extra}}}')
    return {k: _values(bag(v)) for k, v in names.items()} | {"strings": [
        r.args[0] for r in data]}


def test_bucketing_and_executor_events_during_training():
    """§3.3: the first bucket is the master, for the longest batch (§7.2 step 5); later keys are
    reshaped buckets; a dominating key clears the cache. One NetExecutorCreate in all."""
    logs = _logged_run()
    b = logs["Bucketing"]
    lengths = np.array([len(s) for s in logs["strings"]])
    assert b[0][0] == "NewMasterBucket"
    assert tuple(b[0][1]) == (round_bucket(int(lengths.max())),)
    kinds = {e[0] for e in b}
    assert "NewReshapedBucket" in kinds and kinds <= {"NewMasterBucket", "NewReshapedBucket",
                                                     "ClearBuckets", "NewBucket"}
    for e in b:
        if e[0] == "NewReshapedBucket":
            (keylen,) = e[1]
            assert keylen == round_bucket(keylen)  # keys are RoundBucket lengths (§7.4)
            assert e[2]["Input"] == (16, keylen)  # the batch is padded to the key length
    # §5.1: memory samples count the cached bucket executors
    assert max(m["Buckets"] for m in logs["MemoryUsage"]) >= 2
    heads = [e[0] if isinstance(e, tuple) else getattr(e, "head", e) for e in logs["Executor"]]
    creates = [h for h in heads if "Create" in str(h)]
    assert len(creates) == 1, heads


def test_clear_buckets_when_a_key_dominates():
    """Full sort with the longest batch first never dominates; here it is checked on the engine:
    a later, longer batch clears the cache (§3.3 ClearBuckets)."""
    from engine.buckets import BucketExecutors, InputLayout
    from engine.events import Events

    seen: list = []
    ev = Events({"Bucketing": lambda t, b, v: seen.append(v)})
    bx = BucketExecutors(torch.nn.Identity(), {"Input": InputLayout(0, (), torch.int64)}, ev)
    bx.load({"Input": [np.arange(1, 6)]})
    bx.load({"Input": [np.arange(1, 4)]})
    bx.load({"Input": [np.arange(1, 30)]})
    assert [v[0] for v in seen] == ["NewMasterBucket", "NewReshapedBucket", "ClearBuckets",
                                    "NewReshapedBucket"]
    assert seen[2][1:] == ((32,), (5,))


def test_permutation_log_during_training_parses_back():
    """§3.4: "Training", the length statistics and both compressed payloads; the permutation
    is 1-based and holds every example (plus padding duplicates)."""
    logs = _logged_run()
    p = logs["Permutation"]
    assert p[0] == "Training"
    named = {e[0]: e[1] for e in p[1:] if isinstance(e, tuple)}
    assert set(named) == {"SeqLenQuartiles", "SeqLenMinMeanMax", "SeqLensCompressed",
                          "PermutationCompressed"}
    lengths = np.array([len(s) for s in logs["strings"]])
    (mn, mean, mx), = named["SeqLenMinMeanMax"]
    assert (mn, mx) == (lengths.min(), lengths.max()) and abs(mean - lengths.mean()) < 1e-9
    sorted_lens = np.asarray(binary_deserialize(named["SeqLensCompressed"]))
    np.testing.assert_array_equal(sorted_lens.reshape(-1), np.sort(lengths))
    perm = np.asarray(binary_deserialize(named["PermutationCompressed"]))
    assert perm.shape == (13, 16) and perm.min() >= 1 and perm.max() <= 200
    assert set(perm.reshape(-1).tolist()) == set(range(1, 201))
    # the first batch holds the longest example (§7.2 step 5)
    assert lengths[perm[0] - 1].max() == lengths.max()


def test_every_example_visited_once_per_round_with_bucket_padding():
    """§7.5: across rounds (reshuffled since bpr > 4) every example is trained on once per
    round, and each batch is padded to the RoundBucket length of its longest sequence (§7.4)."""
    seen: list[list[int]] = []
    padded: list[tuple[int, int]] = []

    class Recorder(torch.nn.Module):
        input_types = {"Input": TensorType((LengthVar(0),), index_range=9),
                       "Id": TensorType(())}

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, inputs, lengths):
            if torch.is_grad_enabled():
                seen.append(inputs["Id"].long().tolist())
                padded.append((inputs["Input"].shape[1], int(lengths[0].max())))
            return {"Loss": (self.w - 1) ** 2 * torch.ones(len(inputs["Id"]))}

    rng = np.random.default_rng(0)
    n, bs, rounds = 70, 8, 4
    seqs = [rng.integers(1, 10, int(k)) for k in rng.integers(1, 120, n)]
    data = Dataset({"Input": seqs, "Id": np.arange(n, dtype=np.float32)})
    r = train(Recorder(), data, TrainConfig(batch_size=bs, max_training_rounds=rounds,
                                            random_seed=1))
    bpr = r.batches_per_round
    assert bpr == 9 and len(seen) == bpr * rounds
    perm_rows = {tuple(sorted(row)) for row in r.permutation.tolist()}
    for k in range(rounds):
        batch_ids = seen[k * bpr:(k + 1) * bpr]
        assert {tuple(sorted(b)) for b in batch_ids} == perm_rows
        assert set(sum(batch_ids, [])) == set(range(n))
    orders = [[tuple(sorted(b)) for b in seen[k * bpr:(k + 1) * bpr]] for k in range(rounds)]
    assert len({tuple(o) for o in orders}) > 1  # reshuffled between rounds
    assert all(width == round_bucket(longest) for width, longest in padded)
    assert any(width > longest for width, longest in padded)  # padded beyond the batch max


# ---------------------------------------------------------------------------------------------
# Pre-encoding


def test_disable_pre_encoding_gives_identical_losses():
    """§8.5: encoding per batch inside "gen" changes nothing but where the work happens."""
    data = _contains_data(96, 3)
    opts = f"MaxTrainingRounds -> 6, BatchSize -> 16, RandomSeeding -> 11, {QUIET}"
    pre = wlbridge.net_train(CHAR_NET, data, "BatchLossList",
                             options=opts + ', "InternalOptions" -> {"DisablePreEncoding" -> False}')
    per = wlbridge.net_train(CHAR_NET, data, "BatchLossList",
                             options=opts + ', "InternalOptions" -> {"DisablePreEncoding" -> True}')
    assert len(pre) == 36
    np.testing.assert_allclose(per, pre, rtol=0, atol=1e-7)


def test_pre_encoding_plan_used_by_the_loop():
    """The loop takes its columns from `engine.preencode.plan_encoding`: pre-encoded when
    enabled, per batch when disabled; lengths measured up front either way."""
    from engine.columns import Columns
    from engine.encoders import EncoderSpec

    module = wlbridge.Net(CHAR_NET).module
    data = Dataset({"Input": _strings(40, 4)})
    enc = {"Input": EncoderSpec("Characters", tuple(ALPHABET))}
    for flag, kept in ((False, True), (True, False)):
        cols = Columns(data, module, enc, torch.device("cpu"), torch.float32,
                        TrainConfig(disable_pre_encoding=flag))
        assert ("Input" in cols.plan.pre_encoded) is kept
        assert cols.dynamic
        np.testing.assert_array_equal(cols.lengths()[next(iter(cols.lengths()))],
                                      [len(s) for s in data.columns["Input"]])


@pytest.mark.skipif(not os.environ.get("WLBRIDGE_COMPILE_TESTS"),
                    reason="inductor's C++ build takes about a minute on CPU; set "
                           "WLBRIDGE_COMPILE_TESTS=1")
def test_compile_buckets_trains():
    data = _contains_data(64, 5)
    losses = wlbridge.net_train(CHAR_NET, data, "RoundLossList", options=(
        f'MaxTrainingRounds -> 3, BatchSize -> 16, RandomSeeding -> 1, {QUIET}, '
        '"InternalOptions" -> {"CompileBuckets" -> True}'))
    assert len(losses) == 3 and losses[-1] < losses[0]


# No recurrence, so dynamo has no loop to unroll: the cheapest net that still buckets.
CHEAP_NET = ('NetChain[{EmbeddingLayer[4], SequenceLastLayer[], LinearLayer[2], SoftmaxLayer[]}, '
             '"Input" -> NetEncoder[{"Characters", "abcdefghijklmnopqrstuvwxyz "}], '
             '"Output" -> NetDecoder[{"Class", {"no", "yes"}}]]')


def test_compile_buckets_option_reaches_the_compiled_graphs(monkeypatch):
    """The CI form of the test above: ``"CompileBuckets" -> True`` through net_train compiles
    the bucket's net (dynamo's graphs counted by torch's own counters) and
    trains to the eager run's losses. torch.compile is given the aot_eager backend, which
    captures the same graphs without inductor's C++ build, so this runs in seconds."""
    from torch._dynamo.utils import counters

    import engine.buckets

    real_compile = torch.compile
    backends = []

    def compile_with_aot_eager(module, **kw):
        backends.append(kw.get("backend"))
        return real_compile(module, **{**kw, "backend": "aot_eager"})

    monkeypatch.setattr(engine.buckets.torch, "compile", compile_with_aot_eager)
    data = _contains_data(16, 5)
    opts = (f"MaxTrainingRounds -> 3, BatchSize -> 16, RandomSeeding -> 1, {QUIET}, "
            '"InternalOptions" -> {{"CompileBuckets" -> {on}}}')
    torch._dynamo.reset()
    before = counters["stats"]["unique_graphs"]
    compiled = wlbridge.net_train(CHEAP_NET, data, "All", options=opts.format(on="True"))
    graphs = counters["stats"]["unique_graphs"] - before
    eager = wlbridge.net_train(CHEAP_NET, data, "All", options=opts.format(on="False"))
    assert backends == ["inductor"]  # one bucket (16 examples, one batch): compiled once
    assert graphs >= 1  # dynamo captured the net
    assert counters["stats"]["unique_graphs"] - before == graphs  # eager run compiled nothing
    np.testing.assert_allclose(compiled["BatchLossList"], eager["BatchLossList"], rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Subnormal floats


def test_flush_denormals_reaches_the_intra_op_threads():
    """torch.set_flush_denormal sets only the calling thread: with 2 threads half of a parallel
    op kept its subnormals. flush_denormals sets every pool thread and restores them after."""
    script = textwrap.dedent("""
        import torch
        torch.set_num_threads(2)
        from engine.denormal import flush_denormals
        x = torch.full((4_000_000,), 1e-40)
        left = lambda: int(((x * 1.0) != 0).sum())
        a = left()
        torch.set_flush_denormal(True); b = left(); torch.set_flush_denormal(False)
        with flush_denormals() as on:
            c = left()
        print(a, b, c, left(), on)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
    a, b, c, d, on = out.stdout.split()
    assert on == "True" and int(a) == 4_000_000 and int(d) == 4_000_000  # restored
    assert int(b) < 4_000_000  # the caller's flag alone flushes its own share
    assert int(c) == 0  # every thread flushes inside the block
