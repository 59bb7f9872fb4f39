"""LossEvolutionPlot / ErrorRateEvolutionPlot figures (reference §6.3 log rule, §8.8 quartiles)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from wlbridge.messages import WLMessage  # noqa: E402
from wlbridge.plots import error_rate_plot, loss_plot, quartile_bands  # noqa: E402

BPR, ROUNDS = 10, 12


def results(seed: int = 0) -> dict:
    """A decaying, noisy loss history as NetTrain's properties hold it."""
    rng = np.random.default_rng(seed)
    batch = [float(2 * np.exp(-0.3 * i / BPR) * np.exp(rng.normal(0, 0.3)))
             for i in range(BPR * ROUNDS)]
    rounds = [float(np.mean(batch[k * BPR:(k + 1) * BPR])) for k in range(ROUNDS)]
    err = [float(min(0.9, 0.8 * np.exp(-0.2 * i / BPR))) for i in range(BPR * ROUNDS)]
    return {"BatchLossList": batch, "RoundLossList": rounds,
            "ValidationLossList": [1.1 * r for r in rounds], "BatchesPerRound": BPR,
            "RoundPositions": [BPR * (k + 1) for k in range(ROUNDS)],
            "ValidationPositions": [BPR * (k + 1) for k in range(ROUNDS)],
            "BatchMeasurementsLists": {"ErrorRate": err},
            "RoundMeasurementsLists": {"ErrorRate": [float(np.mean(err[k * BPR:(k + 1) * BPR]))
                                                     for k in range(ROUNDS)]}}


def test_quartile_bands_are_per_round_quartiles():
    r = results()
    x, q1, med, q3 = quartile_bands(r["BatchLossList"], BPR)
    assert len(x) == ROUNDS and x[0] == pytest.approx(0.55)  # middle of round 1, in rounds
    first = np.array(r["BatchLossList"][:BPR])
    assert (q1[0], med[0], q3[0]) == pytest.approx(tuple(np.percentile(first, [25, 50, 75])))
    assert np.all(q1 <= med) and np.all(med <= q3)
    # few rounds: equal slices of batches, so the band still has a shape
    x, *_ = quartile_bands(r["BatchLossList"][:30], 30)
    assert len(x) == 8


def test_loss_plot_png_with_quartile_band_and_log_axis(tmp_path):
    """PlotLossQuartiles: a shaded Q1-Q3 band around the median, log axis for positive loss."""
    from matplotlib.collections import PolyCollection

    r = results()
    path = tmp_path / "loss.png"
    fig = loss_plot(r, path=path, quartiles=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    verts = bands[0].get_paths()[0].vertices
    x, q1, med, q3 = quartile_bands(r["BatchLossList"], BPR)
    assert verts[:, 1].min() == pytest.approx(q1.min()) and verts[:, 1].max() == \
        pytest.approx(q3.max())
    median = next(line for line in ax.lines if line.get_label() == "batch median")
    assert np.allclose(median.get_ydata(), med)
    labels = [line.get_label() for line in ax.lines]
    assert {"batch loss", "round loss", "validation loss"} <= set(labels)
    validation = next(line for line in ax.lines if line.get_label() == "validation loss")
    assert np.allclose(validation.get_xdata(), np.arange(1, ROUNDS + 1))  # positions / bpr


def test_loss_plot_without_quartiles_and_svg(tmp_path):
    fig = loss_plot(results(), path=tmp_path / "loss.svg")
    assert (tmp_path / "loss.svg").read_text().lstrip().startswith("<?xml")
    assert not fig.axes[0].collections


def test_linear_axis_when_a_loss_is_not_positive():
    r = results()
    r["BatchLossList"] = [x - 0.5 for x in r["BatchLossList"]]
    assert loss_plot(r).axes[0].get_yscale() == "linear"


def test_error_rate_plot_percent_and_linear(tmp_path):
    """Measurement plots use log only when values span more than a factor 99 (§6.3)."""
    fig = error_rate_plot(results(), path=tmp_path / "err.png", quartiles=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "error rate (%)"
    batch = next(line for line in ax.lines if line.get_label() == "batch error rate")
    assert max(batch.get_ydata()) == pytest.approx(80.0)


def test_plot_errors_are_messages(tmp_path):
    with pytest.raises(WLMessage, match="NetTrain::nomeas"):
        error_rate_plot({"BatchLossList": [1.0]})
    with pytest.raises(WLMessage, match="NetTrain::plotext"):
        loss_plot(results(), path=tmp_path / "x.jpg")
