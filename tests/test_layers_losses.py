"""ContrastiveLossLayer, CTCLossLayer, RandomArrayLayer and SequenceAttentionLayer against
independent computations, with the conventions of their pages and of NeuralNetworks
(ContrastiveLossLayer: Max[margin - d, 0] for True targets, d for False, margin 0.5;
CTCLossLayer: the blank is the *last* class, targets 1..c, loss -log of the summed probability
of every alignment, Graves et al. 2006)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(12)


def test_contrastive_loss_by_target():
    n = wlbridge.Net('NetGraph[{ContrastiveLossLayer[]}, {}, "Input" -> "Real", "Target" -> "Real"]')
    out = n({"Input": [0.2, 0.2, 0.9, 0.7], "Target": [1.0, 0.0, 1.0, 0.0]})
    np.testing.assert_allclose(out, [0.3, 0.2, 0.0, 0.7], rtol=1e-6)
    n = wlbridge.Net('NetGraph[{ContrastiveLossLayer[2]}, {}, "Input" -> "Real", "Target" -> "Real"]')
    assert n({"Input": [0.5], "Target": [1.0]}) == pytest.approx([1.5])


def ctc_brute_force(p: np.ndarray, target: list[int]) -> float:
    """-log of the total probability of every path that collapses to ``target`` (blank last)."""
    steps, classes = p.shape
    blank = classes - 1
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
        if collapsed == [t - 1 for t in target]:
            total += math.prod(p[i, k] for i, k in enumerate(path))
    return -math.log(total)


def test_ctc_loss_against_enumerating_alignments():
    n = wlbridge.Net('NetGraph[{CTCLossLayer[]}, {}, "Input" -> {"Varying", 3}, "Target" -> {"Varying"}]')
    cases = [(RNG.dirichlet(np.ones(3), size=5), [1, 2]), (RNG.dirichlet(np.ones(3), size=3), [2, 2]),
             (RNG.dirichlet(np.ones(3), size=4), [1])]
    out = n({"Input": [p for p, _ in cases], "Target": [t for _, t in cases]})
    for (p, t), got in zip(cases, out, strict=True):
        assert got == pytest.approx(ctc_brute_force(p, t), rel=1e-4)


def test_random_array_draws_fresh_samples():
    text = ('NetGraph[<|"r" -> RandomArrayLayer[UniformDistribution[{2, 3}], "Output" -> {500}], '
            '"p" -> ThreadingLayer[Plus]|>, {{NetPort["Input"], "r"} -> "p"}, "Input" -> 500]')
    n = wlbridge.Net(text)
    a, b = n(np.zeros(500)), n(np.zeros(500))
    assert 2 <= a.min() and a.max() <= 3 and abs(a.mean() - 2.5) < 0.05 and not np.allclose(a, b)
    n = wlbridge.Net(text.replace("UniformDistribution[{2, 3}]", "NormalDistribution[1, 2]"))
    z = n(np.zeros(500))
    assert abs(z.mean() - 1) < 0.3 and abs(z.std() - 2) < 0.3


def test_sequence_attention_is_attention_over_its_input():
    n = wlbridge.Net('NetGraph[{SequenceAttentionLayer["Dot"]}, {}, "Input" -> {4, 3}, "Query" -> 3]')
    x, q = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    w = np.exp(x @ q)
    np.testing.assert_allclose(n({"Input": x, "Query": q}), (w / w.sum()) @ x, rtol=1e-5)


def test_trained_pair_embedding_with_contrastive_loss_writes_back():
    """NetPairEmbeddingOperator trained with ContrastiveLossLayer (the page's pairing)."""
    text = ('NetGraph[<|"embed" -> NetPairEmbeddingOperator[NetChain[{LinearLayer[4], Tanh, LinearLayer[2]}]], '
            '"loss" -> ContrastiveLossLayer[1]|>, {"embed" -> "loss"}, "Input" -> {2, 3}, "Target" -> "Real"]')
    pairs = RNG.normal(size=(48, 2, 3)).astype(np.float32)
    target = (np.sign(pairs[:, 0, 0]) != np.sign(pairs[:, 1, 0])).astype(np.float32)  # True: push apart
    trained, losses = train(text, {"Input": pairs, "Target": target})
    assert losses[-1] < losses[0]
    assert_round_trip(trained, {"Input": pairs[:5], "Target": target[:5]})


@pytest.mark.parametrize("text,words", [
    ('NetGraph[{ContrastiveLossLayer[]}, {}, "Input" -> 3, "Target" -> "Real"]', "a distance"),
    ('NetGraph[{CTCLossLayer[]}, {}, "Input" -> {"Varying", 1}, "Target" -> {"Varying"}]', "size c+1"),
    ('NetGraph[{RandomArrayLayer[PoissonDistribution[2], "Output" -> 3]}, {}]', "NormalDistribution"),
    ('NetGraph[{RandomArrayLayer[NormalDistribution[0, 1]]}, {}]', "could not be inferred"),
    ('NetGraph[{ContrastiveLossLayer["big"]}, {}, "Input" -> "Real", "Target" -> "Real"]', "Margin"),
])
def test_bad_input_gives_one_message(text, words):
    got = message(text)
    assert "NetTrain::" in got and words in got
