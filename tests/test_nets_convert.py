"""Wolfram net expressions -> NetSpec (wl-nets.md §1, §2, §6.2), and bad nets with their messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.serializers import export

import wlbridge
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType
from wlbridge.messages import WLMessage
from wlbridge.nets import to_layer_spec, to_net_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "nets"


def example(n: int) -> str:
    (path,) = EXAMPLES.glob(f"{n:02d}_*.wl")
    return path.read_text()


def spec_of(text: str) -> NetSpec:
    return to_net_spec(wlbridge.parse(text))


# ---------------------------------------------------------------------------------------------
# the twelve example nets of §6.2


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
def test_example_nets_convert(n):
    """Every §6.2 example (but the Image-encoder one) converts, from text and from WXF alike."""
    expr = wlbridge.parse(example(n))
    spec = to_net_spec(expr)
    assert spec.kind in ("chain", "graph") and spec.nodes
    again = to_net_spec(binary_deserialize(export(expr, target_format="wxf")))
    assert list(again.nodes) == list(spec.nodes) and again.edges == spec.edges


def test_example_1_image_encoder_reads():
    """Example 1's NetEncoder[{"Image", {28, 28}, ColorSpace -> "Grayscale"}]: a {1, 28, 28}
    input (one channel; the size is {width, height}, the tensor {c, height, width})."""
    spec = spec_of(example(1))
    enc = spec.encoders["Input"]
    assert enc.kind == "Image" and enc.options["ImageSize"] == (28, 28)
    assert enc.options["ColorSpace"] == "Grayscale" and spec.inputs["Input"].dims == (1, 28, 28)
    with pytest.raises(WLMessage, match=r'NetChain: port "Input": the NetEncoder "Audio" is not '
                                        r"supported \(supported: Class, Boolean, Scalar, "
                                        r"Characters, Tokens, Image\)"):
        spec_of('NetChain[{LinearLayer[2]}, "Input" -> NetEncoder["Audio"]]')


def test_lenet_layers_and_short_forms():
    """§6.2 nets 2, 3: positional stride of PoolingLayer, integer and symbol short forms."""
    s2, s3 = spec_of(example(2)), spec_of(example(3))
    assert s2.nodes["3"] == LayerSpec("PoolingLayer", {"KernelSize": 2, "Stride": 2, "PaddingSize": 0,
                                                      "Interleaving": False, "Dimensionality": None,
                                                      "Function": "Max"})
    assert s3.nodes["3"].args["Stride"] == 1  # §8.1: PoolingLayer stride defaults to 1
    assert s3.nodes["8"] == LayerSpec("LinearLayer", {"OutputDimensions": (500,)})
    assert s3.nodes["9"] == LayerSpec("ElementwiseLayer", {"Function": "Ramp"})
    assert s2.inputs == {"Input": TensorType((1, 28, 28))}
    assert s2.decoders["Output"].labels == tuple(range(10))
    assert s2.outputs["Output"] == TensorType((10,))


def test_vgg_options_as_symbols_or_strings():
    """§1.3: ``PaddingSize -> 1`` and ``"PaddingSize" -> 1`` mean the same."""
    s = spec_of(example(4))
    assert s.nodes["1"].args["PaddingSize"] == 1 and s.nodes["5"].args["PaddingSize"] == 1
    assert s.nodes["1"].args["KernelSize"] == (3, 3)
    assert s.nodes["2"].args == {"Epsilon": 0.001, "Momentum": 0.9, "Interleaving": False}
    assert s.nodes["3"].args["Function"] == "ReLU"
    assert s.nodes["8"].args["Function"] == "Mean"
    assert s.nodes["12"].args["DropoutProbability"] == 0.5


def test_recurrent_and_coder_ports():
    """§6.2 nets 5, 6, 10: encoders, "Varying" ports as LengthVar, recurrent layer args."""
    s5 = spec_of(example(5))
    assert s5.encoders["Input"].kind == "Characters" and len(s5.encoders["Input"].labels) == 27
    t = s5.inputs["Input"]
    assert isinstance(t.dims[0], LengthVar) and t.index_range == 27
    assert s5.nodes["2"] == LayerSpec("LongShortTermMemoryLayer", {"OutputSize": 64, "Dropout": None})
    s6 = spec_of(example(6))
    assert s6.inputs["Input"].dims[1:] == (3,) and isinstance(s6.inputs["Input"].dims[0], LengthVar)
    s10 = spec_of(example(10))
    emb = s10.nodes["1"]
    assert emb.args == {"OutputDimensions": 16, "InputDimensions": 100}
    assert isinstance(emb.inputs["Input"].dims[0], LengthVar)
    assert s10.nodes["4"].kind == "NetMapOperator"
    assert s10.nodes["4"].args["Net"] == LayerSpec("LinearLayer", {"OutputDimensions": (5,)})


def test_two_input_graph_edges():
    """§1.2: NetPort inputs, ``{a, b} -> cat`` feeds ports "1", "2" in order, loose output exposed."""
    s = spec_of(example(7))
    assert s.edges == [
        ((None, "Numeric"), ("a", "Input")), ((None, "Extra"), ("b", "Input")),
        (("a", "Output"), ("cat", "1")), (("b", "Output"), ("cat", "2")),
        (("cat", "Output"), ("relu", "Input")), (("relu", "Output"), ("out", "Input")),
        (("out", "Output"), ("sig", "Input")), (("sig", "Output"), (None, "Output")),
    ]
    assert s.inputs == {"Numeric": TensorType((8,)), "Extra": TensorType((4,))}
    assert s.nodes["out"].args["OutputDimensions"] == ()
    assert s.decoders["Output"].kind == "Boolean"


def test_residual_and_loss_graphs():
    s8 = spec_of(example(8))
    assert ((None, "Input"), ("6", "2")) in s8.edges and (("5", "Output"), ("6", "1")) in s8.edges
    assert s8.nodes["6"].args == {"Function": "Plus"}
    s11 = spec_of(example(11))
    assert isinstance(s11.nodes["net"], NetSpec)
    assert set(s11.edges) == {
        (("net", "Output"), ("loss", "Input")), ((None, "Target"), ("loss", "Target")),
        (("loss", "Loss"), (None, "Loss")), ((None, "Input"), ("net", "Input")),
    }


def test_initial_arrays_from_text():
    """§2: arrays given as options are initial values (float32, Wolfram layout)."""
    s = spec_of(example(12))
    w = s.nodes["1"].arrays["Weights"]
    assert w.dtype == np.float32 and w.shape == (2, 3)
    np.testing.assert_array_equal(w, np.float32([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
    assert s.nodes["2"].args == {"Function": "SELU"}


def test_numeric_array_forms_and_biases_none():
    """NumericArray from text (a call holding lists) or WXF (numpy); ``"Biases" -> None``."""
    text = 'LinearLayer[2, "Weights" -> NumericArray[{{1, 2}, {3, 4}}, "Real32"], "Biases" -> None]'
    layer = to_layer_spec(wlbridge.parse(text))
    np.testing.assert_array_equal(layer.arrays["Weights"], [[1, 2], [3, 4]])
    assert layer.arrays["Biases"] is None and layer.args["Biases"] is None
    wxf = wl.LinearLayer(2, wl.Rule("Weights", wl.NumericArray(np.eye(2, dtype=np.float32), "Real32")))
    wxf = binary_deserialize(export(wxf, target_format="wxf"))
    np.testing.assert_array_equal(to_layer_spec(wxf).arrays["Weights"], np.eye(2))


def test_port_specs():
    """§1.1 table of port specs."""
    cases = {
        '"Real"': TensorType(()),
        '"Integer"': TensorType((), 0),
        'Restricted["Integer", 7]': TensorType((), 7),
        "5": TensorType((5,)),
        "{2, 3}": TensorType((2, 3)),
        '"Varying"': TensorType((LengthVar(1),)),
        '{"Varying", 4}': TensorType((LengthVar(1), 4)),
        '{"Varying", Restricted["Integer", 9]}': TensorType((LengthVar(1),), 9),
        "{3, Automatic}": TensorType((3, None)),
    }
    for port, want in cases.items():
        s = spec_of(f"NetChain[{{LinearLayer[2]}}, \"Input\" -> {port}]")
        assert s.inputs["Input"] == want, port


def test_graph_edge_forms():
    """§1.2: chains, fan-out, ``NetPort[{v, "p"}]``, nested lists, ``-> None`` and Output1/2."""
    s = spec_of('NetGraph[<|"a" -> Tanh, "b" -> 3, "c" -> 4|>, '
                '{NetPort["x"] -> "a" -> {"b", "c"}}, "x" -> 2]')
    assert (("a", "Output"), ("b", "Input")) in s.edges and (("a", "Output"), ("c", "Input")) in s.edges
    assert (("b", "Output"), (None, "Output1")) in s.edges and (("c", "Output"), (None, "Output2")) in s.edges
    s = spec_of('NetGraph[{Tanh, Ramp, TotalLayer[]}, {1 -> NetPort[{3, "1"}], NetPort[2, "Output"] -> NetPort[3, "2"], '
                '3 -> NetPort["y"]}]')
    assert (("1", "Output"), ("3", "1")) in s.edges and (("2", "Output"), ("3", "2")) in s.edges
    assert (("3", "Output"), (None, "y")) in s.edges
    s = spec_of('NetGraph[{Tanh, Ramp, Plus}, {{1, 2} -> 3, 1 -> None}]')
    assert (None, "Output") in [d for _, d in s.edges] and not any(d == (None, "Output1") for _, d in s.edges)
    nested = spec_of('NetGraph[{1, 1, 1, 1, 1, TotalLayer[]}, {1 -> {2, 3 -> 4} -> 6, 5 -> 6}]')
    assert [e for e in nested.edges if e[1][0] == "6"] == [
        (("2", "Output"), ("6", "1")), (("4", "Output"), ("6", "2")), (("5", "Output"), ("6", "3"))]


def test_pure_functions_become_op_trees():
    """§2.2: ``#*LogisticSigmoid[#] &`` and ``Function[x, ...]`` go to the engine as op trees."""
    a = to_layer_spec(wlbridge.parse("ElementwiseLayer[# * LogisticSigmoid[#] &]"))
    assert a.args["Function"] == ("Times", ("Slot", 1), ("LogisticSigmoid", ("Slot", 1)))
    b = to_layer_spec(wlbridge.parse("ElementwiseLayer[Function[x, Max[x, 0.1 x]]]"))
    assert b.args["Function"] == ("Max", ("Slot", 1), ("Times", 0.1, ("Slot", 1)))
    c = to_layer_spec(wlbridge.parse("ThreadingLayer[#1 * #2 &]"))
    assert c.args["Function"] == ("Times", ("Slot", 1), ("Slot", 2))


def test_learning_rate_multipliers():
    s = spec_of('NetChain[<|"a" -> LinearLayer[3, LearningRateMultipliers -> 0], "b" -> 2|>, '
                '"Input" -> 2, LearningRateMultipliers -> {"b" -> 0.5}]')
    assert s.nodes["a"].lr_multiplier == 0.0 and s.nodes["b"].lr_multiplier == 0.5
    assert spec_of('NetChain[{2}, LearningRateMultipliers -> 2]').lr_multiplier == 2.0


def test_single_layer_is_a_one_layer_chain():
    s = spec_of('LinearLayer[3, "Input" -> 2]')
    assert s.kind == "chain" and list(s.nodes) == ["1"]
    assert s.nodes["1"].inputs == {"Input": TensorType((2,))}


# ---------------------------------------------------------------------------------------------
# bad nets: one clear NetTrain::invnet line each

BAD = [
    ("NetChain[{LinearLayer[3], FooLayer[2]}]", "layer 2 (FooLayer) of NetChain: unknown or unsupported layer FooLayer"),
    ('NetChain[{Ramp, Ramp, ConvolutionLayer[16, 3, "Strides" -> 2]}]',
     'layer 3 (ConvolutionLayer) of NetChain: unknown option "Strides"'),
    ('NetChain[{LinearLayer[3]}, "Input" -> "Reals"]', 'NetChain: port "Input": invalid port specification "Reals"'),
    ('NetChain[{LinearLayer[3]}, "Input" -> {2, -1}]', "bad dimension -1"),
    ('NetGraph[{Ramp, Tanh}, {1 -> 3}]', "the edge destination 3 is not a vertex of the graph (vertices: 1, 2)"),
    ('NetGraph[<|"a" -> Ramp|>, {NetPort["b", "Output"] -> "a"}]', 'refers to a missing vertex "b"'),
    ('NetChain[{LinearLayer[2, "Weights" -> {{1, 2, 3}}]}]',
     'layer 1 (LinearLayer) of NetChain: the array "Weights" should be a matrix with 2 rows, but has dimensions 1x3'),
    ('NetChain[{ConvolutionLayer[4, 3, "Biases" -> {1, 2}]}]', 'the array "Biases" should be a vector of length 4'),
    ('NetChain[{LinearLayer[2, "Weights" -> {{1, "a"}}]}]', 'the array "Weights" is not a numeric array'),
    ("NetChain[{DropoutLayer[1.5]}]", 'layer 1 (DropoutLayer) of NetChain: bad value for "DropoutProbability"'),
    ('NetChain[{ElementwiseLayer["Relu"]}]', 'unknown elementwise function name "Relu"'),
    ("NetChain[{ElementwiseLayer[Foo[#] &]}]", "unsupported operation Foo in a pure function"),
    ('NetChain[{LinearLayer[2]}, "Inptu" -> 3]', '"Inptu" is neither an input port of the first layer'),
    ('NetGraph[{Ramp, Tanh}, {1 -> 2, 2 -> 1}]', "the edges form a cycle"),
    ('NetGraph[{Ramp, Tanh}, {1 -> 2}, "Foo" -> 3]', '"Foo" is not a port of the graph'),
    ('NetChain[{BatchNormalizationLayer["Biases" -> None]}]', 'the array "Biases" cannot be None'),
    ("NetChain[{ConvolutionLayer[16]}]", "missing parameter (OutputChannels, KernelSize must be given)"),
    ('NetChain[{LinearLayer[2]}, "Input" -> NetDecoder["Boolean"]]', "a NetDecoder can only be attached to an output"),
    ('NetGraph[{Ramp, MeanSquaredLossLayer[]}, {1 -> NetPort[2, "Targt"]}]', 'vertex "2" has no input port "Targt"'),
    ('NetChain[{LinearLayer[2, LearningRateMultipliers -> "x"]}]', "LearningRateMultipliers should be a number"),
    ("NetChain[{Plus}]", "layer 1 (Plus) of NetChain: the symbol Plus is not a layer"),
]


@pytest.mark.parametrize("text, fragment", BAD, ids=[b[1][:40] for b in BAD])
def test_bad_nets(text, fragment):
    with pytest.raises(WLMessage) as err:
        spec_of(text)
    msg = str(err.value)
    assert msg.startswith("NetTrain::invnet: ") and "\n" not in msg
    assert fragment in msg, msg
