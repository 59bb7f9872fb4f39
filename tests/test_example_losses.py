"""ExampleLosses (property and TrainingProgressFunction key) and SkippedTrainingData."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wlbridge
from engine.loop import train
from engine.spec import Dataset, TrainConfig
from wlbridge.messages import WLMessage
from wlbridge.results import NetTrainResults

CLASSIFIER = 'NetChain[{LinearLayer[3], SoftmaxLayer[]}, "Input" -> 2]'
TWO_OUTPUTS = (
    'NetGraph[<|"lin" -> LinearLayer[2], "sm" -> SoftmaxLayer[], "reg" -> LinearLayer[2]|>, '
    '{NetPort["Input"] -> "lin" -> "sm" -> NetPort["Class"], '
    'NetPort["Input"] -> "reg" -> NetPort["Value"]}, "Input" -> 2]'
)
N = 20
OPTS = dict(MaxTrainingRounds=3, BatchSize=8, RandomSeeding=3, TrainingProgressReporting=None)


def inputs() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(N, 2)).astype(np.float32)


def classes(x: np.ndarray) -> np.ndarray:
    return np.where(x[:, 0] > 0.3, 1, np.where(x[:, 1] > 0, 2, 3))


def test_example_losses_property_is_cross_entropy_of_trained_net():
    """§9.10: the loss of every training example under the trained net, in data order."""
    x = inputs()
    y = classes(x)
    r = wlbridge.net_train(CLASSIFIER, {"Input": x, "Output": y}, "All", **OPTS)
    losses = r["ExampleLosses"]
    assert isinstance(losses, tuple) and len(losses) == N
    probs = torch.tensor(np.array(r["TrainedNet"](x)), dtype=torch.float64)
    expected = torch.nn.functional.nll_loss(probs.log(), torch.tensor(y - 1), reduction="none")
    assert np.allclose(losses, expected.numpy(), rtol=1e-4, atol=1e-6)
    assert "ExampleLosses" not in r.properties()  # computed on request only (NetTrain hides it)


def test_example_losses_of_a_two_loss_net_sum_both_losses():
    """Each example's loss is the sum of its losses on every loss port (CE + mean square)."""
    x = inputs()
    y = classes(x) % 2 + 1
    target = np.stack([x[:, 0] * 2, -x[:, 1]], 1).astype(np.float32)
    r = wlbridge.net_train(TWO_OUTPUTS, {"Input": x, "Class": y, "Value": target}, "All",
                           **OPTS)
    out = r["TrainedNet"](x)
    probs = np.array([o["Class"] for o in out], dtype=np.float64)
    value = np.array([o["Value"] for o in out], dtype=np.float64)
    expected = -np.log(probs[np.arange(N), y - 1]) + ((value - target) ** 2).mean(1)
    assert np.allclose(r["ExampleLosses"], expected, rtol=1e-4, atol=1e-6)


def test_example_losses_key_holds_the_last_batch():
    """§9.11: the callback key has one loss per example of the most recent batch, and their
    mean is that batch's loss."""
    x = inputs()
    seen = []

    def f(info):
        seen.append((info["ExampleLosses"], info["BatchLoss"], info["BatchSize"]))

    wlbridge.net_train(CLASSIFIER, {"Input": x, "Output": classes(x)}, "TrainedNet",
                       TrainingProgressFunction=f, **{**OPTS, "BatchSize": 5})
    assert len(seen) == 3  # once per round
    for losses, batch_loss, batch_size in seen:
        assert batch_size == 5 and len(losses) == 5
        assert all(v > 0 for v in losses)
        assert math.isclose(np.mean(losses), batch_loss, rel_tol=1e-5)


def test_skipped_training_data_is_empty():
    """§9.10: the three keys; nothing is ever skipped (bad examples are refused up front)."""
    x = inputs()
    seen = []
    r = wlbridge.net_train(CLASSIFIER, {"Input": x, "Output": classes(x)}, "All",
                           TrainingProgressFunction=lambda info: seen.append(
                               info["SkippedTrainingData"]), **OPTS)
    empty = {"SkippedExampleIndices": (), "SkippedBatchIndices": (), "SkippedExamples": ()}
    assert r["SkippedTrainingData"] == empty
    assert "SkippedTrainingData" in r.properties()
    assert r.to_wl()["SkippedTrainingData"] == empty
    assert seen and all(s == empty for s in seen)


class _Regression(torch.nn.Module):
    """A hand-written training module (the flat convention of engine.loop)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, inputs, lengths):
        return {"Loss": ((self.lin(inputs["Input"]) - inputs["Target"]) ** 2)[:, 0]}


def _engine_run() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, object]:
    torch.manual_seed(0)
    x = torch.randn(N, 2)
    y = x.sum(1, keepdim=True)
    m = _Regression()
    r = train(m, Dataset({"Input": x.numpy(), "Target": y.numpy()}),
              TrainConfig(max_training_rounds=2, batch_size=6))
    return m, x, y, r


def test_example_losses_from_the_engine_alone():
    """The engine's TrainResult computes them from its training module (eval mode, batches
    of the batch size, the last one short)."""
    m, x, y, r = _engine_run()
    with torch.no_grad():
        expected = ((m.lin(x) - y) ** 2)[:, 0].double()
    assert np.allclose(r.example_losses(), expected.numpy(), rtol=1e-6)
    assert m.training  # the module's mode is restored


def test_noexloss_without_list_data():
    """``NetTrain::noexloss`` where the run has no list of examples to evaluate again."""
    _, _, _, r = _engine_run()
    r.example_losses = None
    results = NetTrainResults.from_train(r, None)
    with pytest.raises(WLMessage, match="NetTrain::noexloss"):
        results["ExampleLosses"]
    assert results["SkippedTrainingData"]["SkippedExamples"] == ()
