"""Freezing idioms of the documentation's transfer-learning examples (LearningRateMultipliers,
reference §9.3: the first rule whose layer spec matches wins): ``{"layer" -> 1, _ -> None}``
trains one layer, ``_ -> 0`` freezes everything; as a NetTrain option and inside the net."""

from __future__ import annotations

import numpy as np
import pytest

import wlbridge

NET = ('NetChain[<|"features" -> LinearLayer[8], "act" -> Ramp, "classifier" -> LinearLayer[1]|>, '
       '"Input" -> 3]')


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    return {"Input": x, "Output": x.sum(1, keepdims=True)}


def _moved(net_text: str, data, **opts) -> dict[tuple[str, ...], float]:
    before = wlbridge.Net(net_text, seed=1).arrays()
    trained = wlbridge.net_train(net_text, data, MaxTrainingRounds=3, RandomSeeding=1,
                                 TrainingProgressReporting=None, **opts)
    return {k: float(np.abs(v - before[k]).max()) for k, v in trained.arrays().items()}


@pytest.mark.parametrize("rules", ['{"classifier" -> 1, _ -> None}',
                                   '{"classifier" -> 1, _ -> 0}'])
def test_only_the_named_layer_trains(data, rules):
    moved = _moved(NET, data, LearningRateMultipliers=wlbridge.parse(rules))
    assert moved[("classifier", "Weights")] > 1e-4 and moved[("classifier", "Biases")] > 1e-4
    assert moved[("features", "Weights")] == 0 and moved[("features", "Biases")] == 0


def test_blank_zero_freezes_everything(data):
    with pytest.warns(UserWarning, match="netfrozen"):
        moved = _moved(NET, data, LearningRateMultipliers=wlbridge.parse("_ -> 0"))
    assert max(moved.values()) == 0


def test_the_same_rules_written_in_the_net(data):
    net = NET[:-1] + ', LearningRateMultipliers -> {"classifier" -> 1, _ -> None}]'
    moved = _moved(net, data)
    assert moved[("classifier", "Weights")] > 1e-4
    assert moved[("features", "Weights")] == 0
    # after _ nothing is left for a later rule: {_ -> 0, "classifier" -> 1} freezes all
    frozen = NET[:-1] + ', LearningRateMultipliers -> {_ -> 0, "classifier" -> 1}]'
    with pytest.warns(UserWarning, match="netfrozen"):
        assert max(_moved(frozen, data).values()) == 0


def test_multipliers_property_reports_the_rules(data):
    res = wlbridge.net_train(NET, data, "All", MaxTrainingRounds=1, TrainingProgressReporting=None,
                             LearningRateMultipliers=wlbridge.parse('{"classifier" -> 1, _ -> None}'))
    mult = res["WeightsLearningRateMultipliers"]
    assert mult[("classifier", "Weights")] == 1.0 and mult[("features", "Weights")] == 0.0
