"""`wlbridge.net_train` end to end: Wolfram text in, a trained net and NetTrain's properties out."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wlbridge
from engine.errors import EngineError

MLP = ('NetChain[{LinearLayer[64], Ramp, LinearLayer[10], SoftmaxLayer[]}, "Input" -> 64, '
       '"Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
QUIET = "TrainingProgressReporting -> None"


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], d.target[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def small(digits, n=256):
    x, y, _, _ = digits
    return {"Input": x[:n], "Output": y[:n]}


def test_mlp_learns_digits(digits):
    """An MLP in Wolfram text reaches ≥ 95 % test accuracy on sklearn's digits."""
    x, y, xt, yt = digits
    net = wlbridge.net_train(MLP, {"Input": x, "Output": y},
                             options=f'BatchSize -> 32, MaxTrainingRounds -> 15, '
                                     f'LearningRate -> 0.005, RandomSeeding -> 1, {QUIET}')
    assert isinstance(net, wlbridge.Net)
    pred = np.array(net(xt))
    assert (pred == yt).mean() >= 0.95


def test_all_results_are_consistent(digits):
    """§9.10 counts: one loss per batch, RoundPositions = round·bpr, validation per round."""
    res = wlbridge.net_train(
        MLP, small(digits), "All",
        options='BatchSize -> 32, MaxTrainingRounds -> 5, Method -> {"ADAM", "LearningRate" '
                f'-> 0.01}}, ValidationSet -> Scaled[0.25], {QUIET}')
    assert isinstance(res, wlbridge.NetTrainResults)
    bpr = res["BatchesPerRound"]
    assert bpr == 6  # 8 batches of 32, the last 2 for validation
    assert len(res["BatchLossList"]) == res["TotalBatches"] == 5 * bpr
    assert res["RoundPositions"] == tuple(bpr * r for r in range(1, 6))
    assert res["ValidationPositions"] == res["RoundPositions"]
    assert len(res["ValidationMeasurementsLists"]["ErrorRate"]) == 5
    assert res["ValidationExamples"] > 0 and res["TrainingExamples"] > 0
    assert 1 <= res["BestValidationRound"] <= 5
    assert res["OptimizationMethod"] == "ADAM"
    assoc = res.to_wl()
    assert assoc["TrainedNet"].head.name.endswith("NetChain")
    for p in ("TotalTrainingTime", "MeanBatchesPerSecond", "MeanExamplesPerSecond",
              "InitialLearningRate", "FinalLearningRate", "WeightsLearningRateMultipliers",
              "RoundLossList", "ValidationLossList", "ReasonTrainingStopped"):
        assert p in res.properties()


def test_seeded_runs_reproduce(digits):
    opts = dict(BatchSize=64, MaxTrainingRounds=2, RandomSeeding=42,
                TrainingProgressReporting=None)
    a = wlbridge.net_train(MLP, small(digits), "BatchLossList", **opts)
    b = wlbridge.net_train(MLP, small(digits), "BatchLossList", **opts)
    assert a == b


def test_progress_function_sees_keys_and_can_stop(digits):
    seen = []

    def f(info):
        seen.append(info)
        return "StopTraining"

    res = wlbridge.net_train(MLP, small(digits), ["ReasonTrainingStopped", "TotalBatches"],
                             BatchSize=32, MaxTrainingRounds=3, TrainingProgressReporting=None,
                             TrainingProgressFunction=f)
    assert res == ["ManualStop", 8]
    info = seen[0]
    for key in ("BatchLoss", "RoundLoss", "Round", "AbsoluteBatch", "BatchSize",
                "BatchesPerRound", "ProgressFraction", "TimeElapsed", "LearningRate",
                "$Timings", "ExamplesPerSecond"):
        assert key in info
    assert isinstance(info["Net"], wlbridge.Net)


def test_divergence_gives_arrdiv_and_finite_net(digits):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = wlbridge.net_train(
            MLP, small(digits), "All",
            options=f'MaxTrainingRounds -> 30, Method -> {{"SGD", "LearningRate" -> 1*^8}}, {QUIET}')
    assert res["ReasonTrainingStopped"] == "WeightsDiverged"
    assert any("NetTrain::arrdiv" in str(x.message) for x in w)
    arrays = res["TrainedNet"].arrays()
    assert all(np.isfinite(a).all() for a in arrays.values())


def test_updates_per_batch_and_real64(digits):
    res = wlbridge.net_train(
        MLP, small(digits, 64), "All",
        options=f'BatchSize -> 32, MaxTrainingRounds -> 2, WorkingPrecision -> "Real64", '
                f'"InternalOptions" -> {{"UpdatesPerBatch" -> 3}}, {QUIET}')
    assert res["TotalBatches"] == 4 and res["OptimizerSteps"] == 12
    arrays = res["TrainedNet"].arrays()
    assert all(a.dtype == np.float64 for a in arrays.values())


def test_data_as_wolfram_text_rules():
    net = 'NetChain[{LinearLayer[1]}, "Input" -> 2, "Output" -> 1]'
    data = "{{0., 1.} -> {1.}, {1., 0.} -> {-1.}, {1., 1.} -> {0.}, {0., 0.} -> {0.}}"
    loss = wlbridge.net_train(net, data, "RoundLossList", MaxTrainingRounds=3,
                              TrainingProgressReporting=None)
    assert len(loss) == 3


BAD = [
    ({"BatchSize": -1}, "optpi"),
    ({"MaxTrainingRounds": 0}, "optpi"),
    ({"TargetDevice": "GPU"}, "invtrgdev"),
    ({"WorkingPrecision": "Real8"}, "badwp"),
    ({"ValidationSet": "Scaled[1.5]"}, "invvsfrac"),
    ({"Method": "Newton"}, "netinvopt"),
]


@pytest.mark.parametrize(("opts", "tag"), BAD)
def test_bad_options_are_messages(digits, opts, tag):
    import torch

    if tag == "invtrgdev" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    opts = {k: (wlbridge.parse(v) if isinstance(v, str) and "[" in v else v)
            for k, v in opts.items()}
    with pytest.raises(EngineError) as info:
        wlbridge.net_train(MLP, small(digits, 64), TrainingProgressReporting=None, **opts)
    assert info.value.tag == tag and str(info.value).startswith(f"{info.value.symbol}::{tag}: ")
    assert info.value.symbol in ("NetTrain", "General")
    assert "\n" not in str(info.value)


def test_bad_property_and_data_messages(digits):
    with pytest.raises(EngineError, match="invntrspec"):
        wlbridge.net_train(MLP, small(digits, 64), "NoSuchProp")
    with pytest.raises(EngineError, match="nodata"):
        wlbridge.net_train(MLP, {"Input": np.zeros((0, 64)), "Output": []})
    with pytest.raises(EngineError, match="invtdata"):
        wlbridge.net_train(MLP, {"Input": np.zeros((3, 64)), "Output": [1, 2, 99]})
    assert wlbridge.net_train(MLP, small(digits, 64), []) == []
