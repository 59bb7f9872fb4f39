"""NetChain/NetGraph building: port types (wl-nets.md §1, §6.2), array paths, initialisation
(§2 "Default initialization") and the messages for bad nets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.graph import build
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType

L = LayerSpec


def mlp(sizes=(5, 3), inp=(4,)):
    nodes = {}
    for i, n in enumerate(sizes):
        nodes[str(2 * i + 1)] = L("LinearLayer", {"OutputDimensions": (n,)})
        nodes[str(2 * i + 2)] = L("ElementwiseLayer", {"Function": "Ramp"})
    nodes.popitem()
    return NetSpec("chain", nodes, inputs={"Input": TensorType(inp)})


def example7():
    return NetSpec("graph", {
        "a": L("LinearLayer", {"OutputDimensions": (16,)}),
        "b": L("LinearLayer", {"OutputDimensions": (16,)}),
        "cat": L("CatenateLayer"), "relu": L("ElementwiseLayer", {"Function": "Ramp"}),
        "out": L("LinearLayer", {"OutputDimensions": ()}),
        "sig": L("ElementwiseLayer", {"Function": "LogisticSigmoid"}),
    }, [((None, "Numeric"), ("a", "Input")), ((None, "Extra"), ("b", "Input")),
        (("a", "Output"), ("cat", "1")), (("b", "Output"), ("cat", "2")),
        (("cat", "Output"), ("relu", "Input")), (("relu", "Output"), ("out", "Input")),
        (("out", "Output"), ("sig", "Input"))],
        inputs={"Numeric": TensorType((8,)), "Extra": TensorType((4,))})


def test_example_7_two_inputs_catenate_boolean():
    """§6.2 net 7: two inputs, CatenateLayer, scalar output."""
    m = build(example7())
    assert list(m.input_types) == ["Numeric", "Extra"]
    assert m.output_types == {"Output": TensorType(())}
    y = m({"Numeric": torch.randn(3, 8), "Extra": torch.randn(3, 4)})["Output"]
    assert y.shape == (3,) and bool(((y > 0) & (y < 1)).all())
    assert m.arrays()[("out", "Weights")].shape == (1, 32)


def test_example_8_residual_block():
    """§6.2 net 8: conv/BN/Ramp twice, ThreadingLayer[Plus] with the input, Ramp."""
    conv = {"OutputChannels": 16, "KernelSize": 3, "PaddingSize": 1}
    nodes = {"1": L("ConvolutionLayer", conv), "2": L("BatchNormalizationLayer"),
             "3": L("ElementwiseLayer", {"Function": "Ramp"}), "4": L("ConvolutionLayer", conv),
             "5": L("BatchNormalizationLayer"), "6": L("ThreadingLayer", {"Function": "Plus"}),
             "7": L("ElementwiseLayer", {"Function": "Ramp"})}
    edges = [((None, "Input"), ("1", "Input")), (("1", "Output"), ("2", "Input")),
             (("2", "Output"), ("3", "Input")), (("3", "Output"), ("4", "Input")),
             (("4", "Output"), ("5", "Input")), (("5", "Output"), ("6", "1")),
             ((None, "Input"), ("6", "2")), (("6", "Output"), ("7", "Input"))]
    m = build(NetSpec("graph", nodes, edges, inputs={"Input": TensorType((16, 8, 8))}))
    assert m.output_types == {"Output": TensorType((16, 8, 8))}
    m.eval()
    x = torch.randn(2, 16, 8, 8)
    y = m({"Input": x})["Output"]
    assert y.shape == (2, 16, 8, 8) and bool((y >= 0).all())
    # with the conv weights zeroed the block is Ramp[x + BN(0)] = Ramp[x]
    with torch.no_grad():
        m.arrays()[("4", "Weights")].zero_()
        m.arrays()[("4", "Biases")].zero_()
    np.testing.assert_allclose(m({"Input": x})["Output"].detach().numpy(), torch.relu(x).numpy(),
                               atol=1e-6)
    assert list(m.trainable_arrays()) == [
        ("1", "Biases"), ("1", "Weights"), ("2", "Biases"), ("2", "Scaling"),
        ("4", "Biases"), ("4", "Weights"), ("5", "Biases"), ("5", "Scaling")]
    assert ("2", "MovingVariance") in m.arrays()


def example11():
    inner = NetSpec("chain", {"1": L("LinearLayer", {"OutputDimensions": (32,)}),
                              "2": L("ElementwiseLayer", {"Function": "Tanh"}),
                              "3": L("LinearLayer", {"OutputDimensions": (4,)})})
    return NetSpec("graph", {"net": inner, "loss": L("MeanSquaredLossLayer")},
                   [(("net", "Output"), ("loss", "Input")),
                    ((None, "Target"), ("loss", "Target")),
                    (("loss", "Loss"), (None, "Loss"))],
                   inputs={"Input": TensorType((4,))})


def test_example_11_training_graph_with_loss_port():
    """§6.2 net 11: nested chain, the "Target" type is inferred from the loss's "Input"."""
    m = build(example11())
    assert m.input_types == {"Input": TensorType((4,)), "Target": TensorType((4,))}
    assert m.output_types == {"Loss": TensorType(())}
    x, t = torch.randn(5, 4), torch.randn(5, 4)
    loss = m({"Input": x, "Target": t})["Loss"]
    inner = m.node("net")
    want = ((inner({"Input": x})["Output"] - t) ** 2).mean(1)
    torch.testing.assert_close(loss, want)
    assert ("net", "1", "Weights") in m.arrays()


def test_arrays_order_is_wolfram_canonical():
    """Paths sort as strings in Wolfram's order: "10" before "2"."""
    m = build(mlp((3,) * 6))
    keys = [p[0] for p in m.arrays()]
    assert keys[:4] == ["1", "1", "11", "11"] and keys[4] == "3"
    exported = m.export_arrays()
    assert list(exported) == list(m.arrays())
    assert all(isinstance(v, np.ndarray) for v in exported.values())


def test_fast_path_for_plain_chains_matches_graph_path():
    spec = mlp()
    m = build(spec)
    assert m._fast is not None
    x = torch.randn(3, 4)
    y_fast = m({"Input": x})["Output"]
    m._fast = None
    torch.testing.assert_close(m({"Input": x})["Output"], y_fast)


def test_named_chain_and_nested_chain():
    inner = NetSpec("chain", {"lin": L("LinearLayer", {"OutputDimensions": (3,)}),
                              "act": L("ElementwiseLayer", {"Function": "Tanh"})})
    spec = NetSpec("chain", {"block": inner, "out": L("LinearLayer", {"OutputDimensions": (2,)})},
                   inputs={"Input": TensorType((5,))})
    m = build(spec)
    assert m._fast is not None
    assert list(m.layer_paths()) == [("block", "lin"), ("block", "act"), ("out",)]
    assert m({"Input": torch.randn(2, 5)})["Output"].shape == (2, 2)


def test_given_arrays_are_kept_and_shape_checked():
    w = np.ones((2, 3))
    spec = NetSpec("chain", {"1": L("LinearLayer", {"OutputDimensions": (2,)}, {"Weights": w})},
                   inputs={"Input": TensorType((3,))})
    m = build(spec)
    np.testing.assert_array_equal(m.export_arrays()[("1", "Weights")], w)
    spec.nodes["1"].arrays["Weights"] = np.ones((3, 2))
    with pytest.raises(EngineError, match=r'NetChain > "1" > LinearLayer: the array \'Weights\' '
                                          r'should have dimensions \{2, 3\}'):
        build(spec)


def test_xavier_uniform_statistics():
    """Xavier uniform: variance 2/(fan_in+fan_out), doubled before Ramp; biases 0."""
    torch.manual_seed(1)
    spec = NetSpec("chain", {"1": L("LinearLayer", {"OutputDimensions": (200,)}),
                             "2": L("ElementwiseLayer", {"Function": "Ramp"}),
                             "3": L("LinearLayer", {"OutputDimensions": (300,)}),
                             "4": L("ElementwiseLayer", {"Function": "SELU"}),
                             "5": L("LinearLayer", {"OutputDimensions": (100,)})},
                   inputs={"Input": TensorType((400,))})
    a = build(spec).export_arrays()
    w1, w3, w5 = a[("1", "Weights")], a[("3", "Weights")], a[("5", "Weights")]
    assert w1.var() == pytest.approx(2 * 2 / 600, rel=0.03)
    assert np.abs(w1).max() <= np.sqrt(3 * 4 / 600)
    assert w3.var() == pytest.approx(1 / 200, rel=0.03)  # Normal(0, sqrt(1/fan_in)) before SELU
    assert np.abs(w3).max() > np.sqrt(3 / 200)  # not uniform
    assert w5.var() == pytest.approx(2 / 400, rel=0.03)
    assert not a[("1", "Biases")].any()


def test_conv_xavier_fans_and_batchnorm_init():
    torch.manual_seed(2)
    spec = NetSpec("chain", {"1": L("ConvolutionLayer", {"OutputChannels": 64, "KernelSize": 5}),
                             "2": L("BatchNormalizationLayer")}, inputs={"Input": TensorType((32, 9, 9))})
    a = build(spec).export_arrays()
    assert a[("1", "Weights")].var() == pytest.approx(2 / (64 + 32 * 25), rel=0.05)
    np.testing.assert_array_equal(a[("2", "MovingVariance")], np.ones(64))
    np.testing.assert_array_equal(a[("2", "Scaling")], np.ones(64))
    np.testing.assert_array_equal(a[("2", "MovingMean")], np.zeros(64))


def test_lr_multipliers_from_spec():
    spec = mlp()
    spec.nodes["3"].lr_multiplier = 0.0
    m = build(spec)
    assert m.lr_multipliers() == {("3", "Biases"): 0.0, ("3", "Weights"): 0.0}


# ---------------------------------------------------------------------------------------------
# bad nets: one clear NetTrain::invnet line naming the position


def chain(*layers, inp=(4,)):
    return NetSpec("chain", {str(i): layer for i, layer in enumerate(layers, 1)},
                   inputs={"Input": TensorType(inp)} if inp is not None else {})


BAD = [
    (chain(L("LinearLayer", {"OutputDimensions": (3,)}), L("FooLayer")),
     r'NetChain > "2" > FooLayer: the layer FooLayer is not supported'),
    (chain(L("LinearLayer", {"OutputDimensions": (3,)}), L("SoftmaxLayer", {"Color": 1})),
     r'NetChain > "2" > SoftmaxLayer: the option \'Color\' is not supported'),
    (chain(L("ConvolutionLayer", {"OutputChannels": 2, "KernelSize": 3})),
     r'"1" > ConvolutionLayer: ConvolutionLayer needs an input of rank 2, 3 or 4'),
    (chain(L("ConvolutionLayer", {"OutputChannels": 2, "KernelSize": 9}), inp=(1, 4)),
     r'kernel .* is larger than the padded input'),
    (chain(L("LinearLayer", {"OutputDimensions": (3,)}), inp=(LengthVar(0), 2)),
     r'LinearLayer cannot take a varying-length input \(shape \{"Varying", 2\}\)'),
    (chain(L("LinearLayer", {"OutputDimensions": (3,)}), inp=None),
     r'"1" > LinearLayer: the shape of port \'Input\' could not be inferred'),
    (chain(L("SoftmaxLayer", {"Level": 3})), r'the softmax level 3 is not a valid level'),
    (chain(L("DropoutLayer", {"DropoutProbability": 1.0})), r'dropout probability .* \[0, 1\)'),
    (chain(L("ReshapeLayer", {"Dimensions": (3,)})), r'cannot reshape \{4\} \(4 elements\)'),
    (chain(L("PoolingLayer", {"KernelSize": 2, "Function": "Median"}), inp=(1, 4)),
     r'pooling Function \'Median\''),
    (chain(L("ConvolutionLayer", {"OutputChannels": 3, "KernelSize": 1, "ChannelGroups": 2}),
           inp=(4, 4)), r'ChannelGroups -> 2 must divide'),
    (chain(L("ElementwiseLayer", {"Function": "Frobnicate"})), r"function 'Frobnicate' is not supported"),
    (chain(L("ElementwiseLayer", {"Function": ("Plus", ("Slot", 2), 1)})), r"slot #2 is not valid"),
    (chain(L("BatchNormalizationLayer", {"Interleaving": True}), inp=(2, 3)), r"Interleaving -> True"),
    (chain(L("EmbeddingLayer", {"OutputDimensions": 3})), r"number of classes n of EmbeddingLayer"),
    (chain(L("AggregationLayer", {"Levels": 3})), r"not a valid level for an input of rank 1"),
    (chain(L("LinearLayer", {"OutputDimensions": (3,)}), L("CatenateLayer")),
     r"CatenateLayer cannot join scalars|a layer inside a NetChain must have exactly one input"),
    (NetSpec("graph", {"a": L("LinearLayer", {"OutputDimensions": (2,)}),
                       "b": L("LinearLayer", {"OutputDimensions": (2,)})},
             [(("a", "Output"), ("b", "Input")), (("b", "Output"), ("a", "Input"))]),
     r"the graph has a cycle"),
    (NetSpec("graph", {"a": L("LinearLayer", {"OutputDimensions": (2,)})},
             [((None, "X"), ("zz", "Input"))], inputs={"X": TensorType((2,))}),
     r"a node 'zz' that does not exist"),
    (NetSpec("graph", {"a": L("LinearLayer", {"OutputDimensions": (2,)})},
             [((None, "X"), ("a", "Weights"))], inputs={"X": TensorType((2,))}),
     r"there is no input port 'Weights'"),
    (NetSpec("graph", {"t": L("ThreadingLayer", {"Function": "Plus"})},
             [((None, "A"), ("t", "1")), ((None, "B"), ("t", "2"))],
             inputs={"A": TensorType((2,)), "B": TensorType((3,))}),
     r"incompatible sizes at level 1: \{2\}, \{3\}"),
    (NetSpec("chain", {"1": L("LinearLayer", {"OutputDimensions": (2,)}, inputs={"Input": TensorType((5,))})},
             inputs={"Input": TensorType((4,))}),
     r"LinearLayer: the input port 'Input' would need to be \{5\}, but the rest of the net makes it \{4\}"),
    (NetSpec("chain", {"1": L("LinearLayer", {"OutputDimensions": (2,)})},
             inputs={"Input": TensorType((4,))}, outputs={"Output": TensorType((3,))}),
     r"LinearLayer: the output port 'Output' would need to be \{2\}, but the rest of the net makes it \{3\}"),
]


@pytest.mark.parametrize("spec,pattern", BAD)
def test_bad_nets_are_refused_with_a_message(spec, pattern):
    with pytest.raises(EngineError) as info:
        build(spec)
    text = str(info.value)
    assert text.startswith(("NetTrain::invnet: ", "NetChain::")), text
    assert "\n" not in text
    import re
    assert re.search(pattern, text), text


def test_unknown_layer_kind_names_the_nested_position():
    inner = NetSpec("chain", {"x": L("LinearLayer", {"OutputDimensions": (2,)}), "y": L("WeirdLayer")})
    spec = NetSpec("graph", {"sub": inner}, [], inputs={"Input": TensorType((3,))})
    with pytest.raises(EngineError, match=r'NetGraph > "sub" > NetChain > "y" > WeirdLayer'):
        build(spec)


def test_linear_output_size_inferred_from_declared_output():
    spec = NetSpec("chain", {"1": L("LinearLayer")}, inputs={"Input": TensorType((4,))},
                   outputs={"Output": TensorType((6,))})
    assert build(spec).output_types["Output"].dims == (6,)
