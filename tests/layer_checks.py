"""Shared checks for the layer-group tests: train a net briefly from its Wolfram text, then
write it back with `to_text`, read it again and compare outputs (wl-nets.md §7)."""

from __future__ import annotations

from typing import Any

import numpy as np

import wlbridge

FAST = ("BatchSize -> 8, MaxTrainingRounds -> 3, RandomSeeding -> 1, "
        "Method -> {\"ADAM\", \"LearningRate\" -> 0.01}, TrainingProgressReporting -> None")


def train(text: str, data: Any, options: str = FAST) -> Any:
    """The trained net and its round losses."""
    results = wlbridge.net_train(text, data, "All", options=options)
    return results["TrainedNet"], results["RoundLossList"]


def assert_round_trip(net: Any, x: Any) -> str:
    """`to_text` of ``net`` reads back to a net with the same outputs on ``x``; returns the text."""
    text = wlbridge.to_text(net)
    again = wlbridge.Net(wlbridge.parse(text))
    a, b = net(x), again(x)
    if isinstance(a, dict):
        for k in a:
            np.testing.assert_allclose(np.asarray(a[k], float), np.asarray(b[k], float), rtol=0, atol=1e-6)
    else:
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-6)
    return text


def message(text: str) -> str:
    """The one NetTrain-style message that building ``text`` gives (fails if it builds)."""
    try:
        wlbridge.Net(text)
    except Exception as err:  # noqa: BLE001 - the test checks the type and text below
        from wlbridge.messages import WLMessage

        assert isinstance(err, WLMessage) or type(err).__name__ == "EngineError", repr(err)
        return str(err)
    raise AssertionError(f"{text} built without a message")
