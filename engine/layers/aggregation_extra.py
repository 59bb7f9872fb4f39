"""AggregationLayer's other functions (its page lists Mean, Min, Max, Total, Times, Median,
Variance, StandardDeviation, MeanDeviation and InterquartileRange), with Wolfram's statistics:
Variance and StandardDeviation divide by n - 1; Median averages the two middle values of an
even count; InterquartileRange is Quantile[x, 3/4] - Quantile[x, 1/4] with Quantile's default
parameters {{1/2, 0}, {0, 1}} (the value at position n q + 1/2, interpolated linearly).

Max, Min, Mean and Total build as engine.layers.structure builds them; this module
re-registers "AggregationLayer" and hands those over.
"""

from __future__ import annotations

import torch

from engine.layers import register
from engine.layers.base import SimpleLayer, check_args, fail, real_input, resolve_levels
from engine.layers.structure import build_aggregation
from engine.spec import LayerSpec, LengthVar, TensorType

FUNCTIONS = ("Times", "Median", "Variance", "StandardDeviation", "MeanDeviation", "InterquartileRange")


def _quantile(s: torch.Tensor, q: float) -> torch.Tensor:
    """Quantile with parameters {{1/2, 0}, {0, 1}} of sorted values along the last dim."""
    n = s.shape[-1]
    pos = min(max(n * q + 0.5, 1.0), float(n)) - 1  # 0-based
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return s[..., lo] * (1 - frac) + s[..., hi] * frac


class StatisticLayer(SimpleLayer):
    kind = "AggregationLayer"

    def __init__(self, function: str, axes: tuple[int, ...]):
        super().__init__()
        self.function, self.axes = function, axes

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        keep = [d for d in range(1, x.dim()) if d - 1 not in self.axes]
        flat = x.permute(0, *keep, *(a + 1 for a in self.axes)).reshape(
            *(x.shape[d] for d in (0, *keep)), -1)
        f = self.function
        if f == "Times":
            return flat.prod(-1)
        if f in ("Variance", "StandardDeviation"):
            v = flat.var(-1, correction=1)
            return v if f == "Variance" else v.sqrt()
        if f == "MeanDeviation":
            return (flat - flat.mean(-1, keepdim=True)).abs().mean(-1)
        s = flat.sort(-1).values
        if f == "Median":
            n = s.shape[-1]
            return (s[..., (n - 1) // 2] + s[..., n // 2]) / 2
        return _quantile(s, 0.75) - _quantile(s, 0.25)


@register("AggregationLayer")
def build_aggregation_extended(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    f = spec.args.get("Function", "Max")
    if f not in FUNCTIONS:
        return build_aggregation(spec, in_types, path)
    args = check_args(spec, {"Function", "Levels"}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    axes = resolve_levels(args.get("Levels", slice(2, None)), len(t.dims), path, "aggregation levels")
    if any(isinstance(t.dims[a], LengthVar) for a in axes):
        raise fail(path, f"AggregationLayer[{f}] cannot aggregate a varying level; Max, Min, Mean and "
                         "Total can.")
    if f in ("Variance", "StandardDeviation") and all(t.dims[a] == 1 for a in axes):
        raise fail(path, f"{f} needs at least two aggregated elements.")
    out = tuple(d for i, d in enumerate(t.dims) if i not in axes)
    return StatisticLayer(f, axes), {"Output": TensorType(out)}
