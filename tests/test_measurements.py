"""TrainingProgressMeasurements (reference §9.3, §9.10, §9.11, §6.2, §9.8): built-in
measurements per batch, round and validation, their table columns and early stopping."""

from __future__ import annotations

import io

import numpy as np
import pytest

import wlbridge
from engine.errors import EngineError
from engine.measurements import NAMES
from engine.reporting import make_reporter
from engine.spec import ReportingSpec

CLS = ('NetChain[{LinearLayer[3], SoftmaxLayer[]}, "Input" -> 4, '
       '"Output" -> NetDecoder[{"Class", {1, 2, 3}}]]')
REG = 'NetChain[{LinearLayer[2]}, "Input" -> 4, "Output" -> 2]'
# Plain SGD with a rate of 1e-30: no float32 weight moves (LearningRate must be > 0), so the
# measurements can be checked exactly against the trained net
FROZEN = ('Method -> {"SGD", "LearningRate" -> 1.*^-30, "Momentum" -> 0, '
          '"LearningRateSchedule" -> None}, BatchSize -> 10, '
          'RandomSeeding -> 3, TrainingProgressReporting -> None')


@pytest.fixture(scope="module")
def cls_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = rng.integers(1, 4, 50)
    return {"Input": x[:40], "Output": y[:40]}, {"Input": x[40:], "Output": y[40:]}


@pytest.fixture(scope="module")
def reg_data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    t = rng.normal(size=(50, 2)).astype(np.float32)
    return {"Input": x[:40], "Output": t[:40]}, {"Input": x[40:], "Output": t[40:]}


def test_accuracy_and_error_rate_match_the_nets_predictions(cls_data):
    """Round measurements are means over the round's examples (§9.5.2 step 7); with frozen
    weights they equal the trained net's error on the training data, and Accuracy is
    1 − ErrorRate; validation likewise on the validation data (§9.7)."""
    train, val = cls_data
    seen = []
    res = wlbridge.net_train(
        CLS, train, "All", options=FROZEN + ', MaxTrainingRounds -> 3, '
        'TrainingProgressMeasurements -> {"Accuracy", "ErrorRate"}',
        ValidationSet=val, TrainingProgressFunction=lambda a: seen.append(
            (a["BatchMeasurements"], a["RoundMeasurements"], a["ValidationMeasurements"])))
    net = res["TrainedNet"]
    err = float(np.mean(np.array(net(train["Input"])) != train["Output"]))
    verr = float(np.mean(np.array(net(val["Input"])) != val["Output"]))
    rounds = res["RoundMeasurementsLists"]
    assert rounds["ErrorRate"] == pytest.approx((err,) * 3, abs=1e-12)
    assert rounds["Accuracy"] == pytest.approx((1 - err,) * 3, abs=1e-12)
    vals = res["ValidationMeasurementsLists"]
    assert vals["ErrorRate"] == pytest.approx((verr,) * 3, abs=1e-12)
    assert vals["Accuracy"] == pytest.approx((1 - verr,) * 3, abs=1e-12)
    batch = res["BatchMeasurementsLists"]
    assert len(batch["Accuracy"]) == res["TotalBatches"] == 12
    assert np.mean(batch["ErrorRate"][:4]) == pytest.approx(err, abs=1e-12)
    # §9.11 keys of TrainingProgressFunction
    b, r, v = seen[-1]
    assert set(b) == set(r) == set(v) == {"Loss", "Accuracy", "ErrorRate"}
    assert r["Accuracy"] == pytest.approx(1 - err, abs=1e-12)
    assert b["Accuracy"] == pytest.approx(1 - b["ErrorRate"], abs=1e-12)
    assert res["RoundMeasurements"]["Accuracy"] == pytest.approx(1 - err, abs=1e-12)


def test_regression_measurements_against_numpy(reg_data):
    """MeanSquare, RootMeanSquare (√ of the round's mean square) and MeanDeviation of a
    MeanSquared-loss output, against numpy on the frozen net's outputs."""
    train, val = reg_data
    res = wlbridge.net_train(
        REG, train, "All", options=FROZEN + ', MaxTrainingRounds -> 2, '
        'TrainingProgressMeasurements -> {"MeanSquare", "RootMeanSquare", "MeanDeviation"}',
        ValidationSet=val)
    net = res["TrainedNet"]
    for data, key in ((train, "RoundMeasurements"), (val, "ValidationMeasurements")):
        d = np.array(net(data["Input"]), dtype=np.float64) - data["Output"]
        m = res[key]
        assert m["MeanSquare"] == pytest.approx(np.mean(d ** 2), rel=1e-5)
        assert m["RootMeanSquare"] == pytest.approx(np.sqrt(np.mean(d ** 2)), rel=1e-5)
        assert m["MeanDeviation"] == pytest.approx(np.mean(np.abs(d)), rel=1e-5)
    # MeanSquaredLossLayer is the mean square itself: the round loss agrees
    assert res["RoundMeasurements"]["MeanSquare"] == pytest.approx(res["RoundLoss"], rel=1e-5)


def test_none_removes_error_rate_and_automatic_keeps_it(cls_data):
    """TrainingProgressMeasurements -> None: no ErrorRate even for a classifier; Automatic
    keeps NetTrain's default ErrorRate."""
    train, _ = cls_data
    off = wlbridge.net_train(CLS, train, "All", options=FROZEN + ', MaxTrainingRounds -> 1, '
                             'TrainingProgressMeasurements -> None')
    assert set(off["RoundMeasurementsLists"]) == {"Loss"}
    assert set(off["BatchMeasurementsLists"]) == {"Loss"}
    auto = wlbridge.net_train(CLS, train, "All", options=FROZEN + ', MaxTrainingRounds -> 1')
    assert set(auto["RoundMeasurementsLists"]) == {"Loss", "ErrorRate"}


def test_unsupported_measurements_are_refused(cls_data, reg_data):
    """An unknown name, NetPort specs and sub-options are refused naming the item and the
    supported names; a measurement the net cannot give names the output it needs."""
    train, _ = cls_data
    with pytest.raises(wlbridge.messages.WLMessage, match=r"netinvopt.*'CohenKappa'.*"
                       r"'Accuracy'.*'MeanDeviation'"):
        wlbridge.net_train(CLS, train, options=FROZEN + ', TrainingProgressMeasurements -> '
                           '{"Accuracy", "CohenKappa"}')
    with pytest.raises(wlbridge.messages.WLMessage, match="netinvopt.*NetPort"):
        wlbridge.net_train(CLS, train, options=FROZEN + ', TrainingProgressMeasurements -> '
                           'NetPort["Output"]')
    with pytest.raises(wlbridge.messages.WLMessage, match="netinvopt.*ClassAveraging"):
        wlbridge.net_train(CLS, train, TrainingProgressMeasurements=(
            {"Measurement": "Accuracy", "ClassAveraging": "Macro"},),
            options=FROZEN)
    with pytest.raises(EngineError, match=r"netinvopt.*'MeanSquare'.*MeanSquaredLossLayer"):
        wlbridge.net_train(CLS, train, options=FROZEN + ', TrainingProgressMeasurements -> '
                           '"MeanSquare"')
    rtrain, _ = reg_data
    with pytest.raises(EngineError, match=r"netinvopt.*'Accuracy'.*CrossEntropyLossLayer"):
        wlbridge.net_train(REG, rtrain, options=FROZEN + ', TrainingProgressMeasurements -> '
                           '"Accuracy"')
    assert NAMES == ("ErrorRate", "Accuracy", "Precision", "Recall", "F1Score", "FScore",
                     "ConfusionMatrix", "AreaUnderROCCurve", "MeanSquare", "RootMeanSquare",
                     "MeanDeviation")


def test_print_table_has_a_column_group_per_measurement(cls_data, capsys):
    """§6.2: after the loss, one current/round/test group per measurement, short names, rates
    as percentages."""
    train, val = cls_data
    buf = io.StringIO()
    wlbridge.net_train(CLS, train, options=FROZEN.replace(
        "TrainingProgressReporting -> None", 'TrainingProgressReporting -> "Print"')
        + ', MaxTrainingRounds -> 1, TrainingProgressMeasurements -> {"Accuracy", '
        '"ErrorRate"}', ValidationSet=val)
    out = capsys.readouterr().out.splitlines()
    head1 = next(i for i, line in enumerate(out) if line.lstrip().startswith("%"))
    h1, h2, row = out[head1].split(), out[head1 + 1].split(), out[head1 + 2].split()
    assert h2[-9:] == ["loss"] * 3 + ["accuracy"] * 3 + ["error"] * 3
    assert h1[-9:] == ["current", "round", "test"] * 3
    acc, err = row[-6:-3], row[-3:]
    assert all(c.endswith("%") for c in acc + err)
    for a, e in zip(acc, err, strict=True):
        assert float(a[:-1]) + float(e[:-1]) == pytest.approx(100, abs=0.06)
    # the reporter learns the columns from the loop's setup, not from a fixed list
    rep = make_reporter([ReportingSpec(form="Print")], stream=buf, interactive=False)
    rep.start({"BatchesPerRound": 1, "Measurements": ["MeanSquare"], "HasValidation": False})
    rep.add_batch_loss(0.5, {"MeanSquare": 0.5})
    rep.row({"RoundMeasurements": {"MeanSquare": 0.25}})
    assert buf.getvalue().splitlines()[-2].split()[-2:] == ["mse", "mse"]


def test_stopping_on_accuracy(cls_data):
    """§9.8: "Accuracy" improves by increasing; with frozen weights it never improves, so
    with Patience 1 training stops at the third check. The criterion's measurement is
    measured even when not listed."""
    train, _ = cls_data
    with pytest.warns(UserWarning, match="novalidation"):
        res = wlbridge.net_train(
            CLS, train, "All", options=FROZEN + ', MaxTrainingRounds -> 10, '
            'TrainingProgressMeasurements -> None',
            TrainingStoppingCriterion={"Criterion": "Accuracy", "Patience": 1})
    assert res["ReasonTrainingStopped"] == "StoppingCriterion"
    assert res["TotalRounds"] == 3
    assert "Accuracy" in res["RoundMeasurementsLists"]


def test_stopping_on_an_unmeasured_measurement_is_refused(reg_data):
    """A criterion naming a measurement the run cannot give is an error, not a silent
    never-stop."""
    train, _ = reg_data
    with pytest.raises(EngineError, match="netinvopt.*'Accuracy'"):
        wlbridge.net_train(REG, train, options=FROZEN,
                           TrainingStoppingCriterion={"Criterion": "Accuracy"})
    with pytest.raises(EngineError, match="invstopmetric.*'R2'"):
        wlbridge.net_train(REG, train, options=FROZEN, TrainingStoppingCriterion="R2")
