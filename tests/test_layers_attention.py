"""DotLayer and AttentionLayer against a numpy attention written from the AttentionLayer page
(reference.wolfram.com/language/ref/AttentionLayer.html: o = Σ_i softmax(s)_i v_i with
s_i = f(k_i, q); "Dot" s = k.q, "Bilinear" s = Dot[k, W, q]; "Mask" -> "Causal"; "MultiHead";
"ScoreRescaling") and the NeuralNetworks 12.0 definition (W of dims {dq, dk} on the key;
"LengthSqrt" divides by the square root of the number of keys), plus write-back round trips."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(11)


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def attend(q, k, v, score, mask=None, rescale=None):
    """numpy attention of one example: q {m, dq}, k {n, dk}, v {n, dv}."""
    s = np.array([[score(ki, qi) for ki in k] for qi in q])
    m, n = s.shape
    visible = np.ones((m, n), bool)
    if mask is not None:
        window = n if mask == "Causal" else mask[1]
        visible = np.array([[i - window < j <= i for j in range(n)] for i in range(m)])
    if rescale == "LengthSqrt":
        s = s / np.sqrt(visible.sum(1, keepdims=True))
    if rescale == "DimensionSqrt":
        s = s / np.sqrt(k.shape[1])
    s = np.where(visible, s, -np.inf)
    return softmax(s) @ v


def net(text: str) -> wlbridge.Net:
    return wlbridge.Net(text, seed=2)


PORTS = '"Key" -> {5, 3}, "Value" -> {5, 2}, "Query" -> {4, 3}'


def example(m=4, n=5, dq=3, dk=3, dv=2):
    return {"Key": RNG.normal(size=(n, dk)), "Value": RNG.normal(size=(n, dv)),
            "Query": RNG.normal(size=(m, dq))}


def test_dot_layer_contracts_last_with_first():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))
    n = net('NetGraph[{DotLayer[]}, {{NetPort["A"], NetPort["B"]} -> 1}, "A" -> {2, 3}, "B" -> {3, 4}]')
    np.testing.assert_allclose(n({"A": a, "B": b}), a @ b, rtol=1e-5)
    n = net('NetGraph[{DotLayer[]}, {{NetPort["A"], NetPort["B"]} -> 1}, "A" -> 3, "B" -> 3]')
    assert n({"A": a[0], "B": b[:, 0]}) == pytest.approx(float(a[0] @ b[:, 0]), rel=1e-5)


@pytest.mark.parametrize("opts,mask,rescale", [
    ("", None, None),
    (', "ScoreRescaling" -> "LengthSqrt"', None, "LengthSqrt"),
    (', "ScoreRescaling" -> "DimensionSqrt"', None, "DimensionSqrt"),
])
def test_dot_attention(opts, mask, rescale):
    n = net(f'NetGraph[{{AttentionLayer["Dot"{opts}]}}, {{}}, {PORTS}]')
    x = example()
    want = attend(x["Query"], x["Key"], x["Value"], lambda k, q: k @ q, mask, rescale)
    np.testing.assert_allclose(n(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask", ["Causal", ("Causal", 2)])
def test_causal_masks_with_length_rescaling(mask):
    spec = '"Causal"' if mask == "Causal" else '{"Causal", 2}'
    n = net(f'NetGraph[{{AttentionLayer["Dot", "Mask" -> {spec}, "ScoreRescaling" -> "LengthSqrt"]}}, {{}}, '
            '"Key" -> {5, 3}, "Value" -> {5, 2}, "Query" -> {5, 3}]')
    x = example(m=5)
    want = attend(x["Query"], x["Key"], x["Value"], lambda k, q: k @ q, mask, "LengthSqrt")
    np.testing.assert_allclose(n(x), want, rtol=1e-5, atol=1e-6)


def test_bilinear_default_weights_are_dq_by_dk_on_the_key():
    n = net('NetGraph[{AttentionLayer[]}, {}, "Key" -> {5, 3}, "Value" -> {5, 2}, "Query" -> {4, 6}]')
    (path, w), = n.arrays().items()
    assert path == ("1", "ScoringNet", "Linear", "Weights") and w.shape == (6, 3)
    x = example(dq=6)
    want = attend(x["Query"], x["Key"], x["Value"], lambda k, q: q @ (w @ k))
    np.testing.assert_allclose(n(x), want, rtol=1e-5, atol=1e-6)


def test_single_query_vector():
    n = net('NetGraph[{AttentionLayer["Dot"]}, {}, "Key" -> {5, 3}, "Value" -> {5, 2}, "Query" -> 3]')
    x = example(m=1)
    x["Query"] = x["Query"][0]
    assert n.output_types["Output"].dims == (2,)
    want = attend(x["Query"][None], x["Key"], x["Value"], lambda k, q: k @ q)[0]
    np.testing.assert_allclose(n(x), want, rtol=1e-5, atol=1e-6)


def test_custom_additive_scoring_net():
    """A scoring NetGraph of "Input" and "Query" (the additive scoring of the 12.0 tests)."""
    text = ('NetGraph[{AttentionLayer[NetGraph[{LinearLayer[4, "Biases" -> None], LinearLayer[4, "Biases" -> None], '
            'ThreadingLayer[Tanh[#1 + #2] &], LinearLayer[{}, "Biases" -> None]}, '
            '{NetPort["Input"] -> 1 -> 3, NetPort["Query"] -> 2 -> 3 -> 4}]]}, {}, ' + PORTS + ']')
    n = net(text)
    a = {p[1:]: v for p, v in n.arrays().items()}
    w1, w2, w4 = a[("ScoringNet", "1", "Weights")], a[("ScoringNet", "2", "Weights")], a[("ScoringNet", "4", "Weights")]
    x = example()
    want = attend(x["Query"], x["Key"], x["Value"], lambda k, q: (w4 @ np.tanh(w1 @ k + w2 @ q)).item())
    np.testing.assert_allclose(n(x), want, rtol=1e-5, atol=1e-6)


def test_multihead_each_head_attends_alone():
    """"MultiHead" -> True: the level before the channels indexes heads."""
    n = net('NetGraph[{AttentionLayer["Dot", "MultiHead" -> True]}, {}, '
            '"Key" -> {5, 2, 3}, "Value" -> {5, 2, 4}, "Query" -> {6, 2, 3}]')
    k, v, q = RNG.normal(size=(5, 2, 3)), RNG.normal(size=(5, 2, 4)), RNG.normal(size=(6, 2, 3))
    y = n({"Key": k, "Value": v, "Query": q})
    assert y.shape == (6, 2, 4)
    for h in range(2):
        want = attend(q[:, h], k[:, h], v[:, h], lambda a, b: a @ b)
        np.testing.assert_allclose(y[:, h], want, rtol=1e-5, atol=1e-6)


def test_varying_keys_are_masked_past_each_length():
    n = net('NetGraph[{AttentionLayer["Dot"]}, {}, "Key" -> {"Varying", 3}, "Value" -> {"Varying", 2}, '
            '"Query" -> {4, 3}]')
    xs = [example(n=5), example(n=2)]
    out = n({p: [x[p] for x in xs] for p in ("Key", "Value", "Query")})
    for x, y in zip(xs, out, strict=True):
        np.testing.assert_allclose(y, attend(x["Query"], x["Key"], x["Value"], lambda k, q: k @ q),
                                   rtol=1e-5, atol=1e-6)


def test_trained_self_attention_writes_back():
    """Self-attention (Key, Value, Query from one sequence) trains and reads back from its text;
    the Bilinear weights travel inside the written scoring net."""
    text = ('NetGraph[<|"k" -> NetMapOperator[LinearLayer[4]], "v" -> NetMapOperator[LinearLayer[4]], '
            '"att" -> AttentionLayer[], "last" -> SequenceLastLayer[], "out" -> LinearLayer[1]|>, '
            '{NetPort["Input"] -> {"k", "v"}, "k" -> NetPort["att", "Key"], "v" -> NetPort["att", "Value"], '
            'NetPort["Input"] -> NetPort["att", "Query"], "att" -> "last" -> "out"}, '
            '"Input" -> {6, 4}, "Output" -> 1]')
    x = RNG.normal(size=(32, 6, 4)).astype(np.float32)
    y = x[:, :, 0].max(1, keepdims=True)
    trained, losses = train(text, {"Input": x, "Output": y})
    assert losses[-1] < losses[0]
    written = assert_round_trip(trained, x[:4])
    assert 'AttentionLayer[NetGraph[<|"Linear" -> LinearLayer[4, "Biases" -> None' in written


@pytest.mark.parametrize("text,words", [
    ('NetGraph[{AttentionLayer["Dot"]}, {}, "Key" -> {5, 3}, "Value" -> {5, 2}, "Query" -> {4, 6}]',
     "same size"),
    ('NetGraph[{AttentionLayer["Cosine"]}, {}, ' + PORTS + ']', "ScoringNet"),
    ('NetGraph[{AttentionLayer["Dot", "Mask" -> "Upper"]}, {}, ' + PORTS + ']', "Mask"),
    ('NetGraph[{AttentionLayer["Dot", "Mask" -> "Causal"]}, {}, ' + PORTS + ']', "causal"),
    ('NetGraph[{AttentionLayer["Dot", "Heads" -> 2]}, {}, ' + PORTS + ']', 'unknown option "Heads"'),
    ('NetGraph[{AttentionLayer["Dot"]}, {}, "Key" -> {5, 3}, "Value" -> {4, 2}, "Query" -> {4, 3}]',
     "same number of elements"),
])
def test_bad_attention_gives_one_message(text, words):
    text_of = message(text)
    assert "NetTrain::" in text_of and words in text_of
