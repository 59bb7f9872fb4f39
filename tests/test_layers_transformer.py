"""examples/transformer_encoder.wl, a Transformer encoder written as the layer pages write one
(a NetGraph of embeddings, AttentionLayer, NormalizationLayer and per-token LinearLayers), trains
from its text to a useful accuracy in seconds and writes back (wl-nets.md §7)."""

from __future__ import annotations

import random
from pathlib import Path

import wlbridge

NET = Path(__file__).resolve().parents[1] / "examples" / "transformer_encoder.wl"


def majority_strings(n: int, seed: int) -> list[tuple[str, str]]:
    """Strings of 5-12 letters over "abc", labelled by their strictly most frequent letter."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        s = "".join(rng.choice("abc") for _ in range(rng.randint(5, 12)))
        first, second = sorted("abc", key=s.count, reverse=True)[:2]
        if s.count(first) > s.count(second):
            out.append((s, first))
    return out


def test_transformer_encoder_example_learns_the_majority_letter():
    train, test = majority_strings(600, 1), majority_strings(200, 2)
    results = wlbridge.net_train(
        NET.read_text(), train, "All",
        options="MaxTrainingRounds -> 10, BatchSize -> 32, RandomSeeding -> 3, "
                "TrainingProgressReporting -> None")
    net = results["TrainedNet"]
    predicted = net([s for s, _ in test])
    accuracy = sum(p == y for p, (_, y) in zip(predicted, test, strict=True)) / len(test)
    assert accuracy >= 0.9, (accuracy, results["RoundLossList"])
    assert results["RoundLossList"][-1] < 0.5 * results["RoundLossList"][0]
    # the trained net's text reads back with the same class probabilities
    again = wlbridge.Net(wlbridge.parse(wlbridge.to_text(net)))
    xs = [s for s, _ in test[:6]]
    for p, q in zip(net(xs, "Probabilities"), again(xs, "Probabilities"), strict=True):
        assert p.keys() == q.keys() and all(abs(p[c] - q[c]) < 1e-6 for c in p)
