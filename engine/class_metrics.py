"""Classification statistics as per-example columns, and the measurements made from them.

Every measurement the loop reports is a mean over examples of per-example statistics
(`engine.measurements`), so counts-based measurements are built from columns whose means are
proportional to counts: a one-hot ``true × predicted`` pair per example (the confusion matrix,
then precision, recall and F-scores as its ratios), a correct-in-the-top-k flag, and for binary
outputs a one-hot ``(class, score bin)`` per example, a histogram from which the area under the
ROC curve follows (scores in `BINS` equal bins; pairs in one bin count one half, as ties do).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Score bins of the ROC histogram: the AUC is exact up to pairs sharing a bin of width 1/BINS.
BINS = 1000


def _mean_positions(v: Any, dims: tuple, lengths: dict[int, Any] | None) -> Any:
    """``[B, *positions, c]`` -> ``[B, c]``: each column's mean over the example's positions,
    padding of a varying dimension excluded."""
    from engine.layers.loss import per_example_mean

    if v.dim() == 2:
        return v
    if len(dims) != v.dim() - 2:
        return v.reshape(v.shape[0], -1, v.shape[-1]).mean(1)
    import torch

    return torch.stack([per_example_mean(v[..., j], dims, lengths) for j in range(v.shape[-1])], 1)


def decisions(src: Any, outputs: dict[str, Any], inputs: dict[str, Any]) -> tuple[Any, Any]:
    """(predicted, true) class indices, 0-based: argmax for "Index", p >= 0.5 for "Binary"."""
    v = outputs[src.port].detach()
    target = inputs[src.target]
    if src.form == "Index":
        return v.argmax(-1), target.long() - 1
    threshold = 0.0 if src.mode == "fused_binary" else 0.5
    return (v >= threshold).long(), (target >= 0.5).long()


def confusion_columns(src: Any, outputs: dict[str, Any], inputs: dict[str, Any],
                      lengths: dict[int, Any] | None) -> Any:
    """``[B, n*n]``: one-hot of (true, predicted) per example, row-major in (true, pred)."""
    import torch.nn.functional as F

    pred, true = decisions(src, outputs, inputs)
    n = src.classes
    pair = (true.clamp(0, n - 1) * n + pred.clamp(0, n - 1))
    return _mean_positions(F.one_hot(pair, n * n).float(), src.elem_dims, lengths)


def top_k_column(src: Any, k: int, outputs: dict[str, Any], inputs: dict[str, Any],
                 lengths: dict[int, Any] | None) -> Any:
    """``[B, 1]``: 1 when the target is among the k most probable classes."""
    v = outputs[src.port].detach()
    target = inputs[src.target].long() - 1
    top = v.topk(min(k, v.shape[-1]), -1).indices
    hit = (top == target.unsqueeze(-1)).any(-1).float()
    return _mean_positions(hit.unsqueeze(-1), src.elem_dims, lengths)


def roc_columns(src: Any, outputs: dict[str, Any], inputs: dict[str, Any]) -> Any:
    """``[B, 2*BINS]``: one-hot of (positive?, score bin) per example (binary outputs)."""
    import torch
    import torch.nn.functional as F

    v = outputs[src.port].detach().float()
    target = inputs[src.target]
    if src.form == "Index":
        p = torch.softmax(v, -1)[..., 1] if src.mode == "fused_index" else v[..., 1]
        positive = (target.long() == 2).long()
    else:
        p = torch.sigmoid(v) if src.mode == "fused_binary" else v
        positive = (target >= 0.5).long()
    bins = (p * BINS).floor().long().clamp(0, BINS - 1)
    return F.one_hot(positive * BINS + bins, 2 * BINS).float().reshape(v.shape[0], -1)


# ---------------------------------------------------------------------------------------------
# From column means to measurements (host, float64)


def confusion(means: list[float], n: int) -> np.ndarray:
    """The confusion matrix (rows: true class, columns: predicted) as fractions of examples."""
    return np.asarray(means, dtype=np.float64).reshape(n, n)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)


def per_class(name: str, cm: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """Precision, Recall or F-score of each class (0 where a class is never predicted or never
    true, as scikit-learn's ``zero_division=0``)."""
    tp = np.diag(cm)
    precision = _ratio(tp, cm.sum(0))
    recall = _ratio(tp, cm.sum(1))
    if name == "Precision":
        return precision
    if name == "Recall":
        return recall
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def averaged(name: str, cm: np.ndarray, averaging: str, beta: float = 1.0) -> float:
    """"Macro": the mean over classes; "Micro": from the pooled counts (for single-label
    classes precision, recall and F all equal the accuracy)."""
    if averaging == "Macro":
        return float(np.mean(per_class(name, cm, beta)))
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else math.nan


def auc(means: list[float]) -> float:
    """Area under the ROC curve from the (negative, positive) score histograms."""
    h = np.asarray(means, dtype=np.float64).reshape(2, BINS)
    neg, pos = h[0], h[1]
    if neg.sum() == 0 or pos.sum() == 0:
        return math.nan
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    return float(np.sum(pos * (below + 0.5 * neg)) / (pos.sum() * neg.sum()))
