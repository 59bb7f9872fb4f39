"""Internal loop options change what the loop does (reference §8.1, §8.4, §8.6, §8.7)."""

from __future__ import annotations

import numpy as np
import pytest

import wlbridge

NET = ('NetChain[{LinearLayer[8], Tanh, LinearLayer[3], SoftmaxLayer[]}, "Input" -> 4, '
       '"Output" -> NetDecoder[{"Class", {"a", "b", "c"}}]]')


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = rng.normal(size=(96, 4)).astype(np.float32) + 2 * np.eye(3, 4)[y]
    return {"Input": x, "Output": np.array(["a", "b", "c"])[y].tolist()}


def run(data, internal: str, prop="All", extra: str = ""):
    opts = ('BatchSize -> 16, MaxTrainingRounds -> 3, RandomSeeding -> 5, '
            f'TrainingProgressReporting -> None, "InternalOptions" -> {{{internal}}}{extra}')
    return wlbridge.net_train(NET, data, prop, options=opts)


def test_updates_per_batch_counts_steps_not_examples(data):
    """§8.1: n passes per batch; ExamplesProcessed is not multiplied, the rates are."""
    one = run(data, '"UpdatesPerBatch" -> 1')
    three = run(data, '"UpdatesPerBatch" -> 3')
    assert one["OptimizerSteps"] == 18 and three["OptimizerSteps"] == 54
    assert three["ExamplesProcessed"] == one["ExamplesProcessed"] == 18 * 16
    assert three["BatchLossList"] != one["BatchLossList"]


def test_force_synchronization_keeps_numbers(data):
    """§8.4: synchronising first changes timings only, never the numbers."""
    a = run(data, '"ForceSynchronization" -> True', "BatchLossList")
    b = run(data, '"ForceSynchronization" -> False', "BatchLossList")
    assert a == b


def test_disable_error_rate(data):
    on = run(data, "", extra=", ValidationSet -> Scaled[0.34]")
    off = run(data, '"DisableErrorRate" -> True', extra=", ValidationSet -> Scaled[0.34]")
    assert "ErrorRate" in on["RoundMeasurementsLists"]
    assert "ErrorRate" in on["ValidationMeasurementsLists"]
    assert set(off["RoundMeasurementsLists"]) == {"Loss"}
    assert set(off["ValidationMeasurementsLists"]) == {"Loss"}


def test_select_lowest_validation_error_false_picks_by_loss(data):
    """§8.7: with False the best round is the one of lowest validation loss."""
    res = run(data, '"SelectLowestValidationError" -> False',
              extra=", ValidationSet -> Scaled[0.34]")
    losses = res["ValidationLossList"]
    assert res["BestValidationRound"] == int(np.argmin(losses)) + 1
    res2 = run(data, "", extra=", ValidationSet -> Scaled[0.34]")
    errs = res2["ValidationMeasurementsLists"]["ErrorRate"]
    key = list(zip(errs, res2["ValidationLossList"], strict=True))
    assert res2["BestValidationRound"] == key.index(min(key)) + 1


def test_disable_validation_executor_same_numbers(data):
    """§8.6: validating through the training module gives the same values."""
    a = run(data, '"DisableValidationExecutor" -> True', "ValidationLossList",
            ", ValidationSet -> Scaled[0.34]")
    b = run(data, "", "ValidationLossList", ", ValidationSet -> Scaled[0.34]")
    assert a == pytest.approx(b, rel=1e-6)
