"""Rearranging and constant-array layers against numpy, as their documentation pages define
them (reference.wolfram.com/language/ref/<Layer>.html), plus a trained write-back round trip."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(3)


def net(text: str) -> wlbridge.Net:
    return wlbridge.Net(text, seed=1)


@pytest.mark.parametrize("spec,perm", [
    ("", (1, 0, 2)),            # TransposeLayer[] is TransposeLayer[1 <-> 2]
    ("1<->3", (2, 1, 0)),       # page example: a 1x2x3 array becomes 3x2x1
    ("{1<->3, 1<->2}", None),   # swaps applied in order
    ("{3, 1, 2}", (1, 2, 0)),   # level k of the input is level n_k of the output
])
def test_transpose_levels(spec, perm):
    x = RNG.normal(size=(2, 3, 4))
    y = net(f'NetChain[{{TransposeLayer[{spec}]}}, "Input" -> {{2, 3, 4}}]')(x)
    want = np.swapaxes(np.swapaxes(x, 0, 2), 0, 1) if perm is None else np.transpose(x, perm)
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_transpose_doc_example_3x4x5x6():
    """TransposeLayer[{1<->3, 2<->4}] takes 3x4x5x6 to 5x6x3x4 (the page's Ports example)."""
    n = net('NetChain[{TransposeLayer[{1<->3, 2<->4}]}, "Input" -> {3, 4, 5, 6}]')
    assert n.output_types["Output"].dims == (5, 6, 3, 4)
    n = net('NetChain[{TransposeLayer[{1<->3, 1<->4}]}, "Input" -> {3, 4, 5, 6}]')
    assert n.output_types["Output"].dims == (6, 4, 3, 5)


def test_replicate_forms():
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(net('NetChain[{ReplicateLayer[3]}, "Input" -> 2]')(v), np.tile(v, (3, 1)))
    np.testing.assert_allclose(net('NetChain[{ReplicateLayer[3, 2]}, "Input" -> 2]')(v), np.tile(v, (3, 1)).T)
    y = net('NetChain[{ReplicateLayer[{3, 4}]}, "Input" -> 2]')(v)
    assert y.shape == (3, 4, 2) and np.all(y == v)
    # Automatic: the number of copies comes from the declared output
    y = net('NetChain[{ReplicateLayer[Automatic]}, "Input" -> 2, "Output" -> {5, 2}]')(v)
    assert y.shape == (5, 2)


@pytest.mark.parametrize("spec,index", [
    ("2", (1,)), ("-2", (-2,)), ("2;;3", (slice(1, 3),)), ("1;;-1;;2", (slice(0, None, 2),)),
    ("{All, 2}", (slice(None), 1)), ("{{3, 1}}", ([2, 0],)), ("{2, {1, 3}}", (1, [0, 2])),
])
def test_part_specs(spec, index):
    x = RNG.normal(size=(4, 3))
    y = net(f'NetChain[{{PartLayer[{spec}]}}, "Input" -> {{4, 3}}]')(x)
    np.testing.assert_allclose(y, x[index], rtol=1e-6)


def test_append_prepend_on_varying_sequences():
    """Append[in, elem] at each sequence's own end; the length grows by one."""
    seqs = [RNG.normal(size=(3, 2)), RNG.normal(size=(1, 2))]
    elems = [[5.0, 6.0], [7.0, 8.0]]
    for layer, f in (("AppendLayer", lambda s, e: np.vstack([s, e])),
                     ("PrependLayer", lambda s, e: np.vstack([e, s]))):
        n = net(f'NetGraph[{{{layer}[]}}, {{}}, "Input" -> {{"Varying", 2}}]')
        out = n({"Input": seqs, "Element": elems})
        for s, e, o in zip(seqs, elems, out, strict=True):
            np.testing.assert_allclose(o, f(s, e), rtol=1e-6)


def test_extract_positions():
    """Input {3, 2} and Position {m, 2}: output {m}; negative positions count from the end."""
    x = np.arange(6.0).reshape(3, 2)
    n = net('NetGraph[{ExtractLayer[]}, {}, "Input" -> {3, 2}, "Position" -> {2, 2}]')
    np.testing.assert_allclose(n({"Input": x, "Position": [[3, 1], [-1, -2]]}), [4.0, 4.0])
    n = net('NetGraph[{ExtractLayer[]}, {}, "Input" -> {3, 2}, "Position" -> "Integer"]')
    np.testing.assert_allclose(n({"Input": x, "Position": 2}), [2.0, 3.0])


def test_sequence_indices_maximum():
    n = net('NetChain[{SequenceIndicesLayer["Maximum" -> 2]}, "Input" -> {"Varying", 2}]')
    assert n([np.ones((4, 2))])[0].tolist() == [1, 2, 2, 2]


def test_constant_layers_and_net_array_effect():
    """ConstantPlus adds "Biases", ConstantTimes multiplies by "Scaling" (init 0 and 1), and
    NetArrayLayer outputs its "Array" for every example."""
    text = ('NetGraph[<|"a" -> NetArrayLayer["Array" -> {{1, 2}, {3, 4}}], "p" -> ThreadingLayer[Plus], '
            '"t" -> ConstantTimesLayer["Scaling" -> {{2, 2}, {0, 1}}], "c" -> ConstantPlusLayer[]|>, '
            '{{NetPort["Input"], "a"} -> "p" -> "t" -> "c"}, "Input" -> {2, 2}]')
    n = net(text)
    x = RNG.normal(size=(2, 2))
    np.testing.assert_allclose(n(x), (x + [[1, 2], [3, 4]]) * [[2, 2], [0, 1]], rtol=1e-6)
    assert np.all(n.arrays()[("c", "Biases")] == 0)
    assert np.all(net('NetChain[{ConstantTimesLayer[]}, "Input" -> 3]').arrays()[("1", "Scaling")] == 1)
    assert net('NetGraph[{ConstantArrayLayer["Output" -> {3}]}, {}]').arrays()[("1", "Array")].shape == (3,)


def test_trained_rearranging_net_writes_back():
    """A graph using every layer here trains, and its text reads back with the same outputs."""
    text = ('NetGraph[<|"t" -> TransposeLayer[], "p" -> PartLayer[{All, 1;;2}], "r" -> ReplicateLayer[2], '
            '"f" -> FlattenLayer[], "a" -> NetArrayLayer["Output" -> {8}], "s" -> ThreadingLayer[Plus], '
            '"k" -> ConstantTimesLayer[], "b" -> ConstantPlusLayer[], "l" -> LinearLayer[1]|>, '
            '{"t" -> "p" -> "r" -> "f", {"f", "a"} -> "s" -> "k" -> "b" -> "l"}, '
            '"Input" -> {3, 2}, "Output" -> 1]')
    x = RNG.normal(size=(32, 3, 2)).astype(np.float32)
    y = x[:, 0, :].sum(1, keepdims=True)
    trained, losses = train(text, {"Input": x, "Output": y})
    assert losses[-1] < losses[0]
    assert not np.all(trained.arrays()[("a", "Array")] == 0)  # the array is learned
    assert_round_trip(trained, x[:5])


@pytest.mark.parametrize("text,words", [
    ('NetChain[{TransposeLayer[1<->4]}, "Input" -> {2, 3}]', "cannot transpose level 4"),
    ('NetChain[{TransposeLayer["x"]}, "Input" -> {2, 3}]', "TransposeLayer"),
    ('NetChain[{PartLayer[5]}, "Input" -> 3]', "the part 5 does not exist"),
    ('NetChain[{ReplicateLayer[0]}, "Input" -> 3]', "ReplicateLayer"),
    ('NetChain[{ConstantPlusLayer["Bias" -> 1]}, "Input" -> 3]', 'unknown option "Bias"'),
    ('NetGraph[{NetArrayLayer[]}, {}]', "could not be inferred"),
    ('NetGraph[{AppendLayer[]}, {}, "Input" -> {3, 2}, "Element" -> 3]', '"Element" port'),
])
def test_bad_input_gives_one_message(text, words):
    text_of = message(text)
    assert "NetTrain::" in text_of and words in text_of and "Traceback" not in text_of
