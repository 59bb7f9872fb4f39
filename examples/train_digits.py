"""Train examples/digits_mlp.wl on examples/digits.npz from Python and save the loss plot.

    python examples/train_digits.py [OUT.png]

The same run as the README's `wlbridge train` command, through `wlbridge.net_train`; it prints
the NetTrain table, then the final losses and the trained net's accuracy on the data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    import wlbridge
except ImportError:  # a checkout without `pip install -e .`: use the repository's copy
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import wlbridge

HERE = Path(__file__).parent


def main(out: str | None = None) -> float:
    net = (HERE / "digits_mlp.wl").read_text()
    options = (HERE / "digits_options.wl").read_text()
    results = wlbridge.net_train(net, HERE / "digits.npz", "All", options=options)
    print("round loss:", results["RoundLoss"], " validation loss:", results["ValidationLoss"])
    data = np.load(HERE / "digits.npz")
    trained = results["TrainedNet"]
    predicted = np.asarray(trained(list(data["Input"])))
    accuracy = float(np.mean(predicted == data["Output"]))
    print(f"accuracy on all 1797 digits: {accuracy:.3f}")
    if out:
        from wlbridge.plots import loss_plot

        loss_plot({k: results[k] for k in ("BatchLossList", "RoundLossList",
                                           "ValidationLossList", "BatchesPerRound",
                                           "RoundPositions", "ValidationPositions")},
                  path=out, quartiles=True)
        print("loss plot written to", out)
    return accuracy


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
