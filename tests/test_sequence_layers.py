"""Sequence layers over "Varying" dims and the masking helpers (wl-nets.md §2.15–2.19, §8.10).

Every test checks that padded steps never change an example's result: the same example gives
the same value whatever it is batched with and whatever the padding holds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.init import initialize_layer
from engine.layers import lookup
from engine.layers.sequence import (
    derived_length_var,
    last_valid,
    masked_aggregate,
    masked_sequence_mean,
    sequence_mask,
)
from engine.spec import LayerSpec, LengthVar, TensorType

torch.set_num_threads(1)

V = LengthVar(0)
PATH = ("NetChain", '"2"')


def build(kind: str, in_types: dict, **args):
    return lookup(kind).build(LayerSpec(kind, args), in_types, PATH)


def padded(seqs: list[np.ndarray], steps: int, pad: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.full((len(seqs), steps, *seqs[0].shape[1:]), pad, dtype=torch.float32)
    for i, q in enumerate(seqs):
        x[i, : len(q)] = torch.as_tensor(q, dtype=torch.float32)
    return x, torch.tensor([len(q) for q in seqs])


def test_sequence_mask_and_last_valid():
    """§2.15: SequenceLast of a "Varying" sequence is its last *valid* element."""
    lens = torch.tensor([3, 1, 4])
    assert sequence_mask(lens, 4).tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]]
    x = torch.arange(12.0).reshape(3, 4)
    assert last_valid(x, lens).tolist() == [2.0, 4.0, 11.0]
    assert last_valid(x, None).tolist() == [3.0, 7.0, 11.0]


def test_sequence_last_layer():
    """§2.15: output type drops the sequence dim (integer ports stay integer)."""
    m, out = build("SequenceLastLayer", {"Input": TensorType((V, 2))})
    assert out == {"Output": TensorType((2,))}
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(L, 2)) for L in (3, 5, 1)]
    for pad in (0.0, 99.0):
        x, lens = padded(seqs, 8, pad)
        y = m({"Input": x}, {0: lens})["Output"]
        np.testing.assert_allclose(y.numpy(), np.array([q[-1] for q in seqs]), rtol=1e-6)
    _, out = build("SequenceLastLayer", {"Input": TensorType((V,), index_range=7)})
    assert out == {"Output": TensorType((), index_range=7)}
    with pytest.raises(EngineError, match=r'NetChain > "2": the input should be a sequence'):
        build("SequenceLastLayer", {"Input": TensorType(())})


@pytest.mark.parametrize("kind,keep", [("SequenceMostLayer", slice(None, -1)), ("SequenceRestLayer", slice(1, None))])
def test_sequence_most_rest(kind, keep):
    """§2.15: Most drops the last element, Rest the first; lengths shrink by one (a derived
    length variable, shared by Most and Rest so their outputs can meet in a loss)."""
    m, out = build(kind, {"Input": TensorType((V, 2))})
    w = derived_length_var(V, -1)
    assert out == {"Output": TensorType((w, 2))} and w.id != V.id
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(L, 2)) for L in (4, 2, 6)]
    x, lens = padded(seqs, 8, -5.0)
    lengths = {0: lens}
    y = m({"Input": x}, lengths)["Output"]
    assert lengths[w.id].tolist() == [3, 1, 5]
    for i, q in enumerate(seqs):
        np.testing.assert_allclose(y[i, : len(q) - 1].numpy(), q[keep], rtol=1e-6)
    _, fixed = build(kind, {"Input": TensorType((5, 2))})
    assert fixed == {"Output": TensorType((4, 2))}
    with pytest.raises(EngineError, match="needs sequences of length at least 2, but batch element 2 has length 1"):
        m({"Input": x}, {0: torch.tensor([4, 1, 6])})
    with pytest.raises(EngineError, match="needs at least 2 elements"):
        build(kind, {"Input": TensorType((1, 2))})


def test_masked_sequence_mean_is_mean_over_valid_steps():
    """§2.23 on sequences: a per-step loss is averaged over each example's valid steps only."""
    per_step = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, 100.0, -100.0, 7.0]])
    assert masked_sequence_mean(per_step, torch.tensor([3, 1])).tolist() == [2.0, 4.0]
    assert masked_sequence_mean(per_step, None).tolist() == [26.5, 2.75]
    three = torch.ones(2, 4, 3)
    three[0, 2:] = 50
    assert masked_sequence_mean(three, torch.tensor([2, 4])).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("function", ["Max", "Min", "Mean", "Total"])
def test_masked_aggregate_ignores_padding(function):
    """§2.16 over a varying level: padded steps are excluded from Max/Min/Mean/Total."""
    rng = np.random.default_rng(2)
    seqs = [rng.normal(size=(L, 3)) for L in (2, 5, 1)]
    ref = {"Max": np.max, "Min": np.min, "Mean": np.mean, "Total": np.sum}[function]
    expected = np.array([ref(q, axis=0) for q in seqs])
    for pad in (0.0, 1e4, -1e4):
        x, lens = padded(seqs, 7, pad)
        np.testing.assert_allclose(masked_aggregate(x, lens, function).numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(EngineError, match="unknown function 'Median'"):
        masked_aggregate(x, lens, "Median")


@pytest.mark.parametrize("function", ["Max", "Mean", "Total"])
def test_aggregation_layer_masks_varying_level(function):
    """§2.16 + §8.10: the registered AggregationLayer over the "Varying" level agrees with the
    masked helper and does not depend on the pad value."""
    m, out = build("AggregationLayer", {"Input": TensorType((V, 3))}, Function=function, Levels=1)
    assert out["Output"].dims == (3,)
    rng = np.random.default_rng(3)
    seqs = [rng.normal(size=(L, 3)) for L in (3, 6)]
    results = []
    for pad in (0.0, 1e3):
        x, lens = padded(seqs, 9, pad)
        results.append(m({"Input": x}, {0: lens})["Output"])
        torch.testing.assert_close(results[-1], masked_aggregate(x, lens, function), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_cross_entropy_on_sequences_of_classes():
    """§2.23: CrossEntropyLossLayer["Index"] on a sequence of class vectors: −log p[target] per
    step, averaged over the valid steps of each example (padded steps excluded)."""
    m, _ = lookup("CrossEntropyLossLayer").build(
        LayerSpec("CrossEntropyLossLayer", {"Form": "Index"}),
        {"Input": TensorType((V, 4)), "Target": TensorType((V,), index_range=4)}, PATH)
    rng = np.random.default_rng(4)
    probs = [rng.dirichlet(np.ones(4), size=L) for L in (3, 5)]
    targets = [rng.integers(1, 5, size=len(p)) for p in probs]
    x, lens = padded(probs, 6, 0.25)
    t = torch.ones(2, 6, dtype=torch.int64)  # pad targets with a valid class; the mask drops them
    for i, q in enumerate(targets):
        t[i, : len(q)] = torch.as_tensor(q)
    loss = m({"Input": x, "Target": t}, {0: lens})["Loss"]
    expected = [np.mean(-np.log(p[np.arange(len(q)), q - 1])) for p, q in zip(probs, targets, strict=True)]
    np.testing.assert_allclose(loss.detach().numpy(), expected, rtol=1e-5)
    per_step = -torch.log(torch.gather(x, 2, (t - 1).unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(masked_sequence_mean(per_step, lens), loss)


def test_embedding_accepts_varying_sequences():
    """§2.11: EmbeddingLayer takes integer sequences of any length; output rank + 1."""
    m, out = lookup("EmbeddingLayer").build(LayerSpec("EmbeddingLayer", {"OutputDimensions": 3}),
                                            {"Input": TensorType((V,), index_range=5)}, PATH)
    assert out == {"Output": TensorType((V, 3))}


def test_netmap_applies_inner_layer_per_step():
    """§2.19: NetMapOperator[LinearLayer[2]] applies the same Linear to every element; its arrays
    live in the inner layer (``module.net``)."""
    inner = LayerSpec("LinearLayer", {"OutputDimensions": (2,)})
    m, out = lookup("NetMapOperator").build(LayerSpec("NetMapOperator", {"Net": inner}),
                                            {"Input": TensorType((V, 3))}, PATH)
    assert out == {"Output": TensorType((V, 2))}
    initialize_layer(m.net)
    arrays = m.net.get_arrays()
    W, b = arrays["Weights"], arrays["Biases"]
    rng = np.random.default_rng(5)
    seqs = [rng.normal(size=(L, 3)) for L in (2, 4)]
    x, lens = padded(seqs, 4, 0.0)
    y = m({"Input": x}, {0: lens})["Output"]
    for i, q in enumerate(seqs):
        np.testing.assert_allclose(y[i, : len(q)].detach().numpy(), q @ W.T + b, rtol=1e-5, atol=1e-6)
    nested = LayerSpec("NetMapOperator", {"Net": LayerSpec("ElementwiseLayer", {"Function": "Tanh"})})
    m2, out2 = lookup("NetMapOperator").build(nested, {"Input": TensorType((V, 4, 2))}, PATH)
    assert out2 == {"Output": TensorType((V, 4, 2))}
    x = torch.randn(3, 5, 4, 2)
    torch.testing.assert_close(m2({"Input": x}, {0: torch.tensor([5, 2, 3])})["Output"], torch.tanh(x))
    with pytest.raises(EngineError, match="needs the net to map"):
        lookup("NetMapOperator").build(LayerSpec("NetMapOperator"), {"Input": TensorType((V, 3))}, PATH)
