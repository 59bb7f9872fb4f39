"""LossEvolutionPlot and ErrorRateEvolutionPlot as matplotlib figures (reference §6.3, §9.10).

The x axis is in rounds, as NetTrain's plots are: batch ``i`` sits at ``i / bpr``, round ``k``'s
loss at ``k``, a validation at its batch position over ``bpr``. Loss plots use a log axis
whenever every value is positive; other measurements only when they span more than a factor 99
(§6.3). ``quartiles=True`` (the ``"PlotLossQuartiles"`` internal option) shades the band
between the first and third quartile of the batch losses of each round around their median;
with fewer than 8 rounds the batches are cut into equal slices instead, so short runs still
show a band.

matplotlib is the optional ``plots`` extra: it is imported only when a plot is made, and only
its object API is used (no pyplot), so no display or global state is touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wlbridge.messages import message

MAX_POINTS = 600  # per-batch series are mean-binned to about this many points (one per pixel)


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the install
        raise message("NetTrain", "noplots",
                      "Plots need matplotlib: pip install 'wlbridge[plots]'.") from err
    return Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")


def _floats(xs: Any) -> np.ndarray:
    if xs is None:
        return np.zeros(0)
    return np.asarray([np.nan if x is None else float(x) for x in xs], dtype=float)


def _binned(x: np.ndarray, y: np.ndarray, points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Mean-binned series with at most ``points`` points (NetTrain bins to one per pixel)."""
    if len(y) <= points:
        return x, y
    edges = np.linspace(0, len(y), points + 1).astype(int)
    xb = np.array([x[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    yb = np.array([np.nanmean(y[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return xb, yb


def quartile_bands(batch_values: Sequence[float], batches_per_round: int,
                   min_slices: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, q1, median, q3) of the batch values per round, x at each slice's middle in rounds.

    With fewer than ``min_slices`` rounds the batches are cut into ``min_slices`` equal slices
    (at least 2 batches each) so the band has a shape.
    """
    y = _floats(batch_values)
    n = len(y)
    bpr = max(1, int(batches_per_round))
    if n == 0:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    if n // bpr >= min_slices:
        edges = list(range(0, n, bpr)) + [n]
    else:
        slices = max(1, min(min_slices, n // 2))
        edges = list(np.linspace(0, n, slices + 1).astype(int))
    xs, q1, q2, q3 = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        chunk = y[a:b]
        chunk = chunk[np.isfinite(chunk)]
        if b <= a or len(chunk) == 0:
            continue
        lo, mid, hi = np.percentile(chunk, [25, 50, 75])
        xs.append((a + 1 + b) / 2 / bpr)  # mean position of batches a+1..b
        q1.append(lo)
        q2.append(mid)
        q3.append(hi)
    return np.array(xs), np.array(q1), np.array(q2), np.array(q3)


def _log_wanted(values: list[np.ndarray], always_if_positive: bool) -> bool:
    allv = np.concatenate([v[np.isfinite(v)] for v in values if len(v)] or [np.zeros(0)])
    if len(allv) == 0 or allv.min() <= 0:
        return False
    return always_if_positive or allv.max() > 99 * allv.min()


def _evolution(results: Mapping[str, Any], batch: Any, rounds: Any, validation: Any,
               label: str, quartiles: bool, is_loss: bool, percent: bool) -> Any:
    bpr = int(results.get("BatchesPerRound") or 1)
    yb = _floats(batch)
    yr = _floats(rounds)
    yv = _floats(validation)
    fig = _figure()
    ax = fig.add_subplot()
    scale = 100.0 if percent else 1.0
    if len(yb):
        xb = np.arange(1, len(yb) + 1) / bpr
        if quartiles:
            x, q1, med, q3 = quartile_bands(yb, bpr)
            ax.plot(*_binned(xb, yb * scale), color="#9bb7d4", lw=0.6, alpha=0.6,
                    label=f"batch {label}")
            ax.fill_between(x, q1 * scale, q3 * scale, color="#3a78b5", alpha=0.3, lw=0,
                            label="batch quartiles (Q1\u2013Q3)")
            ax.plot(x, med * scale, color="#1f4e79", lw=1.6, label="batch median")
        else:
            ax.plot(*_binned(xb, yb * scale), color="#3a78b5", lw=0.8, label=f"batch {label}")
    if len(yr):
        positions = results.get("RoundPositions")
        xr = (np.asarray(positions, float) / bpr if positions is not None
              and len(positions) == len(yr) else np.arange(1, len(yr) + 1))
        ax.plot(xr, yr * scale, "o-", color="#e07b00", ms=4, lw=1.2, label=f"round {label}")
    if len(yv):
        positions = results.get("ValidationPositions")
        xv = (np.asarray(positions, float) / bpr if positions is not None
              and len(positions) == len(yv) else np.arange(1, len(yv) + 1))
        ax.plot(xv, yv * scale, "s--", color="#2a9d3a", ms=4, lw=1.0,
                label=f"validation {label}")
    if _log_wanted([yb, yr, yv], always_if_positive=is_loss):
        ax.set_yscale("log")
    ax.set_xlabel("training rounds")
    ax.set_ylabel(f"{label} (%)" if percent else label)
    ax.grid(True, which="major", alpha=0.3)
    if ax.lines or ax.collections:
        ax.legend(fontsize="small", frameon=False)
    return fig


def save(fig: Any, path: str | os.PathLike[str]) -> str:
    """Write ``fig`` as PNG or SVG (by the extension) and return the path."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise message("NetTrain", "plotext",
                      f"Cannot write a plot to {path!r}: use a .png, .svg or .pdf file.")
    fig.savefig(path, dpi=150 if ext == ".png" else None)
    return path


def loss_plot(results: Mapping[str, Any], path: str | os.PathLike[str] | None = None,
              quartiles: bool = False) -> Any:
    """The LossEvolutionPlot of a results mapping, as a matplotlib Figure (saved if ``path``).

    ``results`` holds NetTrain's properties: "BatchLossList", "RoundLossList",
    "ValidationLossList", "BatchesPerRound", and optionally "RoundPositions" and
    "ValidationPositions" (batch numbers).
    """
    fig = _evolution(results, results.get("BatchLossList"), results.get("RoundLossList"),
                     results.get("ValidationLossList"), "loss", quartiles, True, False)
    if path is not None:
        save(fig, path)
    return fig


def measurement_plot(results: Mapping[str, Any], name: str = "ErrorRate",
                     path: str | os.PathLike[str] | None = None, quartiles: bool = False) -> Any:
    """The evolution plot of one measurement (``"ErrorRate"`` gives ErrorRateEvolutionPlot).

    Reads ``results["BatchMeasurementsLists"][name]`` and the Round/Validation equivalents.
    """
    def series(key: str) -> Any:
        lists = results.get(key) or {}
        return lists.get(name) if isinstance(lists, Mapping) else None

    batch, rounds, val = (series("BatchMeasurementsLists"), series("RoundMeasurementsLists"),
                          series("ValidationMeasurementsLists"))
    if batch is None and rounds is None and val is None:
        raise message("NetTrain", "nomeas",
                      f"No {name} measurement was recorded during training.")
    percent = name in ("ErrorRate", "Accuracy")
    label = "error rate" if name == "ErrorRate" else name
    fig = _evolution(results, batch, rounds, val, label, quartiles, False, percent)
    if path is not None:
        save(fig, path)
    return fig


def error_rate_plot(results: Mapping[str, Any], path: str | os.PathLike[str] | None = None,
                    quartiles: bool = False) -> Any:
    """The ErrorRateEvolutionPlot: `measurement_plot` for ``"ErrorRate"``."""
    return measurement_plot(results, "ErrorRate", path=path, quartiles=quartiles)
