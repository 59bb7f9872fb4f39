"""Reading what the kernel sends for a net (DESIGN rule 6): the held constructor of
``Information[net, "InputForm"]`` (12.0's ``ToNetInputForm``, wl-nets.md §3.1: sizes as lists,
activations as layers, defaults and ``$``-parameters left out, inferred sizes such as
BatchNormalization's "Channels" written) and arrays keyed by ``"ArraysPositionList"``."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import EngineError
from wlbridge.nets.heldform import held_net, held_net_spec, unwrap
from wlbridge.nets.net import Net
from wlbridge.nets.positions import engine_path, load_arrays, position_text, trained_arrays
from wlbridge.syntax import parse, to_text

MLP = 'NetChain[{LinearLayer[{32}], ElementwiseLayer[Ramp], LinearLayer[{10}], SoftmaxLayer[]}, "Input" -> 64]'


@pytest.mark.parametrize("wrap", ["HoldForm[{}]", "Hold[{}]", "HoldComplete[{}]", "Defer[{}]", "{}"])
def test_every_wrapper_text_or_expression_reads_the_same(wrap):
    text = wrap.replace("{}", MLP)
    assert to_text(held_net(text)) == MLP
    assert to_text(held_net(parse(text))) == MLP


def test_12_0_forms_of_the_supported_layers_build():
    """What ToNetInputForm writes for a small LeNet-like graph of 12.0 layers: positional
    sizes as lists, the rest as string rules, "Channels" and $-keys among them."""
    text = ('HoldForm[NetGraph[<|"conv" -> ConvolutionLayer[4, {3, 3}, "Stride" -> {1, 1}, '
            '"PaddingSize" -> {{1, 1}, {1, 1}}, "$InputChannels" -> 1], '
            '"bn" -> BatchNormalizationLayer["Channels" -> 4, "Epsilon" -> 0.01], '
            '"relu" -> ElementwiseLayer[Ramp], "pool" -> PoolingLayer[{2, 2}, {2, 2}, "Function" -> Mean], '
            '"flat" -> FlattenLayer[], "drop" -> DropoutLayer[0.25], "lin" -> LinearLayer[{10}], '
            '"prob" -> SoftmaxLayer[]|>, {NetPort["Input"] -> "conv" -> "bn" -> "relu" -> "pool" '
            '-> "flat" -> "drop" -> "lin" -> "prob"}, "Input" -> {1, 8, 8}]]')
    expr, spec = held_net_spec(text)
    assert "Channels" not in to_text(expr) and "$InputChannels" not in to_text(expr)
    assert spec.nodes["bn"].args["Epsilon"] == 0.01 and spec.nodes["pool"].args["Function"] == "Mean"
    net = Net(expr)
    shapes = {p: a.shape for p, a in net.arrays().items()}
    assert shapes[("conv", "Weights")] == (4, 1, 3, 3) and shapes[("lin", "Weights")] == (10, 64)
    assert shapes[("bn", "MovingVariance")] == (4,)


def test_unsupported_layers_are_named_with_their_position():
    # AttentionLayer and DeconvolutionLayer are supported now: two layers that still are not
    nested = ('HoldForm[NetChain[{LinearLayer[{3}], NetChain[{Ramp, SpatialTransformationLayer[{4, 4}]}]}, '
              '"Input" -> 2]]')
    with pytest.raises(EngineError, match=r"NetTrain::invnet: the layer SpatialTransformationLayer at position "
                                          r"\{2, 2\} is not supported by wlbridge's PyTorch engine"):
        held_net(nested)
    named = 'HoldForm[NetGraph[<|"aug" -> ImageAugmentationLayer[{32, 32}]|>, {}]]'
    with pytest.raises(EngineError, match=r'ImageAugmentationLayer at position \{"aug"\}'):
        held_net(named)
    with pytest.raises(EngineError, match="should be a held NetChain"):
        held_net("HoldForm[Plus[1, 2]]")


def test_output_coders_come_from_the_port_table():
    ports = {"Output": {"Kind": "Class", "Labels": ("cat", "dog", "cow")},
             "Input": {"Kind": "Image", "Dimensions": (64,)}}
    expr = held_net(f"HoldForm[{MLP.replace('{10}', '{3}')}]", ports)
    assert to_text(expr).endswith('"Output" -> NetDecoder[{"Class", {1, 2, 3}}]]')
    boolean = held_net('HoldForm[NetChain[{LinearLayer[{}], ElementwiseLayer[LogisticSigmoid]}, '
                       '"Input" -> 3]]', {"Output": {"Kind": "Boolean", "Dimensions": ()}})
    assert to_text(boolean).endswith('"Output" -> NetDecoder["Boolean"]]')
    with pytest.raises(EngineError, match='"Output" is a "Class" port without'):
        held_net(f"HoldForm[{MLP}]", {"Output": {"Kind": "Class", "Dimensions": ()}})


def test_positions_map_to_engine_paths_both_ways():
    assert engine_path((2, "Net", "Weights")) == ("2", "Net", "Weights")
    assert position_text(("lstm", 3, "Biases")) == '{"lstm", 3, "Biases"}'
    for bad, text in [((1,), "should be a list of node keys"), ((1, 2), "should end with an array name"),
                      ((1.5, "Weights"), "neither a node key"), ("Weights", "should be a list")]:
        with pytest.raises(EngineError, match=text):
            engine_path(bad)


def test_arrays_load_by_position_with_dimensions_checked():
    net = Net(held_net(f"HoldForm[{MLP}]"))
    positions = [(1, "Weights"), (1, "Biases"), (3, "Weights"), (3, "Biases")]
    arrays = [np.full((32, 64), 0.5, np.float32), np.arange(32, dtype=np.float32),
              np.ones((10, 32), np.float32), np.zeros(10, np.float32)]
    for a in arrays:
        a.setflags(write=False)  # as WXF delivers them
    load_arrays(net.module, positions, arrays)
    back_pos, back = trained_arrays(net.module, positions)
    assert back_pos == tuple(positions)
    for got, sent in zip(back, arrays, strict=True):
        np.testing.assert_array_equal(got, sent)
        assert got.dtype == np.float32
    # the same arrays through the net itself: y = W2 relu(W1 x + b1) + b2, softmax
    x = np.ones(64, np.float32)
    h = np.maximum(arrays[0] @ x + arrays[1], 0)
    z = arrays[2] @ h
    np.testing.assert_allclose(net(x), np.exp(z - z.max()) / np.exp(z - z.max()).sum(), rtol=1e-6)
    # positions the kernel did not send come after, digits as integers
    extra_pos, _ = trained_arrays(net.module, positions[:2])
    assert extra_pos == ((1, "Weights"), (1, "Biases"), (3, "Biases"), (3, "Weights"))


@pytest.mark.parametrize(("positions", "arrays", "text"), [
    ([(1, "Weights")], [], "1 array positions but 0 arrays"),
    ([(2, "Weights")], [np.ones((1, 1))], r"position \{2, \"Weights\"\}: the layer has no array 'Weights' \(its arrays: none\)"),
    ([(1, "Kernel")], [np.ones((1, 1))], r"has no array 'Kernel' \(its arrays: Weights, Biases\)"),
    ([(7, "Weights")], [np.ones((1, 1))], r"\{7, \"Weights\"\} names no layer"),
    ([(1, "Biases")], [np.ones(31)], r"\{1, \"Biases\"\} has dimensions 31, but the net needs 32"),
    ([(1, "Biases")], [np.full(32, np.nan)], "non-finite"),
])
def test_wrong_arrays_are_one_message_naming_the_position(positions, arrays, text):
    net = Net(held_net(f"HoldForm[{MLP}]"))
    with pytest.raises(EngineError, match=text):
        load_arrays(net.module, positions, arrays)


def test_operator_and_named_positions():
    net = Net(held_net('HoldForm[NetChain[<|"map" -> NetMapOperator[LinearLayer[{2}]], '
                       '"rnn" -> GatedRecurrentLayer[3]|>, "Input" -> {"Varying", 4}]]'))
    positions = [("map", "Net", "Weights"), ("rnn", "ResetGateStateWeights")]
    load_arrays(net.module, positions, [np.ones((2, 4)), np.eye(3)])
    got = dict(zip(*trained_arrays(net.module, positions), strict=True))
    np.testing.assert_array_equal(got[("map", "Net", "Weights")], np.ones((2, 4)))
    np.testing.assert_array_equal(got[("rnn", "ResetGateStateWeights")], np.eye(3))


def test_unwrap_leaves_a_bare_net_alone():
    assert to_text(unwrap(MLP)) == MLP


def test_a_lenet_run_in_process_matches_the_engine():
    """The protocol functions called directly (no loop): a LeNet as 12.0 writes it, Real32
    images as NetEncoder["Image"] gives them in two chunks, arrays equal to the engine's."""
    import torch

    import wlbridge
    import wlbridge.externalevaluate as ee

    # 2-D defaults are written out (isDefaultQ only matches one-element lists), and the
    # inferred "InputChannels"/"Channels" appear as rules
    conv = ('ConvolutionLayer[{n}, {{5, 5}}, "Stride" -> {{1, 1}}, "PaddingSize" -> {{{{0, 0}}, '
            '{{0, 0}}}}, "Dilation" -> {{1, 1}}, "InputChannels" -> {c}]')
    pool = 'PoolingLayer[{{2, 2}}, {{2, 2}}, "PaddingSize" -> {{{{0, 0}}, {{0, 0}}}}, "Channels" -> {c}]'
    structure = ('HoldForm[NetChain[{' + conv.format(n=4, c=1) + ', ElementwiseLayer[Ramp], '
                 + pool.format(c=4) + ', ' + conv.format(n=8, c=4) + ', ElementwiseLayer[Ramp], '
                 + pool.format(c=8) + ', FlattenLayer[], LinearLayer[{32}], '
                 'ElementwiseLayer[Ramp], LinearLayer[{10}], SoftmaxLayer[]}, "Input" -> {1, 28, 28}]]')
    ports = {"Input": {"Kind": "Image", "Dimensions": (1, 28, 28)},
             "Output": {"Kind": "Class", "Labels": tuple("0123456789")}}
    init = Net(held_net(structure, ports), seed=3)
    start = init.arrays()
    positions = [tuple(int(k) if k.isdigit() else k for k in p) for p in start]
    r = np.random.default_rng(4)
    images = r.random((600, 1, 28, 28), dtype=np.float32)
    digits = r.integers(1, 11, 600).astype(np.int32)
    options = "MaxTrainingRounds -> 2, BatchSize -> 100, RandomSeeding -> 5"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sid = ee.open_run(structure, positions, list(start.values()), ports, options, "All")
        assert isinstance(sid, str), sid
        assert ee.add_data(sid, "Training", "Input", images[:300], None) == 300
        assert ee.add_data(sid, "Training", "Input", images[300:500], None) == 500
        assert ee.add_data(sid, "Training", "Output", digits[:500], None) == 500
        assert ee.add_data(sid, "Validation", "Input", images[500:], None) == 100
        assert ee.add_data(sid, "Validation", "Output", digits[500:], None) == 100
        assert ee.begin(sid) is True
        while not ee.step(sid, 1.0)["Done"]:
            pass
        reply = ee.finish(sid, "All")
        assert ee.close(sid)
        direct = wlbridge.net_train(init, {"Input": images[:500], "Output": digits[:500]},
                                    "TrainedNet", options + ", TrainingProgressReporting -> None",
                                    ValidationSet={"Input": images[500:], "Output": digits[500:]})
    finally:
        torch.set_num_threads(threads)
    assert reply["Results"]["ValidationExamples"] == 100 and reply["Results"]["TotalBatches"] == 10
    assert [tuple(p) for p in reply["Positions"]] == positions
    want = direct.arrays()
    for p, got in zip(positions, reply["Arrays"], strict=True):
        np.testing.assert_array_equal(got, want[tuple(str(k) for k in p)])
    assert not np.array_equal(reply["Arrays"][0], start[("1", "Weights")])


def test_index_inputs_and_boolean_targets_in_process():
    """A Class encoder on an input arrives as Integer32 indices (the held form's port is
    Restricted["Integer", n]); a Boolean decoder's targets as 0/1 integers."""
    import wlbridge.externalevaluate as ee

    structure = ('HoldForm[NetChain[{EmbeddingLayer[3, 5], FlattenLayer[], LinearLayer[{}], '
                 'ElementwiseLayer[LogisticSigmoid]}, "Input" -> {4, Restricted["Integer", 5]}]]')
    ports = {"Input": {"Kind": "Class", "Labels": tuple("abcde"), "Dimensions": (4,)},
             "Output": {"Kind": "Boolean", "Dimensions": ()}}
    r = np.random.default_rng(6)
    tokens = r.integers(1, 6, (256, 4)).astype(np.int32)
    truth = (tokens[:, 0] > 2).astype(np.int32)
    sid = ee.open_run(structure, [], [], ports, "MaxTrainingRounds -> 30, BatchSize -> 32, LearningRate -> 0.05, "
                      "TrainingProgressReporting -> None", "RoundLossList")
    assert isinstance(sid, str), sid
    ee.add_data(sid, "Training", "Input", tokens, None)
    ee.add_data(sid, "Training", "Output", truth, None)
    assert ee.begin(sid) is True
    late = ee.add_data(sid, "Training", "Input", tokens, None)
    assert late.args[1]["Message"] == ("NetTrain::interr: this run has begun: data must all be "
                                       "sent before begin.")
    assert ee.begin(sid).args[1]["Tag"] == "interr"
    while not ee.step(sid, 1.0)["Done"]:
        pass
    reply = ee.finish(sid)
    ee.close(sid)
    losses = reply["Results"]["RoundLossList"]
    assert len(losses) == 30 and losses[-1] < 0.6 * losses[0]
    assert {p[-1] for p in reply["Positions"]} == {"Weights", "Biases"}  # extras, by position


#: One 12.0-style held form per supported layer (sizes as lists, non-default 2-D options
#: written out, inferred sizes as rules) with an input it accepts.
EVERY_LAYER = [
    ("LinearLayer[{5}]", "{3}"),
    ("LinearLayer[{2, 3}, \"Biases\" -> None]", "{3}"),
    ("ElementwiseLayer[Tanh]", "{3}"),
    ("ElementwiseLayer[\"SoftPlus\"]", "{3}"),
    ("SoftmaxLayer[-1]", "{2, 3}"),
    ("DropoutLayer[0.2]", "{3}"),
    ("BatchNormalizationLayer[\"Epsilon\" -> 0.01, \"Momentum\" -> 0.8, \"Channels\" -> 2]", "{2, 4, 4}"),
    ("NormalizationLayer[2 ;; All, \"Same\"]", "{2, 4}"),
    ("ConvolutionLayer[3, {2, 2}, \"Stride\" -> {2, 2}, \"PaddingSize\" -> {{1, 1}, {1, 1}}, "
     "\"Dilation\" -> {1, 1}, \"InputChannels\" -> 2]", "{2, 6, 6}"),
    ("ConvolutionLayer[3, {2}, \"ChannelGroups\" -> 1]", "{2, 8}"),
    ("PoolingLayer[{3, 3}, {1, 1}, \"Function\" -> Total]", "{2, 6, 6}"),
    ("FlattenLayer[]", "{2, 3, 4}"),
    ("FlattenLayer[1]", "{2, 3, 4}"),
    ("ReshapeLayer[{6, 4}]", "{2, 3, 4}"),
    ("EmbeddingLayer[4, 9]", "{\"Varying\", Restricted[\"Integer\", 9]}"),
    ("LongShortTermMemoryLayer[4]", "{\"Varying\", 3}"),
    ("GatedRecurrentLayer[4]", "{\"Varying\", 3}"),
    ("BasicRecurrentLayer[4]", "{\"Varying\", 3}"),
    ("SequenceLastLayer[]", "{\"Varying\", 3}"),
    ("SequenceMostLayer[]", "{\"Varying\", 3}"),
    ("SequenceRestLayer[]", "{\"Varying\", 3}"),
    ("AggregationLayer[Mean, 2]", "{2, 5}"),
    ("NetMapOperator[LinearLayer[{2}]]", "{\"Varying\", 3}"),
    ("SummationLayer[]", "{2, 3}"),
]


@pytest.mark.parametrize(("layer", "port"), EVERY_LAYER)
def test_every_supported_layer_reads_in_its_held_form(layer, port):
    net = Net(held_net(f'HoldForm[NetChain[{{{layer}}}, "Input" -> {port}]]'))
    assert net.spec.nodes["1"].kind == layer.split("[")[0]
    positions = [tuple(int(k) if k.isdigit() else k for k in p) for p in net.arrays()]
    again = Net(held_net(f'HoldForm[NetChain[{{{layer}}}, "Input" -> {port}]]'))
    load_arrays(again.module, positions, [a + 1 for a in net.arrays().values()])
    for p, a in zip(*trained_arrays(again.module, positions), strict=True):
        np.testing.assert_array_equal(a, net.arrays()[tuple(str(k) for k in p)] + 1)


def test_multiport_layers_and_losses_in_a_held_graph():
    text = ('HoldForm[NetGraph[<|"a" -> LinearLayer[{4}], "b" -> LinearLayer[{4}], '
            '"cat" -> CatenateLayer[], "sum" -> TotalLayer[], "th" -> ThreadingLayer[Times], '
            '"loss" -> MeanSquaredLossLayer[]|>, {NetPort["X"] -> "a", NetPort["Y"] -> "b", '
            '{"a", "b"} -> "cat", {"a", "b"} -> "sum", {"a", "b"} -> "th", "sum" -> NetPort["loss", "Input"], '
            '"th" -> NetPort["loss", "Target"]}, "X" -> {3}, "Y" -> {2}]]')
    net = Net(held_net(text))
    assert {p[0] for p in net.arrays()} == {"a", "b"}
    assert {k: t.dims for k, t in net.output_types.items()} == {"Output": (8,), "Loss": ()}
    assert {k: t.dims for k, t in net.input_types.items()} == {"X": (3,), "Y": (2,)}
