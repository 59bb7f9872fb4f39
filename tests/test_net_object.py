"""`wlbridge.Net`: building, evaluating and writing back Wolfram nets (wl-nets.md §6.2, §7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from wolframclient.deserializers import binary_deserialize
from wolframclient.serializers import export

import wlbridge
from wlbridge.messages import WLMessage
from wlbridge.nets import Net, net_to_wl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "nets"


def example(n: int) -> str:
    (path,) = EXAMPLES.glob(f"{n:02d}_*.wl")
    return path.read_text()


def selu(x: np.ndarray) -> np.ndarray:
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))


def test_example_12_hand_computed_output():
    """§6.2 note: for x = {1,1,1}, h = SELU({0.6, 1.6}) and y = h1 - h2 + 0.5."""
    net = Net(example(12))
    h = selu(np.array([0.6, 1.6]))
    (y,) = net([1, 1, 1])
    assert y == pytest.approx(h[0] - h[1] + 0.5, abs=1e-6)
    batch = net([[1, 1, 1], [0, 0, 0]])
    assert len(batch) == 2 and batch[1][0] == pytest.approx(selu(np.array([0.0, 0.1])) @ [1, -1] + 0.5, abs=1e-6)


@pytest.mark.parametrize("n, x, check", [
    (2, np.zeros((1, 28, 28)), lambda y: y in range(10)),
    (3, np.zeros((1, 28, 28)), lambda y: y.shape == (10,) and abs(float(y.sum()) - 1) < 1e-5),
    (4, np.ones((3, 32, 32)), lambda y: y in ("cat", "dog", "bird")),
    (7, {"Numeric": [0.5] * 8, "Extra": [1, 2, 3, 4]}, lambda y: y in (True, False)),
    (8, np.ones((16, 8, 8)), lambda y: y.shape == (16, 8, 8) and (y >= 0).all()),
    (11, {"Input": [1, 2, 3, 4], "Target": [0, 0, 0, 0]}, lambda y: isinstance(y, float) and y >= 0),
])
def test_example_nets_run_forward(n, x, check):
    net = Net(example(n), seed=1)
    assert check(net(x))


def test_probabilities_property():
    """``net(x, "Probabilities")`` as in Mathematica: an association label -> p."""
    net = Net(example(4), seed=3)
    x = np.random.default_rng(0).normal(size=(3, 32, 32))
    probs = net(x, "Probabilities")
    assert list(probs) == ["cat", "dog", "bird"]
    assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
    assert net(x) == max(probs, key=probs.get)
    batch = net(np.stack([x, -x]), "Probabilities")
    assert len(batch) == 2 and batch[0] == pytest.approx(probs)


def test_boolean_decoder_and_two_inputs_batch():
    net = Net(example(7), seed=0)
    xs = {"Numeric": np.ones((5, 8)), "Extra": np.zeros((5, 4))}
    out = net(xs)
    assert len(out) == 5 and all(v is True or v is False for v in out)
    p = net({"Numeric": [1.0] * 8, "Extra": [0.0] * 4}, "Probability")
    assert (p >= 0.5) == out[0]


def test_character_lstm_classifier():
    """§6.2 net 5: a string in, a class label out; a batch of strings of different lengths."""
    net = Net(example(5), seed=0)
    assert net("hello world") in ("negative", "positive")
    single = net("abc", "Probabilities")
    batch = net(["abc", "a much longer review text"], "Probabilities")
    assert batch[0] == pytest.approx(single, abs=1e-6)


def test_seed_gives_reproducible_initialisation():
    a, b, c = Net(example(2), seed=7), Net(example(2), seed=7), Net(example(2), seed=8)
    wa, wb, wc = (n.arrays()[("1", "Weights")] for n in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)


def test_initial_arrays_given_in_text_are_used():
    net = Net('NetChain[{LinearLayer[2, "Weights" -> {{1, 2}, {3, 4}}, "Biases" -> {0.5, -0.5}]}, "Input" -> 2]')
    np.testing.assert_allclose(net([1, 1]), [3.5, 6.5])
    assert net.arrays()[("1", "Biases")].tolist() == [0.5, -0.5]


ROUND_TRIP = {
    "tiny": (example(12), lambda r: r.normal(size=(4, 3))),
    "vgg_bn": (example(4), lambda r: r.normal(size=(2, 3, 32, 32))),
    "residual": (example(8), lambda r: r.normal(size=(2, 16, 8, 8))),
    "conv_short_forms": ('NetChain[{ConvolutionLayer[4, 3], Ramp, PoolingLayer[2], FlattenLayer[], 10, Ramp, 3, '
                         'SoftmaxLayer[]}, "Input" -> {1, 8, 8}]', lambda r: r.normal(size=(2, 1, 8, 8))),
    "named_graph": (example(7), lambda r: {"Numeric": r.normal(size=(3, 8)), "Extra": r.normal(size=(3, 4))}),
    "swish_no_bias": ('NetChain[<|"l" -> LinearLayer[4, "Biases" -> None], "f" -> ElementwiseLayer[# LogisticSigmoid[#] &], '
                      '"o" -> 2|>, "Input" -> 3]', lambda r: r.normal(size=(5, 3))),
}


def _raw_outputs(net: Net, x):
    names = list(net.input_types)
    inputs = x if isinstance(x, dict) else {names[0]: x}
    net.module.eval()
    with torch.no_grad():
        out = net.module({k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_write_back_round_trip(name):
    """§7: text -> Net -> to_wl -> to_text -> parse -> Net gives the same outputs; WXF too."""
    text, make = ROUND_TRIP[name]
    rng = np.random.default_rng(1)
    net = Net(text, seed=2)
    if name == "vgg_bn":  # give BatchNorm non-trivial moving statistics first
        for k, a in net.module.arrays().items():
            if k[-1] in ("MovingMean", "MovingVariance", "Scaling", "Biases"):
                with torch.no_grad():
                    a.copy_(torch.as_tensor(rng.uniform(0.5, 1.5, size=a.shape)))
    x = make(rng)
    before = _raw_outputs(net, x)
    text_back = wlbridge.to_text(net.to_wl())
    assert "NumericArray[" in text_back
    again = Net(text_back)  # a fresh seed would differ: equal outputs mean every array came back
    after = _raw_outputs(again, x)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], atol=1e-6, rtol=0)
    for path, arr in net.arrays().items():
        np.testing.assert_array_equal(again.arrays()[path], arr)  # bit-exact float32
    via_wxf = Net(binary_deserialize(export(net.to_wl(), target_format="wxf")))
    for k in before:
        np.testing.assert_allclose(_raw_outputs(via_wxf, x)[k], before[k], atol=1e-6, rtol=0)


def test_write_back_keeps_structure_and_states_ports():
    """§7.1: same container, keys, edges and options; the outer ports always stated."""
    net = Net('NetChain[<|"c" -> ConvolutionLayer[2, {1, 1}, PaddingSize -> 0], "act" -> Ramp, "lin" -> 3|>, '
              '"Input" -> {1, 2, 2}]', seed=0)
    text = wlbridge.to_text(net.to_wl())
    assert text.startswith('NetChain[<|"c" -> ConvolutionLayer[2, {1, 1}, PaddingSize -> 0, "Weights" -> NumericArray[')
    assert '"act" -> Ramp, "lin" -> LinearLayer[3, "Weights" -> NumericArray[' in text
    assert text.endswith('"Input" -> {1, 2, 2}, "Output" -> 3]')
    g = Net(example(7), seed=0)
    gtext = wlbridge.to_text(g.to_wl())
    assert '{NetPort["Numeric"] -> "a", NetPort["Extra"] -> "b", {"a", "b"} -> "cat" -> "relu" -> "out" -> "sig"}' in gtext
    assert '"Output" -> NetDecoder["Boolean"]' in gtext


def test_write_back_adds_inferred_input_port():
    """A net whose input shape was only implied still writes back with an explicit "Input"."""
    net = Net('NetChain[{LinearLayer[2, "Input" -> 3], Tanh}]', seed=0)
    expr = net.to_wl()
    assert wlbridge.to_text(expr).endswith('"Input" -> 3, "Output" -> 2]')
    spec_only = net_to_wl(net.expr, net.spec, net.arrays())
    assert wlbridge.to_text(spec_only).count("NumericArray[") == 2


def test_net_from_net_and_from_module():
    net = Net(example(12))
    copy = Net(net)
    assert copy([1, 2, 3]) == pytest.approx(net([1, 2, 3]))
    wrapped = Net.from_module(net.expr, net.module)
    assert wrapped.module is net.module and wrapped([1, 1, 1]) == pytest.approx(net([1, 1, 1]))
    assert wlbridge.to_text(wrapped.to_wl()) == wlbridge.to_text(net.to_wl())


@pytest.mark.parametrize("call, fragment", [
    (lambda n: n([1, 2]), 'the input "Input" should have dimensions [3], got [2]'),
    (lambda n: n([[[1, 2, 3]]]), 'the input "Input" should have rank 1 (or 2 for a batch)'),
    (lambda n: n([1, 2, 3], "Probabilities"), 'the output "Output" has no decoder'),
])
def test_bad_calls(call, fragment):
    with pytest.raises(WLMessage) as err:
        call(Net(example(12)))
    assert fragment in str(err.value)
