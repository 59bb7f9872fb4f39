"""FunctionLayer against numpy under Wolfram's array rules (reference.wolfram.com/language/ref/
FunctionLayer.html: one "Input" for a function of one array, a port per named slot, numbered
ports under Apply; arithmetic, elementwise functions, Dot, Transpose, Total, Mean, Part, ...).
Wolfram lists thread from the first level: {{a, b}, {c, d}} + {x, y} = {{a+x, b+x}, {c+y, d+y}}."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

X = np.array([[1.0, 2.0, 0.5], [3.0, -4.0, 2.0]])


@pytest.mark.parametrize("f,want", [
    ("Sin[#] + 1 &", np.sin(X) + 1),
    ("Total[#] &", X.sum(0)),                       # Total sums level 1
    ("Total[#, 2] &", X.sum()),
    ("Total[#, Infinity] &", X.sum()),
    ("Mean[#] &", X.mean(0)),
    ("# . {1, 2, 3} &", X @ [1, 2, 3]),
    ("{1, -1} . # &", np.array([1, -1]) @ X),
    ("Transpose[#] &", X.T),
    ("# + {10, 20} &", X + np.array([[10], [20]])),  # threading from the first level
    ("#^2 - 2 # &", X**2 - 2 * X),
    ("Part[#, 2] &", X[1]),
    ("Part[#, All, -1] &", X[:, -1]),
    ("Part[#, 1, 2;;3] &", X[0, 1:3]),
    ("Max[#] &", X.max()),                          # Max of one array: over every element
    ("Max[#, 0] &", np.maximum(X, 0)),
    ("Exp[#] / Total[Exp[#], Infinity] &", np.exp(X) / np.exp(X).sum()),
    ("Reverse[#] &", X[::-1]),
    ("Clip[#, {0, 1.5}] &", np.clip(X, 0, 1.5)),
    ("Norm[Flatten[#]] &", np.linalg.norm(X)),
    ("{Part[#, 2], Part[#, 1]} &", X[::-1]),
    ("Function[x, LogisticSigmoid[x] * x]", X / (1 + np.exp(-X))),
    ("Tanh", np.tanh(X)),
])
def test_function_of_one_array(f, want):
    n = wlbridge.Net(f'NetChain[{{FunctionLayer[{f}]}}, "Input" -> {{2, 3}}]')
    np.testing.assert_allclose(n(X), want, rtol=1e-5, atol=1e-6)


def test_named_slots_and_apply_ports():
    n = wlbridge.Net('NetGraph[{FunctionLayer[#Foo . #Bar &]}, {}, "Foo" -> {2, 3}, "Bar" -> 3]')
    assert list(n.input_types) == ["Foo", "Bar"]
    v = np.array([1.0, 0.0, 2.0])
    np.testing.assert_allclose(n({"Foo": X, "Bar": v}), X @ v, rtol=1e-6)
    n = wlbridge.Net('NetGraph[{FunctionLayer[Apply[#1 - 2 #2 &]]}, {}, "1" -> 3, "2" -> 3]')
    np.testing.assert_allclose(n({"1": X[0], "2": X[1]}), X[0] - 2 * X[1], rtol=1e-6)


def test_port_shapes_given_on_the_layer():
    """FunctionLayer[f, "port" -> shape] (the page's form) declares a slot's shape."""
    n = wlbridge.Net('NetGraph[{FunctionLayer[#Foo + Total[#Bar] &, "Foo" -> 2, "Bar" -> {3, 2}]}, {}]')
    assert n.input_types["Foo"].dims == (2,) and n.input_types["Bar"].dims == (3, 2)
    np.testing.assert_allclose(n({"Foo": [1.0, 2.0], "Bar": np.ones((3, 2))}), [4.0, 5.0])


def test_elementwise_function_on_varying_sequences():
    n = wlbridge.Net('NetChain[{FunctionLayer[2 # + 1 &]}, "Input" -> {"Varying", 2}]')
    seqs = [np.ones((3, 2)), np.zeros((1, 2))]
    out = n(seqs)
    np.testing.assert_allclose(out[0], 3 * np.ones((3, 2)))
    np.testing.assert_allclose(out[1], np.ones((1, 2)))


def test_trained_net_with_function_layers_writes_back():
    text = ('NetGraph[<|"sq" -> FunctionLayer[#^2 &], "l" -> LinearLayer[1], '
            '"mix" -> FunctionLayer[#a + 0.5 Total[#b] &]|>, '
            '{NetPort["Input"] -> "sq" -> "l" -> NetPort["mix", "a"], NetPort["Input"] -> NetPort["mix", "b"]}, '
            '"Input" -> 3, "Output" -> 1]')
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x**2).sum(1, keepdims=True) + 0.5 * x.sum(1, keepdims=True)
    trained, losses = train(text, {"Input": x, "Output": y})
    assert losses[-1] < losses[0]
    assert_round_trip(trained, x[:5])


@pytest.mark.parametrize("f,words", [
    ("Foo[#] &", "the function Foo is not supported"),
    ("#2 &", "takes one argument"),
    ('<|"a" -> #|> &', "association"),
    ("# . {1, 2} &", "cannot be applied to inputs of dimensions"),
    ("Total[#, -1] &", "Total takes a positive level"),
])
def test_bad_function_gives_one_message(f, words):
    text_of = message(f'NetChain[{{FunctionLayer[{f}]}}, "Input" -> {{2, 3}}]')
    assert "NetTrain::" in text_of and words in text_of
