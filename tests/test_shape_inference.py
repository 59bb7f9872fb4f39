"""Shape inference (wl-nets.md §1.1 port specs; NetTrain infers open ports "from the shape of the
training data"): forwards and backwards through NetChain and NetGraph, the per-layer shape-rule
hook, port specs, and one message naming the layer and the port when constraints disagree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wlbridge
from engine.errors import EngineError
from engine.graph import build
from engine.shapes import ShapeConflict, infer_ports, same_shape, shape_rule, unify
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType
from wlbridge.data_shapes import column_type, data_port_types
from wlbridge.messages import WLMessage
from wlbridge.nets import to_net_spec

L = LayerSpec
T = TensorType


def test_unify_fills_unknown_sizes_and_refuses_disagreements():
    assert unify(T((None, 3)), T((2, None))) == T((2, 3))
    assert unify(T(None), T((4,))) == T((4,))
    assert unify(None, T(())) == T(())
    assert unify(T((), 0), T((), 5)) == T((), 5)  # "Integer" meets Restricted["Integer", 5]
    assert unify(T((LengthVar(1), 2)), T((LengthVar(7), None))) == T((LengthVar(1), 2))
    for a, b in [(T((3,)), T((4,))), (T((3,)), T((3, 1))), (T((LengthVar(1),)), T((5,))),
                 (T((), 3), T((), 4))]:
        with pytest.raises(ShapeConflict):
            unify(a, b)


def test_linear_layer_size_comes_backwards_from_the_declared_output():
    """LinearLayer[] → Tanh → "Output" -> 3: the size flows back through the elementwise layer."""
    spec = NetSpec("chain", {"1": L("LinearLayer"), "2": L("ElementwiseLayer", {"Function": "Tanh"})},
                   inputs={"Input": T((5,))}, outputs={"Output": T((3,))})
    m = build(spec)
    assert m.output_types["Output"] == T((3,))
    assert tuple(m.arrays()[("1", "Weights")].shape) == (3, 5)


def test_open_ports_from_given_types_forward_and_backward():
    """Input from the data (forward), output size from the target (backward), through a
    nested chain."""
    inner = NetSpec("chain", {"1": L("LinearLayer"), "2": L("DropoutLayer")})
    spec = NetSpec("chain", {"a": L("LinearLayer", {"OutputDimensions": (4,)}), "b": inner})
    m = build(spec, {"Input": T((2, 3))}, output_types={"Output": T((7,))})
    assert m.input_types["Input"] == T((2, 3))
    assert m.output_types["Output"] == T((7,))
    assert tuple(m.arrays()[("a", "Weights")].shape) == (4, 6)
    assert tuple(m.arrays()[("b", "1", "Weights")].shape) == (7, 4)


def test_two_input_graph_of_open_linear_layers():
    """The TotalLayer rule sends the output's shape back to both open LinearLayers."""
    spec = to_net_spec('NetGraph[{LinearLayer[], LinearLayer[], TotalLayer[]}, '
                       '{NetPort["x"] -> 1, NetPort["y"] -> 2, {1, 2} -> 3}]')
    m = build(spec, {"x": T((3,)), "y": T(())}, output_types={"Output": T(())})
    x, y = torch.randn(6, 3), torch.randn(6)
    out = m({"x": x, "y": y})["Output"]
    w1, b1 = m.arrays()[("1", "Weights")], m.arrays()[("1", "Biases")]
    w2, b2 = m.arrays()[("2", "Weights")], m.arrays()[("2", "Biases")]
    expected = (x @ w1.T + b1)[:, 0] + (y[:, None] @ w2.T + b2)[:, 0]
    torch.testing.assert_close(out, expected)


def test_nested_container_rule_reports_its_ports():
    inner = NetSpec("chain", {"1": L("ElementwiseLayer", {"Function": "Ramp"}),
                              "2": L("SoftmaxLayer")})
    ins, outs = infer_ports(inner, {}, {"Output": T((4,))}, ("NetChain",))
    assert ins == {"Input": T((4,))} and outs == {"Output": T((4,))}


def test_a_new_layer_plugs_in_through_the_shape_rule_hook():
    """A layer registered elsewhere takes part by registering a rule (engine.shapes)."""
    from engine.layers import REGISTRY, register
    from engine.layers.base import SimpleLayer, real_input

    class Twice(SimpleLayer):
        def apply(self, x):
            return 2 * x

    @register("TestTwiceLayer")
    def _build(spec, in_types, path):
        t = real_input(in_types, "Input", path)
        return Twice(), {"Output": t}

    try:
        net = NetSpec("chain", {"1": L("LinearLayer"), "2": L("TestTwiceLayer")},
                      inputs={"Input": T((2,))}, outputs={"Output": T((5,))})
        with pytest.raises(EngineError, match="output size of LinearLayer"):
            build(net)  # without a rule nothing flows back through the new layer
        shape_rule("TestTwiceLayer")(same_shape)
        m = build(net)
        assert m.output_types["Output"] == T((5,))
    finally:
        REGISTRY.pop("TestTwiceLayer", None)
        from engine.shapes import RULES

        RULES.pop("TestTwiceLayer", None)


@pytest.mark.parametrize("text, fragment", [
    ('NetChain[{LinearLayer[3], Tanh}, "Input" -> 2, "Output" -> 4]',
     r'NetChain > "2" > ElementwiseLayer: the output port \'Output\' would need to be \{3\}, '
     r"but the rest of the net makes it \{4\}"),
    ('NetChain[{LinearLayer[], Ramp}, "Input" -> 2]',
     r'NetChain > "1" > LinearLayer: the output size of LinearLayer\[\] could not be inferred'),
    ('NetChain[{Ramp, LinearLayer[2]}]',
     r"the shape of port 'Input' could not be inferred"),
    ('NetGraph[{LinearLayer[2], LinearLayer[3], TotalLayer[]}, {NetPort["x"] -> 1, '
     'NetPort["y"] -> 2, {1, 2} -> 3}, "x" -> 1, "y" -> 1]',
     r'NetGraph > "3" > TotalLayer'),
])
def test_open_or_conflicting_shapes_give_one_message(text, fragment):
    with pytest.raises((EngineError, WLMessage)) as info:
        wlbridge.Net(text)
    msg = str(info.value)
    assert msg.startswith("NetTrain::invnet: ") and "\n" not in msg and "Traceback" not in msg
    import re

    assert re.search(fragment, msg), msg


@pytest.mark.parametrize("spec, dims, index", [
    ('"Real"', (), None), ('"Integer"', (), 0), ('Restricted["Integer", 7]', (), 7),
    ("3", (3,), None), ("{2, 3}", (2, 3), None), ('"Scalar"', (1,), None),
    ('{"Varying", 4}', ("V", 4), None), ('{4, "Varying"}', (4, "V"), None),
    ('"Varying"', ("V",), None), ('{Automatic, 3}', (None, 3), None),
])
def test_port_specs(spec, dims, index):
    net = to_net_spec(f'NetChain[{{ElementwiseLayer[Ramp]}}, "Input" -> {spec}]')
    t = net.inputs["Input"]
    got = tuple("V" if isinstance(d, LengthVar) else d for d in t.dims)
    assert got == dims and t.index_range == index
    if spec == '"Scalar"':
        assert net.encoders["Input"].kind == "Scalar"


def test_column_types_from_the_first_examples():
    assert column_type([1, 2, 3], 9) == T(())
    assert column_type([True, False], 9) == T(())
    assert column_type(np.zeros((5, 2, 3)), 9) == T((2, 3))
    assert column_type([[1, 2], [3, 4]], 9) == T((2,))
    assert column_type([[1, 2], [3, 4, 5]], 9) == T((LengthVar(9),))
    assert column_type([np.zeros((2, 4)), np.zeros((5, 4))], 9) == T((LengthVar(9), 4))
    assert column_type(["a", "b"], 9) is None


def test_data_port_types_leave_class_targets_and_declared_ports_alone():
    data = {"Input": np.zeros((4, 3)), "Output": [1, 2, 1, 2]}
    soft = to_net_spec("NetChain[{LinearLayer[2], SoftmaxLayer[]}]")
    assert data_port_types(data, soft) == ({"Input": T((3,))}, {})
    reg = to_net_spec('NetChain[{LinearLayer[]}, "Input" -> 3]')
    assert data_port_types(data, reg) == ({}, {"Output": T(())})


def test_varying_input_and_open_output_from_data_then_write_back():
    """Sequences of 3-vectors of different lengths make the input {"Varying", 3}; the scalar
    target sizes LinearLayer[]; the trained net states both on writing back."""
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(rng.integers(3, 9)), 3)) for _ in range(24)]
    ys = [float(s[:, 0].sum()) for s in seqs]
    net = wlbridge.net_train("NetChain[{GatedRecurrentLayer[8], SequenceLastLayer[], "
                             "LinearLayer[]}]", {"Input": seqs, "Output": ys},
                             MaxTrainingRounds=2, TrainingProgressReporting=None)
    t = net.input_types["Input"]
    assert isinstance(t.dims[0], LengthVar) and t.dims[1:] == (3,)
    assert net.output_types["Output"] == T(())
    text = wlbridge.to_text(net.to_wl())
    assert text.endswith('"Input" -> {"Varying", 3}, "Output" -> "Real"]')
    again = wlbridge.Net(text)
    assert again(seqs[:3]) == pytest.approx(net(seqs[:3]), abs=1e-6)
