"""NetTrainResults: the properties of reference §9.10 from a real (engine-level) run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from wolframclient.deserializers import binary_deserialize
from wolframclient.serializers import export

from engine.loop import train
from engine.spec import Dataset, TrainConfig
from wlbridge.messages import WLMessage
from wlbridge.results import NetTrainResults, check_property


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def forward(self, inputs, lengths=None):
        return {"Output": (self.lin(inputs["Input"]) - inputs["Output"]).pow(2).sum(-1)}


class FakeNet:
    """Stands for a wlbridge.Net: only to_wl() is used by the results object."""

    def to_wl(self):
        from wolframclient.language import wl

        return wl.NetChain((wl.LinearLayer(1),))


@pytest.fixture(scope="module")
def results() -> NetTrainResults:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32))[:, None]
    r = train(Regressor(), Dataset({"Input": x, "Output": y}),
              TrainConfig(batch_size=10, max_training_rounds=4, validation_set=0.2,
                          learning_rate=0.05, random_seed=1))
    return NetTrainResults.from_train(r, FakeNet(), final_net=lambda: FakeNet())


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
    assert assoc["TrainedNet"] == FakeNet().to_wl()
    assert all(isinstance(v, float) for v in assoc["BatchLossList"])
    back = binary_deserialize(export(assoc, target_format="wxf"))
    assert back["TotalBatches"] == 16 and back["RoundPositions"] == (4, 8, 12, 16)
    assert back["BatchLossList"] == assoc["BatchLossList"]
