"""Multi-loss nets: per-loss-port batch, round and validation losses and their Print columns."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

import wlbridge
from engine.measurements import loss_port_key, loss_port_short_name

# Two outputs, each with its automatic loss: "Class" (SoftmaxLayer -> CrossEntropyLoss
# "Index") and "Value" (LinearLayer -> MeanSquaredLoss).
TWO_OUTPUTS = (
    'NetGraph[<|"lin" -> LinearLayer[2], "sm" -> SoftmaxLayer[], "reg" -> LinearLayer[2]|>, '
    '{NetPort["Input"] -> "lin" -> "sm" -> NetPort["Class"], '
    'NetPort["Input"] -> "reg" -> NetPort["Value"]}, "Input" -> 2]'
)
N = 32


def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 2)).astype(np.float32)
    return {"Input": x, "Class": (x[:, 0] > 0).astype(np.int64) + 1,
            "Value": np.stack([x[:, 0] + x[:, 1], x[:, 0] - x[:, 1]], 1).astype(np.float32)}


def train(options: str, prop: object = "All", printed: io.StringIO | None = None) -> object:
    out = printed if printed is not None else io.StringIO()
    with contextlib.redirect_stdout(out):
        return wlbridge.net_train(TWO_OUTPUTS, data(), prop,
                                  "MaxTrainingRounds -> 3, BatchSize -> 8, RandomSeeding -> 1, "
                                  + options)


@pytest.fixture(scope="module")
def printed_run() -> tuple[object, str]:
    buf = io.StringIO()
    r = train('ValidationSet -> Scaled[0.25], TrainingProgressReporting -> "Print"', "All", buf)
    return r, buf.getvalue()


def test_round_losses_per_port_sum_to_the_round_loss(printed_run):
    """§6.2: a multi-loss net measures the total ("Loss") and one "<Port>Loss" per port."""
    r, _ = printed_run
    lists = r["RoundMeasurementsLists"]
    assert set(lists) == {"Loss", "ClassLoss", "ValueLoss"}
    assert len(lists["ClassLoss"]) == 3
    for total, a, b in zip(lists["Loss"], lists["ClassLoss"], lists["ValueLoss"], strict=True):
        assert a > 0 and b > 0
        assert math.isclose(a + b, total, rel_tol=1e-5)
    last = r["RoundMeasurements"]
    assert math.isclose(last["ClassLoss"] + last["ValueLoss"], r["RoundLoss"], rel_tol=1e-5)


def test_batch_losses_per_port_sum_to_the_batch_loss(printed_run):
    r, _ = printed_run
    lists = r["BatchMeasurementsLists"]
    assert len(lists["ClassLoss"]) == len(r["BatchLossList"]) == r["TotalBatches"]
    for total, a, b in zip(r["BatchLossList"], lists["ClassLoss"], lists["ValueLoss"],
                           strict=True):
        assert math.isclose(a + b, total, rel_tol=1e-5)


def test_validation_losses_per_port_sum_to_the_validation_loss(printed_run):
    """§9.7: validation loss per loss output, the total being their sum."""
    r, _ = printed_run
    lists = r["ValidationMeasurementsLists"]
    assert set(lists) == {"Loss", "ClassLoss", "ValueLoss"}
    for total, a, b in zip(lists["Loss"], lists["ClassLoss"], lists["ValueLoss"], strict=True):
        assert math.isclose(a + b, total, rel_tol=1e-6)
    assert math.isclose(r["ValidationMeasurements"]["ValueLoss"], lists["ValueLoss"][-1])


def test_print_table_has_per_port_columns(printed_run):
    """§6.2: loss columns first (current/round/test), then one group per loss port."""
    _, text = printed_run
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if line.lstrip().startswith("%"))
    second = lines[top + 1].split()
    assert second[-15:] == ["loss"] * 3 + ["Class", "loss"] * 3 + ["Value", "loss"] * 3
    assert lines[top].split()[-9:] == ["current", "round", "test"] * 3
    row = lines[top + 2]
    assert len(row) == len(lines[top + 1].rstrip())  # every row lines up with its header


def test_scaled_loss_port_is_recorded_scaled():
    """``LossFunction -> {"Class", "Value" -> Scaled[0.5]}``: the port's recorded loss is the
    scaled one, so the per-port values still add up to the loss that was minimised. The first
    batch (same seed: same initial net, same batch) is compared before any update differs."""
    opts = 'TrainingProgressReporting -> None, MaxTrainingRounds -> 1'
    plain = train(opts, "BatchMeasurementsLists")
    lists, batch_losses = train(opts + ', LossFunction -> {"Class", "Value" -> Scaled[0.5]}',
                                ["BatchMeasurementsLists", "BatchLossList"])
    assert math.isclose(lists["ValueLoss"][0], 0.5 * plain["ValueLoss"][0], rel_tol=1e-5)
    assert math.isclose(lists["ClassLoss"][0], plain["ClassLoss"][0], rel_tol=1e-5)
    assert np.allclose(np.add(lists["ClassLoss"], lists["ValueLoss"]), batch_losses, rtol=1e-5)


def test_stopping_criterion_can_use_a_port_loss():
    """A per-port measurement is a measurement like any other (§9.8 names one)."""
    with pytest.warns(UserWarning, match="novalidation"):
        r = train('TrainingProgressReporting -> None, MaxTrainingRounds -> 50, '
                  'TrainingStoppingCriterion -> <|"Criterion" -> "ValueLoss", '
                  '"AbsoluteChange" -> 100|>', ["ReasonTrainingStopped", "TotalRounds"])
    assert r == ["StoppingCriterion", 2]  # round 1 sets the best, round 2 stops


def test_single_loss_net_has_no_port_measurements():
    """One loss port: nothing extra is measured (the per-port path costs nothing)."""
    x = data()
    r = wlbridge.net_train('NetChain[{LinearLayer[2], SoftmaxLayer[]}, "Input" -> 2]',
                           {"Input": x["Input"], "Output": x["Class"]}, "RoundMeasurementsLists",
                           MaxTrainingRounds=2, BatchSize=8, TrainingProgressReporting=None)
    assert set(r) == {"Loss", "ErrorRate"}


@pytest.mark.parametrize(("port", "key", "short"), [
    ("Out1", "Out1Loss", "Out1 loss"),
    ("ClassLoss", "ClassLoss", "class loss"),
    ("loss2", "loss2", "loss2"),
    ("Loss", "LossLoss", "Loss loss"),  # would clash with the total
])
def test_loss_port_names(port, key, short):
    """§6.2 naming: a port containing "loss" keeps its name (de-camel-cased in the header)."""
    assert loss_port_key(port) == key
    assert loss_port_short_name(port) == short
