"""Buckets as executors: per-key buffers, compiled graphs and BucketingLogging / ExecutorLogging.

Event shapes from nettrain-loop.md §3.2 (ExecutorLogging) and §3.3 (BucketingLogging); bucket
keys and the longest-first permutation from §7.2 and §7.4.
"""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pytest
import torch

from engine.batching import bucket_key, make_permutation, pad_batch
from engine.buckets import BucketExecutors, CompileWarning, InputLayout, infer_layouts
from engine.errors import EngineError
from engine.events import Events, Symbol


class MaskedMean(torch.nn.Module):
    """Embeds token codes and averages over the true length only (padding must not matter)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(30, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, inputs: dict[str, torch.Tensor], lengths: dict[int, torch.Tensor]):
        x = self.embed(inputs["Input"])
        steps = torch.arange(x.shape[1])
        mask = (steps[None, :] < lengths[0][:, None]).to(x.dtype)
        mean = (x * mask[..., None]).sum(1) / lengths[0][:, None].to(x.dtype)
        return {"Output": self.out(mean) + inputs["Bias"][:, None]}


def _data(n: int = 40, seed: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 60, size=n)
    seqs = [rng.integers(1, 30, size=k) for k in lens]
    return seqs, rng.standard_normal(n).astype(np.float32)


def _layouts() -> dict[str, InputLayout]:
    return {"Input": InputLayout(0, (), torch.int64), "Bias": InputLayout(None, (), torch.float32)}


def _recorder(*channels: str) -> tuple[Events, list[tuple[str, object]]]:
    log: list[tuple[str, object]] = []
    listeners = {c: (lambda t, b, v, c=c: log.append((c, v))) for c in channels}
    return Events(listeners), log


def _batch(seqs: list[np.ndarray], bias: np.ndarray, idx: np.ndarray) -> dict[str, object]:
    return {"Input": [seqs[i] for i in idx], "Bias": bias[idx]}


def test_round_of_bucketed_batches_logs_master_then_reshaped_buckets():
    """§3.3/§7.2: the longest batch comes first and becomes the master; every other new key is a
    reshaped bucket with its input dims, paired with an Executor reshape of the same dims."""
    seqs, bias = _data()
    perm = make_permutation(np.array([len(s) for s in seqs]), 8, 4, np.random.default_rng(3))
    events, log = _recorder("Bucketing", "Executor")
    buckets = BucketExecutors(MaskedMean(), _layouts(), events)
    keys = []
    for row in perm:
        ex, _, _ = buckets.load(_batch(seqs, bias, row))
        keys.append(ex.key)
        assert ex.key == bucket_key([len(seqs[i]) for i in row])
    distinct = list(dict.fromkeys(keys))
    bucketing = [v for c, v in log if c == "Bucketing"]
    executor = [v for c, v in log if c == "Executor"]
    assert bucketing[0] == ("NewMasterBucket", distinct[0])
    assert distinct[0] == max(distinct)
    assert executor[0][0] == Symbol("NetExecutorCreate")
    assert executor[0][1] == {"Input": (8, distinct[0][0]), "Bias": (8,)}
    assert executor[0][2:4] == (1, 0) and executor[0][4] > 0
    assert [b[:2] for b in bucketing[1:]] == [("NewReshapedBucket", k) for k in distinct[1:]]
    for b, e, k in zip(bucketing[1:], executor[1:], distinct[1:], strict=True):
        assert b[2] == {"Input": (8, k[0]), "Bias": (8,)}
        assert e == (Symbol("NetExecutorReshape"), b[2], 1)
    assert buckets.bucket_count == len(distinct)


def test_dominating_key_clears_buckets():
    """§3.3: a key ≥ the maximum in every component logs ClearBuckets(new, oldMax), drops the
    cache, and becomes the new maximum; a key that is larger in one component only does not."""
    layouts = {"A": InputLayout(0, (), torch.int64), "B": InputLayout(1, (), torch.int64)}
    events, log = _recorder("Bucketing")
    buckets = BucketExecutors(torch.nn.Identity(), layouts, events)
    buckets.get((10, 10), 4)
    buckets.get((4, 6), 4)
    buckets.get((5, 20), 4)  # larger in the second component only: an ordinary new bucket
    assert buckets.bucket_count == 3
    buckets.get((12, 20), 4)
    assert log == [
        ("Bucketing", ("NewMasterBucket", (10, 10))),
        ("Bucketing", ("NewReshapedBucket", (4, 6), {"A": (4, 4), "B": (4, 6)})),
        ("Bucketing", ("NewReshapedBucket", (5, 20), {"A": (4, 5), "B": (4, 20)})),
        ("Bucketing", ("ClearBuckets", (12, 20), (10, 10))),
        ("Bucketing", ("NewReshapedBucket", (12, 20), {"A": (4, 12), "B": (4, 20)})),
    ]
    assert buckets.bucket_count == 1
    assert buckets.max_key == (12, 20)


def test_short_last_batch_reshapes_batch_size_only():
    """§3.2: a batch-size change on a known key is NetExecutorReshape with the integer size,
    and no new bucket."""
    events, log = _recorder("Bucketing", "Executor")
    buckets = BucketExecutors(MaskedMean(), _layouts(), events)
    buckets.get((16,), 8)
    log.clear()
    ex = buckets.get((16,), 3)
    assert log == [("Executor", (Symbol("NetExecutorReshape"), 3, 1))]
    assert ex.dims() == {"Input": (3, 16), "Bias": (3,)}
    assert buckets.bucket_count == 1
    log.clear()
    assert buckets.get((16,), 3) is ex and log == []


def test_nets_without_length_variables_log_no_buckets():
    """No LengthVar: key (), no Bucketing events; Create then an integer reshape."""
    events, log = _recorder("Bucketing", "Executor")
    buckets = BucketExecutors(torch.nn.Identity(), {"X": InputLayout(None, (3,), torch.float32)}, events)
    ex, inputs, _ = buckets.load({"X": np.ones((5, 3))})
    buckets.load({"X": np.ones((2, 3))})
    assert ex.key == ()
    assert [c for c, _ in log] == ["Executor", "Executor"]
    assert log[0][1][:2] == (Symbol("NetExecutorCreate"), {"X": (5, 3)})
    assert log[1][1] == (Symbol("NetExecutorReshape"), 2, 1)
    assert inputs["X"].dtype == torch.float32 and bool((inputs["X"] == 1).all())


def test_buffers_are_reused_and_filled_like_pad_batch():
    """A repeated key writes into the same storage; contents and lengths equal pad_batch's and
    the masked net gives the unpadded result."""
    seqs, bias = _data()
    buckets = BucketExecutors(MaskedMean(), _layouts())
    a = np.array([0, 1, 2, 3])
    long_first = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    ex1, in1, len1 = buckets.load(_batch(seqs, bias, np.array(long_first[:4])))
    ptr = in1["Input"].data_ptr()
    same_key = [i for i in range(len(seqs)) if bucket_key([len(seqs[i])]) == ex1.key][:1] * 4
    ex2, in2, len2 = buckets.load(_batch(seqs, bias, np.array(same_key)))
    assert ex2 is ex1 and in2["Input"].data_ptr() == ptr
    expected, lens = pad_batch([seqs[i] for i in same_key], ex1.key[0])
    assert torch.equal(in2["Input"], expected) and torch.equal(len2[0], lens)
    # The net on the padded bucket equals the net on each unpadded sequence.
    ex3, in3, len3 = buckets.load(_batch(seqs, bias, a))
    out = ex3(in3, len3)["Output"]
    net = ex3.owner.module
    for j, i in enumerate(a):
        one = net({"Input": torch.from_numpy(seqs[i])[None], "Bias": torch.tensor([bias[i]])},
                  {0: torch.tensor([len(seqs[i])])})["Output"]
        torch.testing.assert_close(out[j], one[0])


def test_layouts_from_a_sample_batch():
    seqs, bias = _data()
    lay = infer_layouts(_batch(seqs, bias, np.arange(4)), {"Input": 0}, torch.float64)
    assert lay == {"Input": InputLayout(0, (), torch.int64), "Bias": InputLayout(None, (), torch.float64)}
    with pytest.raises(EngineError, match="different shapes"):
        infer_layouts({"X": [np.ones(2), np.ones(3)]}, {})


def test_bad_keys_and_batches_name_the_problem():
    buckets = BucketExecutors(MaskedMean(), _layouts())
    with pytest.raises(EngineError, match=r"bucket key \[4, 4\] should have one length"):
        buckets.get((4, 4), 2)
    ex = buckets.get((4,), 2)
    with pytest.raises(EngineError, match="length 6 does not fit the bucket length 4"):
        ex.fill({"Input": [np.ones(6, np.int64), np.ones(2, np.int64)], "Bias": np.zeros(2)})
    with pytest.raises(EngineError, match="'Other'"):
        ex.fill({"Other": np.zeros(2)})


def test_payloads_are_built_only_for_live_channels():
    """DESIGN rule 4: with Plan off the plan builder (which would raise) is never called; with
    Plan on the master bucket logs ToNetPlan with maxSeqLens = the key (§3.1)."""

    def boom(_ex):
        raise AssertionError("plan built for a dead channel")

    events, log = _recorder("Bucketing")
    buckets = BucketExecutors(MaskedMean(), _layouts(), events, plan=boom)
    buckets.get((20,), 4)
    buckets.get((8,), 4)
    buckets.get((8,), 2)
    assert len(log) == 2
    quiet = BucketExecutors(MaskedMean(), _layouts(), Events(), plan=boom)
    quiet.get((20,), 4)
    quiet.get((30,), 4)

    events, log = _recorder("Plan")
    BucketExecutors(MaskedMean(), _layouts(), events).get((12,), 4)
    (channel, payload), = log
    assert payload[0] == "ToNetPlan" and payload[1] == {0: 12}
    assert '"Input":[4,12]' in payload[2].value


def _compile_round(backend) -> tuple[BucketExecutors, list, list]:
    seqs, bias = _data(16)
    events, log = _recorder("Bucketing", "Executor", "Plan")
    eager = MaskedMean()
    buckets = BucketExecutors(eager, _layouts(), events, compile_buckets=True, compile_backend=backend)
    long_idx = np.array(sorted(range(16), key=lambda i: -len(seqs[i]))[:4])
    short_idx = np.array(([i for i in range(16) if len(seqs[i]) <= 8] * 4)[:4])
    pairs = []
    for idx in (long_idx, short_idx, long_idx):
        ex, inputs, lengths = buckets.load(_batch(seqs, bias, idx))
        got = ex(inputs, lengths)["Output"]
        pairs.append((ex, got, eager(inputs, lengths)["Output"]))
    return buckets, pairs, log


def test_compile_buckets_one_graph_per_key_same_results():
    """"CompileBuckets" -> True: one compiled callable per key, results equal to eager; a new key
    logs NewBucket, a plan and an executor inherit (§3.3, §3.2). Uses the aot_eager backend (the
    same per-key graph capture, without the C++ build)."""
    from torch._dynamo.utils import counters

    before = counters["stats"]["unique_graphs"]
    buckets, pairs, log = _compile_round("aot_eager")
    (e1, g1, w1), (e2, g2, w2), (e3, g3, w3) = pairs
    assert e1 is e3 and e1 is not e2 and e1.compiled is not e2.compiled
    assert buckets.compiled_count == 2 and not buckets.compile_failed
    assert counters["stats"]["unique_graphs"] - before == 2
    for got, want in ((g1, w1), (g2, w2), (g3, w3)):
        torch.testing.assert_close(got, want)
    # Training goes through the compiled graph: its gradients are the eager ones.
    weight = buckets.module.embed.weight
    (grad_compiled,) = torch.autograd.grad(g2.square().sum(), weight)
    (grad_eager,) = torch.autograd.grad(w2.square().sum(), weight)
    torch.testing.assert_close(grad_compiled, grad_eager)
    names = [(c, v[0]) for c, v in log]
    assert names == [
        ("Bucketing", "NewMasterBucket"), ("Plan", "ToNetPlan"), ("Executor", Symbol("NetExecutorCreate")),
        ("Bucketing", "NewBucket"), ("Plan", "ToNetPlan"), ("Executor", Symbol("NetExecutorInherit")),
    ]
    assert log[5][1][1] == {"Input": (4, e2.key[0]), "Bias": (4,)}


def test_compile_failure_warns_once_and_runs_eager():
    def broken_backend(gm, example_inputs):
        raise RuntimeError("no compiler here")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        buckets, pairs, _ = _compile_round(broken_backend)
    msgs = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(msgs) == 1 and msgs[0].startswith("NetTrain::bucketcompile:")
    assert buckets.compile_failed and buckets.compiled_count == 0
    for _, got, want in pairs:
        torch.testing.assert_close(got, want)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("WLBRIDGE_COMPILE_TESTS") or not shutil.which("gcc"),
                    reason="inductor's C++ build takes about a minute on CPU; set WLBRIDGE_COMPILE_TESTS=1")
def test_compile_buckets_with_inductor():
    buckets, pairs, _ = _compile_round("inductor")
    assert buckets.compiled_count == 2 and not buckets.compile_failed
    for _, got, want in pairs:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_buffers_are_staged_through_pinned_host_memory():
    seqs, bias = _data()
    buckets = BucketExecutors(MaskedMean().cuda(), _layouts(), device="cuda")
    idx = np.arange(4)
    ex, inputs, lengths = buckets.load(_batch(seqs, bias, idx))
    assert inputs["Input"].is_cuda and lengths[0].is_cuda and ex.host_inputs["Input"].is_pinned()
    expected, lens = pad_batch([seqs[i] for i in idx], ex.key[0])
    assert torch.equal(inputs["Input"].cpu(), expected) and torch.equal(lengths[0].cpu(), lens)
    ptr = inputs["Input"].data_ptr()
    _, again, _ = buckets.load(_batch(seqs, bias, idx))
    assert again["Input"].data_ptr() == ptr
