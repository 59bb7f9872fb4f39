"""Examples as the NetTrain, layer and coder documentation pages write them, run unchanged from
their Wolfram text (the net, and the whole ``NetTrain[...]`` call where the page gives one).

Data the pages build with ``Table``, ``ExampleData`` or ``ResourceData`` are made here the same
way in numpy, or taken from scikit-learn's bundled sets (iris, digits). The only additions are
options that keep each run to seconds (MaxTrainingRounds, RandomSeeding, BatchSize, no
progress table); each run must reach a useful accuracy on data it did not train on where the
page's task allows it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import wlbridge
from wlbridge.syntax import parse, to_text

FAST = {"TrainingProgressReporting": None, "RandomSeeding": 1}


def nettrain_call(text: str, data: Any = None, **extra: Any) -> Any:
    """Run ``NetTrain[net, data, (prop,) opts...]`` given as Wolfram text; ``data`` replaces the
    second argument when the page builds it with functions this package does not evaluate."""
    call = parse(text)
    assert call.head.name == "NetTrain"
    args = list(call.args)
    net, given = args[0], args[1]
    rest = args[2:]
    prop = "TrainedNet"
    if rest and not (hasattr(rest[0], "head") and rest[0].head.name == "Rule"):
        prop = rest.pop(0)
        prop = "All" if getattr(prop, "name", prop) == "All" else prop
    options = ", ".join(to_text(r) for r in rest) or None
    return wlbridge.net_train(net, given if data is None else data, prop, options=options,
                              **{**FAST, **extra})


# -- NetTrain page ------------------------------------------------------------------------------


def test_single_linear_layer_on_rules():
    """Basic Examples: "Train a single-layer linear net on input -> output pairs" (the input
    shape and LinearLayer[]'s size both come from the data)."""
    net = nettrain_call("NetTrain[LinearLayer[], {1 -> 1.9, 2 -> 4.1, 3 -> 6.0, 4 -> 8.1}]",
                       MaxTrainingRounds=1500, LearningRate=0.05)
    assert net(5) == pytest.approx(10.0, abs=0.3)  # the data follow y ≈ 2.03 x
    assert net.input_types["Input"].dims == () and net.output_types["Output"].dims == ()


def test_three_layer_net_learns_a_2d_function():
    """Basic Examples: a 2D function; the page's data are
    ``Flatten@Table[{x, y} -> x*y, {x, -1, 1, .2}, {y, -1, 1, .2}]``."""
    grid = np.round(np.arange(-1, 1.01, 0.2), 10)
    data = [([float(x), float(y)], float(x * y)) for x in grid for y in grid]
    net = nettrain_call("NetTrain[NetChain[{150, Tanh, 150, Tanh, 1}], data]", data,
                       MaxTrainingRounds=300, LearningRate=0.01)
    got = np.array(net([[0.5, 0.5], [-0.6, 0.4], [0.9, -0.9]])).ravel()
    assert got == pytest.approx([0.25, -0.24, -0.81], abs=0.1)


def test_regression_with_scalar_ports():
    """A regression net with "Input" -> "Scalar" and "Output" -> "Scalar" (NetEncoder and
    NetDecoder "Scalar"): numbers in, numbers out."""
    x = np.linspace(-3, 3, 121)
    data = list(zip(x.tolist(), np.sin(x).tolist(), strict=True))
    net = nettrain_call('NetTrain[NetChain[{LinearLayer[100], Tanh, LinearLayer[1]}, '
                       '"Input" -> "Scalar", "Output" -> "Scalar"], data]', data,
                       MaxTrainingRounds=150, LearningRate=0.01)
    probe = np.array([-2.5, -1.0, 0.3, 1.7])
    got = np.array(net(probe.tolist()))
    assert np.abs(got - np.sin(probe)).max() < 0.15
    assert isinstance(net(0.3), float)


def test_two_input_graph_of_open_linear_layers():
    """A NetGraph with two named inputs, each through a LinearLayer[] whose size is inferred
    (from the TotalLayer's output, which the target fixes), trained on an association."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(64, 3)), rng.normal(size=64)
    data = {"x": a.tolist(), "y": b.tolist(), "Output": (a @ [1.0, -2.0, 0.5] + 3 * b).tolist()}
    net = nettrain_call('NetTrain[NetGraph[{LinearLayer[], LinearLayer[], TotalLayer[]}, '
                       '{NetPort["x"] -> 1, NetPort["y"] -> 2, {1, 2} -> 3}], data]', data,
                       MaxTrainingRounds=300, LearningRate=0.05)
    got = net({"x": [[1.0, 1.0, 1.0]], "y": [1.0]})
    assert got[0] == pytest.approx(2.5, abs=0.2)


def test_lenet_with_an_image_encoder_on_digits():
    """Applications: the LeNet digit classifier with NetEncoder[{"Image", {28, 28},
    "Grayscale"}] and a Class decoder, here on scikit-learn's 8x8 digits (the encoder
    stretches them to 28x28)."""
    pytest.importorskip("PIL")
    digits = pytest.importorskip("sklearn.datasets").load_digits()
    images, labels = digits.images / 16.0, digits.target
    lenet = ('NetChain[{ConvolutionLayer[20, 5], Ramp, PoolingLayer[2, 2], '
             'ConvolutionLayer[50, 5], Ramp, PoolingLayer[2, 2], FlattenLayer[], 500, Ramp, 10, '
             'SoftmaxLayer[]}, "Output" -> NetDecoder[{"Class", Range[0, 9]}], '
             '"Input" -> NetEncoder[{"Image", {28, 28}, "Grayscale"}]]')
    net = wlbridge.net_train(lenet, {"Input": list(images[:256]), "Output": labels[:256]},
                             MaxTrainingRounds=8, BatchSize=16, **FAST)
    test = slice(1500, 1650)
    # 10 classes: chance is 0.1; 256 training digits and 8 rounds give about 0.8
    assert np.mean(np.array(net(list(images[test]))) == labels[test]) > 0.7
    assert net.input_types["Input"].dims == (1, 28, 28)


def test_iris_classifier_with_inferred_input():
    """Applications: a classifier of the Fisher iris data; the input size comes from the data."""
    iris = pytest.importorskip("sklearn.datasets").load_iris()
    names = ("setosa", "versicolor", "virginica")
    x = (iris.data - iris.data.mean(0)) / iris.data.std(0)
    y = [names[i] for i in iris.target]
    order = np.random.default_rng(2).permutation(150)
    train, test = order[:110], order[110:]
    data = [(x[i].tolist(), y[i]) for i in train]
    net = nettrain_call('NetTrain[NetChain[{LinearLayer[3], SoftmaxLayer[]}, "Output" -> '
                       'NetDecoder[{"Class", {"setosa", "versicolor", "virginica"}}]], data]',
                       data, MaxTrainingRounds=150, LearningRate=0.05)
    assert np.mean(np.array(net(x[test].tolist())) == np.array(y)[test]) > 0.85


def test_results_object_with_validation_fraction():
    """NetTrain[net, data, All, ValidationSet -> Scaled[0.2]]: the results object's
    properties, validation measured on the held-out fifth."""
    x = np.linspace(-1, 1, 50)
    data = [(float(v), 2 * float(v)) for v in x]
    res = nettrain_call("NetTrain[LinearLayer[], data, All, ValidationSet -> Scaled[0.2]]", data,
                       MaxTrainingRounds=200, LearningRate=0.05, BatchSize=10)
    assert res["ValidationExamples"] == 10 and res["TrainingExamples"] == 40
    assert res["ValidationLoss"] < 0.01 and len(res["ValidationLossList"]) == 200


def test_transfer_learning_freezes_all_but_the_new_layer():
    """Properties & Relations: retrain a net's last layer with
    LearningRateMultipliers -> {"classifier" -> 1, _ -> None}."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 4))
    data = [(r.tolist(), float(r.sum() > 0) + 1) for r in x]
    text = ('NetTrain[NetChain[<|"features" -> LinearLayer[16], "relu" -> Ramp, '
            '"classifier" -> LinearLayer[2], "prob" -> SoftmaxLayer[]|>], data, '
            'LearningRateMultipliers -> {"classifier" -> 1, _ -> None}]')
    before = wlbridge.Net('NetChain[<|"features" -> LinearLayer[16], "relu" -> Ramp, '
                          '"classifier" -> LinearLayer[2], "prob" -> SoftmaxLayer[]|>, '
                          '"Input" -> 4]', seed=1).arrays()
    net = nettrain_call(text, data, MaxTrainingRounds=60, LearningRate=0.05)
    after = net.arrays()
    np.testing.assert_array_equal(after[("features", "Weights")], before[("features", "Weights")])
    assert not np.array_equal(after[("classifier", "Weights")], before[("classifier", "Weights")])
    pred = np.array(net(x.tolist())).argmax(1) + 1
    assert np.mean(pred == np.array([d[1] for d in data])) > 0.75


def test_generator_function():
    """NetTrain[net, f]: f receives <|"BatchSize" -> n, ...|> and returns a batch of rules."""

    def f(info):
        rng = np.random.default_rng(info["Batch"])
        xs = rng.uniform(-1, 1, info["BatchSize"])
        return [(float(v), float(3 * v + 1)) for v in xs]

    net = wlbridge.net_train("LinearLayer[]", (f, {"RoundLength": 128}), BatchSize=32,
                             MaxTrainingRounds=100, LearningRate=0.05, **FAST)
    assert net(1.0) == pytest.approx(4.0, abs=0.15)


# -- layer and coder pages ----------------------------------------------------------------------


def test_boolean_decoder_classifier():
    """NetDecoder "Boolean": a logistic classifier whose output decodes to True/False."""
    x = np.linspace(-2, 2, 40)
    data = [(float(v), bool(v > 0.3)) for v in x]
    net = nettrain_call('NetTrain[NetChain[{LinearLayer[], LogisticSigmoid}, '
                       '"Output" -> NetDecoder["Boolean"]], data]', data,
                       MaxTrainingRounds=300, LearningRate=0.1)
    assert net([-1.5, 0.0, 1.5]) == [False, False, True]
    assert 0 < net(0.3, "Probability") < 1


def test_characters_encoder_lstm_classifier():
    """NetEncoder "Characters": an LSTM reading strings, classifying by their content."""
    rng = np.random.default_rng(4)
    words = ["".join(rng.choice(list("abc"), rng.integers(3, 8))) for _ in range(120)]
    labels = ["yes" if "cc" in w else "no" for w in words]
    net = wlbridge.net_train(
        'NetChain[{EmbeddingLayer[8], LongShortTermMemoryLayer[16], SequenceLastLayer[], '
        'LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Characters", "abc"}], '
        '"Output" -> NetDecoder[{"Class", {"no", "yes"}}]]',
        list(zip(words[:90], labels[:90], strict=True)), MaxTrainingRounds=40, BatchSize=16,
        LearningRate=0.02, **FAST)
    assert np.mean(np.array(net(words[90:])) == np.array(labels[90:])) > 0.8


def test_tokens_encoder_bag_of_embeddings():
    """NetEncoder "Tokens": mean of token embeddings, then a classifier."""
    pos, neg = ["good", "great", "fine"], ["bad", "awful", "poor"]
    rng = np.random.default_rng(5)
    sents, labels = [], []
    for _ in range(80):
        good = bool(rng.integers(0, 2))
        words = list(rng.choice(pos if good else neg, 2)) + ["movie", "was"]
        rng.shuffle(words)
        sents.append(" ".join(words))
        labels.append("pos" if good else "neg")
    net = wlbridge.net_train(
        'NetChain[{EmbeddingLayer[8], AggregationLayer[Mean, 1], LinearLayer[2], '
        'SoftmaxLayer[]}, "Input" -> NetEncoder[{"Tokens", {"the", "movie", "was", "good", '
        '"great", "fine", "bad", "awful", "poor"}}], "Output" -> NetDecoder[{"Class", '
        '{"neg", "pos"}}]]', list(zip(sents[:60], labels[:60], strict=True)),
        MaxTrainingRounds=40, LearningRate=0.05, **FAST)
    assert np.mean(np.array(net(sents[60:])) == np.array(labels[60:])) > 0.9


def test_batch_normalization_and_dropout_chain():
    """BatchNormalizationLayer / DropoutLayer pages: an MLP with both, on sklearn's wine."""
    wine = pytest.importorskip("sklearn.datasets").load_wine()
    x = (wine.data - wine.data.mean(0)) / wine.data.std(0)
    order = np.random.default_rng(6).permutation(len(x))
    train, test = order[:130], order[130:]
    net = wlbridge.net_train(
        'NetChain[{LinearLayer[32], BatchNormalizationLayer[], Ramp, DropoutLayer[0.3], '
        'LinearLayer[3], SoftmaxLayer[]}, "Output" -> NetDecoder[{"Class", {0, 1, 2}}]]',
        {"Input": x[train], "Output": wine.target[train]}, MaxTrainingRounds=40,
        LearningRate=0.01, **FAST)
    assert np.mean(np.array(net(x[test])) == wine.target[test]) > 0.85


def test_integer_data_and_ints_in_numpy():
    """Integer-valued data, as in the NetTrain page's {1 -> 1.9, ...}, with an int64 column."""
    x = np.arange(0, 20, dtype=np.int64).reshape(-1, 1)
    net = wlbridge.net_train('NetChain[{LinearLayer[1]}]', {"Input": x, "Output": 0.5 * x},
                             MaxTrainingRounds=300, LearningRate=0.05, **FAST)
    assert float(np.asarray(net([10]))[0]) == pytest.approx(5.0, abs=0.2)
