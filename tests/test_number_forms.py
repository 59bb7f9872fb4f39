"""Every Wolfram number form where NetTrain takes a number (issue 12 item 4).

The parser never evaluates, so ``10^-3`` arrives as ``Power[10, -3]`` and ``1/1000`` as
``Times[1, Power[1000, -1]]``; Wolfram would have evaluated them before NetTrain saw them
(reference nettrain-loop.md §9.3: options take numbers, not their spelling). These tests give
each form to the evaluator, to every numeric option and sub-option, and to layer parameters,
and check the exact value that comes out; hostile exponents must be refused at once.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

import wlbridge
from wlbridge.exprs import fold, number
from wlbridge.messages import WLMessage
from wlbridge.options import resolve
from wlbridge.syntax import parse

# text -> exact value Wolfram gives it
FORMS = [
    ("10^-3", Fraction(1, 1000)), ("1*^-3", Fraction(1, 1000)), ("1/1000", Fraction(1, 1000)),
    ("Rational[1, 1000]", Fraction(1, 1000)), ("2^5", 32), ("64/2", 32), ("-2^5", -32),
    ("-10^-3", Fraction(-1, 1000)), ("-1*^-3", Fraction(-1, 1000)), ("(-2)^3", -8),
    ("2^-1/2", Fraction(1, 4)), ("3 - 1", 2), ("Sqrt[16]", 4), ("8^(-2/3)", Fraction(1, 4)),
    ("Divide[3, 4]", Fraction(3, 4)), ("Subtract[1, 3]", -2), ("Minus[5]", -5),
    ("10^-3.", 0.001), ("1.5*^-3", 0.0015), ("2 * 0.25", 0.5),
]


@pytest.mark.parametrize(("text", "value"), FORMS)
def test_number_evaluates_each_form_exactly(text, value):
    got = number(parse(text))
    assert got == value and type(got) is type(value)


def test_inexact_parts_make_the_result_a_machine_real():
    assert number(parse("1.23456789012345678901")) == 1.2345678901234567  # a Decimal
    assert number(parse("Sqrt[2]")) == pytest.approx(1.4142135623730951, abs=0)


@pytest.mark.parametrize("text", ["x^2", "1/0", "0^-1", "(-1)^(1/2)", "Pi x", '"1"', "True",
                                  "{1, 2}", "Quantity[1, \"Seconds\"]"])
def test_number_refuses_what_is_not_one_real_number(text):
    assert number(parse(text)) is None


@pytest.mark.parametrize("text", ["10^999999999", "10^-999999999", "2^2^2^2^2",
                                  "(10^100)^(10^100)", "Times @@ Table[10^4000, {3}]"])
def test_hostile_exponents_are_refused_at_once(text):
    try:
        expr = parse(text)
    except Exception:  # noqa: BLE001 - a form the parser does not take is not our case
        pytest.skip(f"{text} does not parse here")
    t0 = time.perf_counter()
    assert number(expr) is None
    assert time.perf_counter() - t0 < 0.5


def test_deep_nesting_is_refused_not_a_recursion_error():
    expr = 1
    from wolframclient.language import wl

    for _ in range(5000):
        expr = wl.Plus(expr, 1)
    assert number(expr) is None
    assert fold(expr) is expr


def test_fold_rebuilds_only_what_changed():
    expr = parse('{"ADAM", "LearningRate" -> 10^-3, "Beta1" -> 9/10}')
    from wolframclient.language import wl

    assert fold(expr) == ("ADAM", wl.Rule("LearningRate", Fraction(1, 1000)),
                          wl.Rule("Beta1", Fraction(9, 10)))
    plain = parse('{"a" -> 1, "b" -> x^2}')
    assert fold(plain) is plain
    bag = wlbridge.Bag([1])
    assert fold(bag) is bag  # a Python object the caller holds is never replaced


# ---------------------------------------------------------------------------------------------
# every numeric option and sub-option


def _get(config, attr):
    for part in attr.split("."):
        config = getattr(config, part)
    return config


OPTIONS = [
    ("LearningRate -> 10^-3", "learning_rate", 0.001),
    ("LearningRate -> 1*^-3", "learning_rate", 0.001),
    ("LearningRate -> 1/1000", "learning_rate", 0.001),
    ("LearningRate -> Rational[1, 1000]", "learning_rate", 0.001),
    ("BatchSize -> 2^5", "batch_size", 32),
    ("BatchSize -> 64/2", "batch_size", 32),
    ("MaxTrainingRounds -> 3*2", "max_training_rounds", 6),
    ("MaxTrainingBatches -> 10^2", "max_training_batches", 100),
    ("TimeGoal -> Quantity[2^2, \"Seconds\"]", "time_goal", 4.0),
    ("TimeGoal -> 1/2", "time_goal", 0.5),
    ("RandomSeeding -> -2^5", "random_seed", -32),
    ("ValidationSet -> Scaled[1/10]", "validation_set", 0.1),
    ("ValidationSet -> {Scaled[1/10], \"Interval\" -> 2^1}", "validation_interval.rounds", 2),
    ('Method -> {"ADAM", "LearningRate" -> 10^-3}', "method.learning_rate", 0.001),
    ('Method -> {"ADAM", "Beta1" -> 9/10, "Beta2" -> 1 - 10^-3}', "method.beta2", 0.999),
    ('Method -> {"ADAM", "Epsilon" -> 10^-8}', "method.epsilon", 1e-8),
    ('Method -> {"SGD", "Momentum" -> Rational[9, 10]}', "method.momentum", 0.9),
    ('Method -> {"SGD", "L2Regularization" -> 10^-4}', "method.l2_regularization", 0.0001),
    ('Method -> {"SGD", "GradientClipping" -> {1 -> 2^-1}}', "method.gradient_clipping",
     [(("#1",), 0.5)]),
    ("LearningRateMultipliers -> {1 -> 1/2, -1 -> -1/2}", "learning_rate_multipliers",
     [(("#1",), 0.5), (("#-1",), -0.5)]),
    ('TrainingProgressReporting -> {"Print", "Interval" -> Quantity[1/2, "Seconds"]}',
     "training_progress_reporting", None),
    ('TrainingProgressCheckpointing -> {"Directory", "d", "Interval" -> 2^1}',
     "training_progress_checkpointing", None),
    ('TrainingStoppingCriterion -> <|"Criterion" -> "Loss", "Patience" -> 2^2, '
     '"RelativeChange" -> 10^-2|>', "training_stopping_criterion.patience", 4),
    ('"InternalOptions" -> {"SequenceBucketingPartitions" -> 2^2}',
     "sequence_bucketing_partitions", 4),
    ('"InternalOptions" -> {"UpdatesPerBatch" -> 4/2}', "updates_per_batch", 2),
    ('"InternalOptions" -> {"LowPrecisionGradientRescaling" -> 2^3}',
     "low_precision_gradient_rescaling", 8.0),
    ('"InternalOptions" -> {"MemoryReportingInterval" -> 1/2}', "memory_reporting_interval", 0.5),
]


def test_any_integer_seed_is_a_seed_torch_takes():
    """RandomSeeding takes any integer (Wolfram does); beyond torch's 64 bits it is hashed to a
    stable seed instead of failing inside torch.manual_seed."""
    import torch

    big = resolve("RandomSeeding -> 2^100").random_seed
    assert big == resolve("RandomSeeding -> 1267650600228229401496703205376").random_seed
    assert 0 <= big < 2**63 and big != resolve("RandomSeeding -> 2^100 + 1").random_seed
    torch.manual_seed(big)
    assert resolve("RandomSeeding -> 2^63").random_seed == 2**63


@pytest.mark.parametrize(("text", "attr", "value"), OPTIONS)
def test_every_numeric_option_takes_every_number_form(text, attr, value):
    config = resolve(text)
    got = _get(config, attr)
    if attr == "training_progress_reporting":
        assert got[0].interval.seconds == 0.5
    elif attr == "training_progress_checkpointing":
        assert got[0]["interval"].rounds == 2
    else:
        assert got == value


@pytest.mark.parametrize(("text", "line"), [
    ("LearningRate -> -10^-3", "NetTrain::netinvopt: The value of LearningRate -> -1/1000 should "
     "be a positive number or Automatic."),
    ("BatchSize -> 1/2", "NetTrain::optpi: The value of option BatchSize -> 1/2 should be a "
     "positive machine-sized integer."),
    ("BatchSize -> 10^999999999", "NetTrain::optpi: The value of option BatchSize -> "
     "Power[10, 999999999] should be a positive machine-sized integer."),
    ("BatchSize -> -2^5", "NetTrain::optpi: The value of option BatchSize -> -32 should be a "
     "positive machine-sized integer."),
    ('Method -> {"ADAM", "Beta1" -> 3/2}', "NetTrain::netinvopt: \"Beta1\" -> 3/2 in Method "
     "should be a number in the range [0, 1)."),
    ("ValidationSet -> Scaled[3/2]", "NetTrain::invvsfrac: The fraction in ValidationSet -> "
     "Scaled[Rational[3, 2]] should be a number strictly between 0 and 1."),
])
def test_out_of_range_number_forms_are_named_in_the_message(text, line):
    with pytest.raises(WLMessage) as err:
        resolve(text)
    assert str(err.value) == line


# ---------------------------------------------------------------------------------------------
# layer parameters


@pytest.mark.parametrize(("text", "args"), [
    ("LinearLayer[2^5]", {"OutputDimensions": (32,)}),
    ("LinearLayer[{2^1, 3}]", {"OutputDimensions": (2, 3)}),
    ("DropoutLayer[1/2]", {"DropoutProbability": 0.5}),
    ("DropoutLayer[Rational[1, 4]]", {"DropoutProbability": 0.25}),
    ('ConvolutionLayer[2^3, {3, 3}, "Stride" -> 2^1, PaddingSize -> 3 - 2]',
     {"OutputChannels": 8, "KernelSize": (3, 3), "Stride": 2, "PaddingSize": 1}),
    ("AggregationLayer[Max, -2^0]", {"Levels": -1}),
])
def test_layer_parameters_take_number_forms(text, args):
    from wlbridge.nets import to_layer_spec

    spec = to_layer_spec(parse(text))
    assert {k: spec.args[k] for k in args} == args


def test_a_bad_layer_number_names_the_parameter():
    from wlbridge.nets import to_layer_spec

    with pytest.raises(WLMessage, match=r'"OutputDimensions": expected a positive integer .*'
                                        r"not 1/2"):
        to_layer_spec(parse("LinearLayer[1/2]"))


def test_port_shapes_and_in_net_multipliers_take_number_forms():
    """Port specs and a layer's own LearningRateMultipliers are folded as Wolfram would
    evaluate them: "Input" -> 2*3 is a 6-vector, {7*4} a 28-vector, 1/2 a multiplier of 0.5."""
    net = wlbridge.Net('NetChain[{LinearLayer[3, LearningRateMultipliers -> 1/2], '
                       'LinearLayer[2, LearningRateMultipliers -> 10^-1]}, "Input" -> 2*3]')
    assert net.input_types["Input"].dims == (6,)
    assert [n.lr_multiplier for n in net.spec.nodes.values()] == [0.5, 0.1]
    assert wlbridge.Net('NetChain[{LinearLayer[4]}, "Input" -> {7*4}]').input_types["Input"].dims == (28,)
    with pytest.raises(WLMessage, match=r'port "Input": invalid port specification Times\[2, x\]'):
        wlbridge.Net('NetChain[{LinearLayer[4]}, "Input" -> 2*x]')


# ---------------------------------------------------------------------------------------------
# layer specs resolved against the net


NET = 'NetChain[{LinearLayer[3], Tanh, LinearLayer[1]}, "Input" -> 2]'
QUIET = "MaxTrainingRounds -> 2, BatchSize -> 5, RandomSeeding -> 3, " \
        "TrainingProgressReporting -> None"


def _data():
    x = np.random.default_rng(0).random((20, 2), dtype=np.float32)
    return {"Input": x, "Output": x.sum(1, keepdims=True)}


def _train(multipliers: str, net: str = NET):
    return wlbridge.net_train(net, _data(), "All",
                              options=f"LearningRateMultipliers -> {multipliers}, {QUIET}")


def test_positions_in_learning_rate_multipliers_name_layers():
    """``1 -> 0`` freezes the first layer, ``-1`` is the last, ``{3, "Biases"}`` one array;
    before this the positions matched nothing and every array trained (§9.3)."""
    r = _train('{1 -> 0, {-1, "Biases"} -> 1/2}')
    assert r["WeightsLearningRateMultipliers"] == {
        ("1", "Biases"): 0.0, ("1", "Weights"): 0.0, ("3", "Biases"): 0.5,
        ("3", "Weights"): 1.0}
    start = wlbridge.Net(NET, seed=3)
    trained = r["TrainedNet"]
    assert np.array_equal(trained.arrays()[("1", "Weights")], start.arrays()[("1", "Weights")])
    for array in (("3", "Weights"), ("3", "Biases")):
        assert not np.array_equal(trained.arrays()[array], start.arrays()[array])


def test_a_bare_layer_names_its_arrays():
    r = _train('{"Weights" -> 0}', 'LinearLayer[1, "Input" -> 2]')
    assert r["WeightsLearningRateMultipliers"] == {("1", "Biases"): 1.0, ("1", "Weights"): 0.0}


@pytest.mark.parametrize(("rules", "shown"), [
    ('{"nolayer" -> 0}', '"nolayer"'), ("{4 -> 0}", "4"), ('{{2, "Biases"} -> 0}', '{2, "Biases"}'),
])
def test_a_rule_that_names_nothing_is_an_error_naming_it(rules, shown):
    with pytest.raises(WLMessage) as err:
        _train(rules)
    assert str(err.value) == (f"NetTrain::arrpattmiss: The left hand side {shown} given as part "
                              "of the setting for LearningRateMultipliers is not a valid "
                              "position within the net.")


def test_a_method_per_array_rule_that_names_nothing_is_an_error():
    with pytest.raises(WLMessage, match=r'arrpattmiss: The left hand side "x" given as part of '
                                        r'the setting for Method "L2Regularization"'):
        wlbridge.net_train(NET, _data(), options='Method -> {"ADAM", "L2Regularization" -> '
                           '{"x" -> 1}}, ' + QUIET)
