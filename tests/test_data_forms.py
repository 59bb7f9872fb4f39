"""Data as users have it (reference §9.2, NetTrain's data forms): integers and booleans cast to
the port's type, plain numbers for "Scalar" targets, one-hot class targets, generators
(also from the terminal as ``pkg.mod:function``), Dataset[...] and JSON records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wlbridge
from wlbridge.messages import WLMessage

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"TrainingProgressReporting": None, "RandomSeeding": 1}


def test_integer_inputs_and_targets_train_a_real_net():
    """``{1 -> 1.9}`` and int64 columns used to crash with a raw dtype RuntimeError."""
    x = np.arange(-8, 8, dtype=np.int64)
    y = 3 * x - 2
    net = wlbridge.net_train('NetChain[{LinearLayer[]}, "Input" -> "Real"]',
                             {"Input": x, "Output": y}, MaxTrainingRounds=400,
                             LearningRate=0.05, BatchSize=16, **QUIET)
    assert net(5) == pytest.approx(13, abs=0.3)
    rules = wlbridge.net_train("LinearLayer[]", "{1 -> 2, 2 -> 4, 3 -> 6, 4 -> 8}",
                               "RoundLoss", MaxTrainingRounds=2, **QUIET)
    assert np.isfinite(rules)


def test_boolean_inputs_are_reals():
    x = [[True, False], [False, True], [True, True], [False, False]] * 8
    y = [float(a) + 2 * float(b) for a, b in x]
    net = wlbridge.net_train("LinearLayer[]", {"Input": x, "Output": y}, MaxTrainingRounds=300,
                             LearningRate=0.05, BatchSize=8, **QUIET)
    assert net([1.0, 1.0]) == pytest.approx(3.0, abs=0.2)


def test_scalar_targets_are_plain_numbers():
    """"Output" -> "Scalar" is NetDecoder["Scalar"]: targets are numbers, outputs numbers."""
    x = np.linspace(-1, 1, 32)
    net = wlbridge.net_train(
        'NetChain[{LinearLayer[1]}, "Input" -> "Scalar", "Output" -> "Scalar"]',
        list(zip(x.tolist(), (2 * x + 1).tolist(), strict=True)), MaxTrainingRounds=300,
        LearningRate=0.05, BatchSize=8, **QUIET)
    out = net(0.5)
    assert isinstance(out, float) and out == pytest.approx(2.0, abs=0.1)


def test_one_hot_class_targets_become_indices():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    cls = x.argmax(1)
    res = wlbridge.net_train("NetChain[{LinearLayer[3], SoftmaxLayer[]}]",
                             {"Input": x, "Output": np.eye(3, dtype=np.int64)[cls]}, "All",
                             MaxTrainingRounds=60, LearningRate=0.05, **QUIET)
    pred = np.array(res["TrainedNet"](x)).argmax(1)
    assert np.mean(pred == cls) > 0.8
    with pytest.raises(WLMessage, match=r"NetTrain::invtdata: example 1 of port 'Output'.*"
                                        r"one-hot vector.*Probabilities"):
        wlbridge.net_train("NetChain[{LinearLayer[3], SoftmaxLayer[]}]",
                           {"Input": x[:2], "Output": [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]},
                           **QUIET)


def batches(info):
    """A generator as NetTrain calls it: <|"BatchSize" -> n, "Round" -> r, ...|> -> a batch."""
    rng = np.random.default_rng(info["Batch"])
    x = rng.uniform(-1, 1, size=info["BatchSize"])
    return [(float(a), 4.0 * float(a) - 1.0) for a in x]


def test_generator_is_called_with_netTrain_association():
    seen = []

    def gen(info):
        seen.append(dict(info))
        return batches(info)

    res = wlbridge.net_train("LinearLayer[]", (gen, {"RoundLength": 96}), "All",
                             BatchSize=32, MaxTrainingRounds=150, LearningRate=0.05, **QUIET)
    # once per batch, as the loop asks (tests/test_generators.py has the rest)
    assert [s["Batch"] for s in seen] == [1, 2, 3] * 150
    assert [s["Round"] for s in seen[:6]] == [1, 1, 1, 2, 2, 2]
    assert all(s["BatchSize"] == 32 for s in seen)
    assert res["TrainingExamples"] == 96
    assert res["TrainedNet"](0.5) == pytest.approx(1.0, abs=0.1)


def test_generator_failures_are_one_message():
    with pytest.raises(WLMessage, match=r"NetTrain::invgenout: the generator failed on batch 1 "
                                        r"\(round 1\): ZeroDivisionError"):
        wlbridge.net_train("LinearLayer[]", lambda info: 1 / 0, **QUIET)
    with pytest.raises(WLMessage, match="RoundLength"):
        wlbridge.net_train("LinearLayer[]", (batches, {"RoundLength": -1}), **QUIET)


def test_generator_from_the_command_line(tmp_path):
    """DATA ``pkg.mod:function`` that cannot be imported is NetTrain::invtdata, no traceback
    (a working one: tests/test_generators.py)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "OMP_NUM_THREADS": "1"}
    bad = subprocess.run([sys.executable, "-m", "wlbridge", "train", "LinearLayer[]",
                          "nosuchmod:f"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0
    assert "NetTrain::invtdata" in bad.stderr and "Traceback" not in bad.stderr


def test_dataset_and_json_records(tmp_path):
    records = [{"x": [float(i), 1.0], "y": 0.5 * i} for i in range(16)]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    net = 'NetGraph[{LinearLayer[]}, {NetPort["x"] -> 1 -> NetPort["y"]}]'
    res = wlbridge.net_train(net, str(path), "All", MaxTrainingRounds=2, **QUIET)
    assert res["TrainedNet"].input_types["x"].dims == (2,)
    assert res["TrainingExamples"] == 16
    text = "Dataset[{" + ", ".join(f'<|"x" -> {{{i}., 1.}}, "y" -> {0.5 * i}|>'
                                   for i in range(16)) + "}]"
    assert wlbridge.net_train(net, text, "TrainingExamples", MaxTrainingRounds=1, **QUIET) == 16
