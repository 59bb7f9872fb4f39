"""Net operators against numpy, as their pages define them (reference.wolfram.com/language/ref/
NetBidirectionalOperator.html: the backward net runs on the reversed sequence and its output
sequence is reversed back, then Catenate/Total/Mean; NetFoldOperator.html: s_i = net(x_i, s_(i-1))
from s_0 = 0; NetNestOperator.html: net applied n times with the same weights;
NetMapThreadOperator.html; NetPairEmbeddingOperator.html: the distance of the two embeddings)."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(9)


def rnn(seq, w, u, b):
    """BasicRecurrentLayer (wl-nets.md §2.14): s_t = tanh(W x_t + b + U s_(t-1)), s_0 = 0."""
    s, out = np.zeros(len(b)), []
    for x in seq:
        s = np.tanh(w @ x + b + u @ s)
        out.append(s)
    return np.array(out)


def text_of(a) -> str:
    return wlbridge.to_text(np.asarray(a).tolist())


def rnn_layer(w, u, b) -> str:
    return (f'BasicRecurrentLayer[{len(b)}, "InputWeights" -> {text_of(w)}, "StateWeights" -> {text_of(u)}, '
            f'"Biases" -> {text_of(b)}]')


@pytest.mark.parametrize("agg", ["Catenate", "Total", "Mean"])
def test_bidirectional_reverses_each_sequence(agg):
    wf, uf, bf = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3)
    wb, ub, bb = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3)
    n = wlbridge.Net(f'NetChain[{{NetBidirectionalOperator[{{{rnn_layer(wf, uf, bf)}, {rnn_layer(wb, ub, bb)}}}, '
                     f'{agg}]}}, "Input" -> {{"Varying", 2}}]')
    seqs = [RNG.normal(size=(5, 2)), RNG.normal(size=(2, 2))]
    for s, y in zip(seqs, n(seqs), strict=True):
        f, b = rnn(s, wf, uf, bf), rnn(s[::-1], wb, ub, bb)[::-1]
        want = {"Catenate": np.concatenate([f, b], 1), "Total": f + b, "Mean": (f + b) / 2}[agg]
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_bidirectional_of_one_net_trains_two_copies():
    n = wlbridge.Net('NetChain[{NetBidirectionalOperator[BasicRecurrentLayer[3]]}, "Input" -> {4, 2}]', seed=1)
    a = n.arrays()
    assert not np.allclose(a[("1", "ForwardNet", "InputWeights")], a[("1", "BackwardNet", "InputWeights")])
    assert n.output_types["Output"].dims == (4, 6)


def test_fold_feeds_output_back_as_state():
    w = RNG.normal(size=(3, 5))
    n = wlbridge.Net('NetChain[{NetFoldOperator[NetGraph[{CatenateLayer[], LinearLayer[3, "Weights" -> '
                     f'{text_of(w)}, "Biases" -> None], Tanh}}, {{{{NetPort["Input"], NetPort["State"]}} -> 1 -> 2 -> 3}}]]}}, '
                     '"Input" -> {4, 2}]')
    x = RNG.normal(size=(4, 2))
    s, want = np.zeros(3), []
    for xi in x:
        s = np.tanh(w @ np.concatenate([xi, s]))
        want.append(s)
    np.testing.assert_allclose(n(x), np.array(want), rtol=1e-5, atol=1e-6)


def test_fold_with_feedback_rules_and_constants():
    """NetFoldOperator[net, {"Output" -> "s"}, {"c"}]: "x" is mapped over, "c" is given whole
    at every step, the output is fed back to "s"; s_i = W.(x_i, s_(i-1)) + c."""
    w = RNG.normal(size=(2, 5)) * 0.5
    n = wlbridge.Net('NetGraph[{NetFoldOperator[NetGraph[<|"cat" -> CatenateLayer[], "lin" -> LinearLayer[2, '
                     f'"Weights" -> {text_of(w)}, "Biases" -> None], "plus" -> ThreadingLayer[Plus]|>, '
                     '{{NetPort["x"], NetPort["s"]} -> "cat" -> "lin", {"lin", NetPort["c"]} -> "plus"}], '
                     '{"Output" -> "s"}, {"c"}]}, {}, "x" -> {5, 3}, "c" -> 2]')
    assert list(n.input_types) == ["x", "c"]
    x, c = RNG.normal(size=(5, 3)), RNG.normal(size=2)
    s, want = np.zeros(2), []
    for xi in x:
        s = w @ np.concatenate([xi, s]) + c
        want.append(s)
    np.testing.assert_allclose(n({"x": x, "c": c}), np.array(want), rtol=1e-5, atol=1e-6)


def test_nest_applies_the_same_net_n_times():
    w, b = RNG.normal(size=(2, 2)) * 0.7, RNG.normal(size=2)
    n = wlbridge.Net(f'NetChain[{{NetNestOperator[LinearLayer[2, "Weights" -> {text_of(w)}, "Biases" -> '
                     f'{text_of(b)}], 3]}}, "Input" -> 2]')
    x = RNG.normal(size=2)
    want = x
    for _ in range(3):
        want = w @ want + b
    np.testing.assert_allclose(n(x), want, rtol=1e-5)
    assert len(n.arrays()) == 2  # one set of weights, shared


def test_map_thread_over_two_sequences():
    n = wlbridge.Net('NetGraph[{NetMapThreadOperator[FunctionLayer[#a * #b + 1 &]]}, {}, '
                     '"a" -> {"Varying", 2}, "b" -> {"Varying", 2}]')
    a, b = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    np.testing.assert_allclose(n({"a": [a], "b": [b]})[0], a * b + 1, rtol=1e-5)


@pytest.mark.parametrize("dist,f", [
    ("EuclideanDistance", lambda u, v: np.linalg.norm(u - v)),
    ("CosineDistance", lambda u, v: 1 - u @ v / np.linalg.norm(u) / np.linalg.norm(v)),
])
def test_pair_embedding_distances(dist, f):
    """The "Input" is a pair {2, ...} (the page's ports); both halves go through the same net.
    Its own generator: with the file's shared one, running this test alone drew a nearly
    parallel pair, whose CosineDistance (~5e-5) float32 cannot give to 1e-5 relative."""
    rng = np.random.default_rng(21)
    w = rng.normal(size=(3, 2))
    n = wlbridge.Net(f'NetChain[{{NetPairEmbeddingOperator[LinearLayer[3, "Weights" -> {text_of(w)}, '
                     f'"Biases" -> None], DistanceFunction -> {dist}]}}, "Input" -> {{2, 2}}]')
    x1, x2 = rng.normal(size=2), rng.normal(size=2)
    assert n(np.stack([x1, x2])) == pytest.approx(f(w @ x1, w @ x2), rel=1e-5)


def test_trained_operators_write_back():
    text = ('NetChain[{NetBidirectionalOperator[GatedRecurrentLayer[4], Total], '
            'NetMapOperator[LinearLayer[2]], NetFoldOperator[NetGraph[{CatenateLayer[], LinearLayer[2], Tanh}, '
            '{{NetPort["Input"], NetPort["State"]} -> 1 -> 2 -> 3}]], SequenceLastLayer[], '
            'NetNestOperator[LinearLayer[2], 2], LinearLayer[1]}, "Input" -> {"Varying", 3}, "Output" -> 1]')
    seqs = [RNG.normal(size=(int(k), 3)).astype(np.float32) for k in RNG.integers(2, 6, 40)]
    y = np.array([[s[:, 0].sum()] for s in seqs], np.float32)
    trained, losses = train(text, {"Input": seqs, "Output": y})
    assert losses[-1] < losses[0]
    written = assert_round_trip(trained, seqs[:4])
    assert "NetBidirectionalOperator[{GatedRecurrentLayer[4, " in written


@pytest.mark.parametrize("text,words", [
    ('NetChain[{NetBidirectionalOperator[LinearLayer[2], Max]}, "Input" -> {4, 2}]', "Catenate, Total or Mean"),
    ('NetChain[{NetBidirectionalOperator[{GatedRecurrentLayer[2], GatedRecurrentLayer[3]}]}, "Input" -> {4, 2}]',
     "different shapes"),
    ('NetChain[{NetFoldOperator[LinearLayer[3]]}, "Input" -> {4, 2}]', "no input 'State'"),
    ('NetChain[{NetFoldOperator[LinearLayer[3], {"Output" -> "Input"}]}, "Input" -> {4, 2}]', "at least one input"),
    ('NetChain[{NetNestOperator[LinearLayer[3], 2]}, "Input" -> 2]', "input's dimensions"),
    ('NetChain[{NetNestOperator[LinearLayer[3]]}, "Input" -> 2]', "missing parameter"),
    ('NetChain[{NetPairEmbeddingOperator[LinearLayer[3], DistanceFunction -> ManhattanDistance]}, '
     '"Input" -> {2, 2}]', "DistanceFunction"),
    ('NetChain[{NetPairEmbeddingOperator[LinearLayer[3]]}, "Input" -> {3, 2}]', "a pair of arrays"),
    ('NetChain[{NetFoldOperator[Foo[]]}, "Input" -> {4, 2}]', "unknown or unsupported layer Foo"),
])
def test_bad_operators_give_one_message(text, words):
    got = message(text)
    assert "NetTrain::" in got and words in got
