"""NetTrainResults: the properties of reference §9.10 from a real run of a real net."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.serializers import export

import wlbridge
from wlbridge.messages import WLMessage
from wlbridge.results import NetTrainResults, check_property

NET = 'NetChain[{LinearLayer[1]}, "Input" -> 3, "Output" -> 1]'


@pytest.fixture(scope="module")
def results() -> NetTrainResults:
    """A real run of a real Wolfram net through `wlbridge.net_train`: the nets in the results
    are `wlbridge.Net` objects holding trained arrays, not stand-ins."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32))[:, None]
    return wlbridge.net_train(NET, {"Input": x, "Output": y}, "All", BatchSize=10,
                              MaxTrainingRounds=4, ValidationSet=wl.Scaled(0.2),
                              LearningRate=0.05, RandomSeeding=1,
                              TrainingProgressReporting=None)


def test_counts_are_consistent(results):
    assert len(results["BatchLossList"]) == results["TotalBatches"] == 16
    assert results["BatchesPerRound"] == 4 and results["BatchSize"] == 10
    assert results["RoundPositions"] == (4, 8, 12, 16)
    assert results["ValidationPositions"] == (4, 8, 12, 16)
    assert len(results["RoundLossList"]) == results["TotalRounds"] == 4
    assert results["ExamplesProcessed"] == 160
    assert results["ReasonTrainingStopped"] == "MaxTrainingRounds"
    assert results["OptimizationMethod"] == "ADAM" and results["TargetDevice"] == "CPU"
    assert results["RoundMeasurementsLists"]["Loss"] == results["RoundLossList"]
    assert results["ValidationLoss"] == results["ValidationLossList"][-1]
    assert results["InitialLearningRate"] == pytest.approx(0.05 * np.sqrt(0.001) / 0.1)
    assert len(results["RoundLossQuartiles"]) == 4  # hidden property for PlotLossQuartiles
    assert "RoundLossQuartiles" not in results.properties()


def test_list_alias_and_unknown(results):
    assert results[["TotalRounds", "BatchSize"]] == [4, 10]
    assert results["TotalInputs"] == results["ExamplesProcessed"]
    with pytest.raises(WLMessage, match="invntrspec"):
        results["NoSuchProperty"]
    with pytest.raises(WLMessage, match="invntrspec"):
        check_property(["TrainedNet", 3])


def test_to_wl_round_trips_through_wxf(results):
    assoc = results.to_wl()
    trained = results["TrainedNet"]
    assert isinstance(trained, wlbridge.Net)
    wxf = export(assoc["TrainedNet"], target_format="wxf")
    assert wxf == export(trained.to_wl(), target_format="wxf")  # (arrays inside: compare bytes)
    # the written net is the trained one: read back, it holds the trained arrays
    back_net = wlbridge.Net(binary_deserialize(wxf))
    start = wlbridge.Net(NET, seed=1)
    for path, array in trained.arrays().items():
        assert np.array_equal(back_net.arrays()[path], array)
        assert not np.array_equal(start.arrays()[path], array)  # it did train
    assert all(isinstance(v, float) for v in assoc["BatchLossList"])
    back = binary_deserialize(export(assoc, target_format="wxf"))
    assert back["TotalBatches"] == 16 and back["RoundPositions"] == (4, 8, 12, 16)
    assert back["BatchLossList"] == assoc["BatchLossList"]


def test_trained_and_final_nets_are_real_nets(results):
    """TrainedNet is the best validation round's net, FinalNet the last round's (§9.10); both
    compute: the trained net's prediction is close to the linear target."""
    best, final = results["TrainedNet"], results["FinalNet"]
    assert isinstance(final, wlbridge.Net)
    if results["BestValidationRound"] == results["TotalRounds"]:
        assert all(np.array_equal(a, final.arrays()[p]) for p, a in best.arrays().items())
    else:
        assert any(not np.array_equal(a, final.arrays()[p]) for p, a in best.arrays().items())
    x = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    assert np.asarray(best(x)).shape in ((1,), (1, 1))
