"""A character LSTM on a synthetic string task, with sequence bucketing and a verbose log.

    python examples/char_lstm.py [LOG.wl]

Task: strings of 4-24 characters over "ab " are "positive" when they hold more a's than b's.
Lengths vary, so NetTrain's SequenceBucketingPartitions groups similar lengths into batches
(reference §7.2); ``VerboseLogging -> File[...]`` writes the Plan, Executor, Bucketing,
MemoryUsage, Permutation and Timing events, one ``{time, batch} -> value`` line each, which the
script reads back with `wlbridge.parse` and summarises.
"""

from __future__ import annotations

import collections
import json
import random
import sys
from pathlib import Path

try:
    import wlbridge
except ImportError:  # a checkout without `pip install -e .`: use the repository's copy
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import wlbridge

NET = """
NetChain[{EmbeddingLayer[16], LongShortTermMemoryLayer[24], SequenceLastLayer[],
          LinearLayer[2], SoftmaxLayer[]},
  "Input" -> NetEncoder[{"Characters", "ab "}],
  "Output" -> NetDecoder[{"Class", {"negative", "positive"}}]]
"""


def make_data(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (string, label) pairs; ties count as "negative"."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        s = "".join(rng.choice("ab ") for _ in range(rng.randint(4, 24)))
        pairs.append((s, "positive" if s.count("a") > s.count("b") else "negative"))
    return pairs


def main(log: str = "char_lstm_log.wl") -> dict:
    train, test = make_data(600, 1), make_data(200, 2)
    options = ('MaxTrainingRounds -> 5, BatchSize -> 32, RandomSeeding -> 7, '
               '"InternalOptions" -> {"SequenceBucketingPartitions" -> 4, '
               f'"VerboseLogging" -> File[{json.dumps(str(log))}]}}')
    results = wlbridge.net_train(NET, train, "All", options=options)
    net = results["TrainedNet"]
    predicted = net([s for s, _ in test])
    accuracy = sum(p == y for p, (_, y) in zip(predicted, test, strict=True)) / len(test)
    entries = wlbridge.parse("{" + ",".join(Path(log).read_text().splitlines()) + "}")
    kinds = collections.Counter(_kind(e) for e in entries)
    print(f"final round loss {results['RoundLoss']:.4f}, test accuracy {accuracy:.3f}")
    print(f"{len(entries)} log entries in {log}:", dict(kinds.most_common(8)))
    return {"accuracy": accuracy, "entries": len(entries), "kinds": kinds}


def _kind(entry) -> str:
    """The event name of one ``{t, b} -> value`` log entry (first element, or the key set)."""
    value = entry.args[1]
    if isinstance(value, tuple) and value:
        head = value[0]
        return head if isinstance(head, str) else str(getattr(head, "name", head))
    if isinstance(value, dict):
        return "<|" + ", ".join(sorted(map(str, value)))[:30] + "|>"
    return str(value)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "char_lstm_log.wl")
