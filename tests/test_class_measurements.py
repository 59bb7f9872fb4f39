"""Classification measurements (TrainingProgressMeasurements; ClassifierMeasurements' names)
against scikit-learn on the frozen net's own predictions: per-class associations keyed by the
decoder's labels, "ClassAveraging", {"Accuracy", k}, the confusion matrix, AreaUnderROCCurve,
measurements on a named port with "Key"; and the properties TrainingNet, NetTrainInputForm,
FinalPlots."""

from __future__ import annotations

import numpy as np
import pytest

import wlbridge
from wlbridge.syntax import parse, to_text

metrics = pytest.importorskip("sklearn.metrics")

LABELS = ("cat", "dog", "fox")
CLS = ('NetChain[{LinearLayer[3], SoftmaxLayer[]}, "Input" -> 4, '
       '"Output" -> NetDecoder[{"Class", {"cat", "dog", "fox"}}]]')
BIN = ('NetChain[{LinearLayer[{}], LogisticSigmoid}, "Input" -> 4, '
       '"Output" -> NetDecoder["Boolean"]]')
# SGD at 1e-30: no float32 weight moves, so every measurement is one of the final net
FROZEN = ('Method -> {"SGD", "LearningRate" -> 1.*^-30, "Momentum" -> 0, '
          '"LearningRateSchedule" -> None}, BatchSize -> 10, RandomSeeding -> 4, '
          'TrainingProgressReporting -> None, MaxTrainingRounds -> 1')


@pytest.fixture(scope="module")
def cls_run():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = [LABELS[i] for i in rng.integers(0, 3, 60)]
    spec = ('{"Accuracy", {"Accuracy", 2}, "Precision", "Recall", "F1Score", {"FScore", 2}, '
            '<|"Measurement" -> "Precision", "ClassAveraging" -> "Macro", "Key" -> "MacroP"|>, '
            '<|"Measurement" -> "Recall", "ClassAveraging" -> "Micro", "Key" -> "MicroR"|>, '
            '"ConfusionMatrix"}')
    res = wlbridge.net_train(CLS, {"Input": x[:40], "Output": y[:40]}, "All",
                             options=FROZEN + ", TrainingProgressMeasurements -> " + spec,
                             ValidationSet={"Input": x[40:], "Output": y[40:]})
    return res, x, y


def test_per_class_measurements_match_sklearn(cls_run):
    res, x, y = cls_run
    net = res["TrainedNet"]
    for sl, key in ((slice(0, 40), "RoundMeasurements"), (slice(40, 60), "ValidationMeasurements")):
        true, pred = y[sl], net(x[sl])
        m = res[key]
        p, r, f1, _ = metrics.precision_recall_fscore_support(true, pred, labels=LABELS,
                                                              zero_division=0)
        f2 = metrics.fbeta_score(true, pred, beta=2, labels=LABELS, average=None, zero_division=0)
        assert list(m["Precision"]) == list(LABELS)
        assert [m["Precision"][c] for c in LABELS] == pytest.approx(p, abs=1e-12)
        assert [m["Recall"][c] for c in LABELS] == pytest.approx(r, abs=1e-12)
        assert [m["F1Score"][c] for c in LABELS] == pytest.approx(f1, abs=1e-12)
        assert [m[("FScore", 2.0)][c] for c in LABELS] == pytest.approx(f2, abs=1e-12)
        assert m["MacroP"] == pytest.approx(np.mean(p), abs=1e-12)
        assert m["MicroR"] == pytest.approx(metrics.accuracy_score(true, pred), abs=1e-12)
        cmat = metrics.confusion_matrix(true, pred, labels=LABELS, normalize="all")
        np.testing.assert_allclose(m["ConfusionMatrix"], cmat, atol=1e-12)


def test_top_k_accuracy_matches_sklearn(cls_run):
    res, x, y = cls_run
    probs = np.array([[d[c] for c in LABELS] for d in res["TrainedNet"](x[:40], "Probabilities")])
    want = metrics.top_k_accuracy_score([LABELS.index(c) for c in y[:40]], probs, k=2,
                                        labels=[0, 1, 2])
    assert res["RoundMeasurements"][("Accuracy", 2)] == pytest.approx(want, abs=1e-12)
    # the print table shows it as "top-2 accuracy" and lists per-class values as dashes
    lists = res["RoundMeasurementsLists"]
    assert isinstance(lists["Precision"][0], dict) and len(lists["Accuracy"]) == 1


def test_auc_of_a_boolean_output_matches_sklearn():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = list((x[:, 0] + 0.8 * rng.normal(size=400)) > 0)
    res = wlbridge.net_train(BIN, {"Input": x, "Output": y}, "All", options=FROZEN +
                             ', TrainingProgressMeasurements -> {"AreaUnderROCCurve", '
                             '"Precision"}')
    scores = res["TrainedNet"](x, "Probability")
    want = metrics.roc_auc_score(y, scores)
    # scores are binned in 1/1000ths: only pairs closer than that are counted as ties
    assert res["RoundMeasurements"]["AreaUnderROCCurve"] == pytest.approx(want, abs=2e-3)
    p = metrics.precision_score(y, np.array(scores) >= 0.5, average=None, zero_division=0)
    prec = res["RoundMeasurements"]["Precision"]
    assert [prec[False], prec[True]] == pytest.approx(p, abs=1e-12)


def test_measurement_on_a_named_port():
    """Two classifier outputs: "Port" picks one, "Key" names the result."""
    net = ('NetGraph[<|"a" -> {LinearLayer[2], SoftmaxLayer[]}, "b" -> {LinearLayer[2], '
           'SoftmaxLayer[]}|>, {NetPort["Input"] -> "a" -> NetPort["A"], '
           'NetPort["Input"] -> "b" -> NetPort["B"]}, "Input" -> 3]')
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    ya, yb = rng.integers(1, 3, 30), rng.integers(1, 3, 30)
    res = wlbridge.net_train(net, {"Input": x, "A": ya, "B": yb}, "All", options=FROZEN +
                             ', TrainingProgressMeasurements -> {<|"Measurement" -> "Accuracy", '
                             '"Port" -> "B", "Key" -> "accB"|>}')
    out = res["TrainedNet"](x)
    pred_b = np.array([o["B"] for o in out]).argmax(1) + 1
    assert res["RoundMeasurements"]["accB"] == pytest.approx(np.mean(pred_b == yb), abs=1e-12)
    with pytest.raises(Exception, match=r"netinvopt.*'Accuracy'.*exactly one output"):
        wlbridge.net_train(net, {"Input": x, "A": ya, "B": yb}, options=FROZEN +
                           ', TrainingProgressMeasurements -> "Accuracy"')


def test_run_properties(cls_run):
    res, x, _ = cls_run
    training = res["TrainingNet"]
    text = to_text(training.to_wl())
    assert '"LossNet1" -> CrossEntropyLossLayer["Index"]' in text
    assert 'NetPort["Output"] -> NetPort["LossNet1", "Target"]' in text
    # the training net computes the loss: −log p(target) from the trained net's probabilities
    probs = res["TrainedNet"](x[:3], "Probabilities")
    loss = training({"Input": x[:3], "Output": [1, 2, 3]})
    want = [-np.log(p[c]) for p, c in zip(probs, LABELS, strict=True)]
    assert np.asarray(loss, dtype=float).ravel() == pytest.approx(want, rel=1e-4)
    form = res["NetTrainInputForm"]
    assert to_text(form).startswith("NetTrain[NetChain[{LinearLayer[3], SoftmaxLayer[]}")
    assert "MaxTrainingRounds -> 1" in to_text(form)
    plots = res["FinalPlots"]
    assert {"Loss", "Accuracy"} <= set(plots)
    assert "FinalPlots" not in res.to_wl()
    again = parse(to_text(form))  # the call reads back: same net, same data
    assert again.args[0] == form.args[0]
    np.testing.assert_allclose(again.args[1]["Input"], form.args[1]["Input"])
