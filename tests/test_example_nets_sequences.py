"""The sequence nets of wl-nets.md §6.2 (examples 5, 6, 9, 10, in examples/nets/) train from
their Wolfram text on small synthetic data: the loss goes down over a few rounds, and the
per-step tagger's trained NetMapOperator arrays survive write-back (nettrain-loop.md §7)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from wolframclient.language import wl

import wlbridge
from wlbridge import parse, to_text

torch.set_num_threads(1)
NETS = Path(__file__).resolve().parent.parent / "examples" / "nets"
OPTS = "BatchSize -> 16, RandomSeeding -> 4, TrainingProgressReporting -> None"


def _net(name: str) -> str:
    return (NETS / name).read_text()


def _train(name: str, data, rounds: int = 3, extra: str = "") -> tuple:
    return wlbridge.net_train(_net(name), data, ["TrainedNet", "RoundLossList"],
                              options=f"MaxTrainingRounds -> {rounds}, {OPTS}{extra}")


def test_example_5_char_lstm():
    rng = random.Random(0)
    strings = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(3, 30)))
               for _ in range(160)]
    data = tuple(wl.Rule(s, "positive" if "e" in s else "negative") for s in strings)
    _, losses = _train("05_char_lstm.wl", data, extra=', LearningRate -> 0.01')
    assert losses[-1] < losses[0]


def test_example_6_gru_regression_on_varying_sequences():
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(int(k), 3)).astype(np.float32) for k in rng.integers(2, 25, 160)]
    ys = [np.array([x[:, 0].mean()], dtype=np.float32) for x in xs]
    _, losses = _train("06_gru_regression.wl", {"Input": xs, "Output": ys})
    assert losses[-1] < losses[0]


def test_example_9_token_bag():
    words = ["the", "movie", "was", "good", "bad", "great", "awful"]
    label = {"good": "pos", "great": "pos", "bad": "neg", "awful": "neg"}
    rng = random.Random(2)
    data = []
    for _ in range(160):
        w = rng.choice(["good", "great", "bad", "awful", "was"])
        text = " ".join(["the", "movie", "was", w][: rng.randint(2, 4)] + [w])
        data.append(wl.Rule(text, label.get(w, "neu")))
    assert all(t.split()[-1] in words for t in (d.args[0] for d in data))
    _, losses = _train("09_token_bag.wl", tuple(data), extra=', LearningRate -> 0.01')
    assert losses[-1] < losses[0]


def test_example_10_lstm_tagger_trains_and_writes_back():
    """Per-step targets (integer sequences 1..5, one per input token): the NetMapOperator's
    LinearLayer arrays are trained, exported as {4, "Net", name} and written back."""
    rng = np.random.default_rng(3)
    xs = [rng.integers(1, 101, int(k)) for k in rng.integers(2, 20, 160)]
    ys = [1 + (x % 5) for x in xs]
    before = wlbridge.Net(_net("10_lstm_tagger.wl"), seed=4)
    net, losses = _train("10_lstm_tagger.wl", {"Input": xs, "Output": ys}, extra=
                         ', LearningRate -> 0.01')
    assert losses[-1] < losses[0]
    arrays = net.arrays()
    w = arrays[("4", "Net", "Weights")]
    assert w.shape == (5, 32) and np.isfinite(w).all() and np.abs(w).max() < 10
    assert not np.allclose(w, before.arrays()[("4", "Net", "Weights")])
    again = wlbridge.Net(parse(to_text(net.to_wl())))
    x = xs[0]
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(net(x)), atol=1e-6)
