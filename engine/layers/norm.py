"""BatchNormalizationLayer and NormalizationLayer with Wolfram's momentum, epsilon and levels.

Wolfram's BatchNorm "Momentum" 0.9 keeps 90% of the moving statistic each batch (torch's
momentum would be 0.1); "Epsilon" is 0.001 (torch: 1e-5). The moving variance is updated with
the biased batch variance, as MXNet (Wolfram's backend through 12.0) does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.layers import register
from engine.layers.base import (
    SimpleLayer,
    check_args,
    fail,
    format_dims,
    real_input,
    removed,
    resolve_levels,
)
from engine.layers.norm_options import (
    OPTION_NAMES,
    NormOptions,
    normalize_with_options,
    read_options,
)
from engine.spec import LayerSpec, LengthVar, TensorType


def _positive(value: Any, path: tuple[str, ...], what: str, upper: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if not ok or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise fail(path, f"{what} should be a non-negative number{bound}, not {value!r}.")
    return float(value)


class BatchNormalizationLayer(SimpleLayer):
    """Per-channel normalisation by batch statistics in training, moving ones at evaluation."""

    kind = "BatchNormalizationLayer"
    array_names = ("Biases", "MovingMean", "MovingVariance", "Scaling")
    aux_arrays = frozenset({"MovingMean", "MovingVariance"})

    def __init__(self, channels: int, epsilon: float, momentum: float):
        super().__init__()
        self.Scaling = nn.Parameter(torch.ones(channels))
        self.Biases = nn.Parameter(torch.zeros(channels))
        self.register_buffer("MovingMean", torch.zeros(channels))
        self.register_buffer("MovingVariance", torch.ones(channels))
        self.epsilon, self.momentum = epsilon, momentum
        self.frozen = momentum == 1.0  # also set by the loop when the layer's LR multiplier is 0

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.MovingMean, self.MovingVariance, self.Scaling,
                                self.Biases, False, 0.0, self.epsilon)
        if not self.frozen:
            with torch.no_grad():
                dims = [0, *range(2, x.dim())]
                var, mean = torch.var_mean(x.detach(), dims, correction=0)
                self.MovingMean.mul_(self.momentum).add_(mean, alpha=1 - self.momentum)
                self.MovingVariance.mul_(self.momentum).add_(var, alpha=1 - self.momentum)
        return F.batch_norm(x, None, None, self.Scaling, self.Biases, True, 0.0, self.epsilon)


@register("BatchNormalizationLayer")
def build_batchnorm(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Epsilon", "Momentum", "Interleaving", "Scaling", "Biases",
                             "MovingMean", "MovingVariance"}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    if isinstance(t.dims[0], LengthVar):
        raise fail(path, f"the channel dimension (the first) cannot vary; got {format_dims(t.dims)}.")
    eps = _positive(args.get("Epsilon", 0.001), path, "Epsilon")
    if eps == 0:
        raise fail(path, "Epsilon should be positive.")
    momentum = _positive(args.get("Momentum", 0.9), path, "Momentum", upper=1.0)
    m = BatchNormalizationLayer(t.dims[0], eps, momentum)
    return m, {"Output": TensorType(t.dims)}


class NormalizationLayer(SimpleLayer):
    """(x - mean)/sqrt(var + eps) over the aggregation levels, then Scaling and Biases."""

    kind = "NormalizationLayer"
    array_names = ("Biases", "Scaling")

    def __init__(self, agg_axes: tuple[int, ...], affine_shape: tuple[int, ...], epsilon: float,
                 scaling: bool, biases: bool):
        super().__init__()
        self.Scaling = nn.Parameter(torch.ones(affine_shape)) if scaling else None
        self.Biases = nn.Parameter(torch.zeros(affine_shape)) if biases else None
        self._dims = [a + 1 for a in agg_axes]
        self._view: tuple[int, ...] = ()
        self.epsilon = epsilon
        self.options: NormOptions | None = None  # "GroupNumber", Method -> "RMS", "Unbiased"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.options is None:
            var, mean = torch.var_mean(x, self._dims, correction=0, keepdim=True)
            y = (x - mean) * torch.rsqrt(var + self.epsilon)
        else:
            y = normalize_with_options(x, self._dims, self.options, self.epsilon)
        if self.Scaling is not None:
            y = y * self.Scaling.reshape(self._view)
        if self.Biases is not None:
            y = y + self.Biases.reshape(self._view)
        return y


@register("NormalizationLayer")
def build_normalization(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"AggregationLevels", "ScalingLevels", "Epsilon", "Scaling",
                             "Biases", *OPTION_NAMES}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    rank = len(t.dims)
    agg = resolve_levels(args.get("AggregationLevels", slice(2, None)), rank, path,
                         "aggregation levels")
    scaling_spec = args.get("ScalingLevels", "Complement")
    if scaling_spec == "Complement":
        scale_axes = tuple(a for a in range(rank) if a not in agg)
    elif scaling_spec == "Same":
        scale_axes = agg
    else:
        scale_axes = resolve_levels(scaling_spec, rank, path, "scaling levels")
    for a in (*agg, *scale_axes):
        if isinstance(t.dims[a], LengthVar):
            raise fail(path, f"level {a + 1} of the input {format_dims(t.dims)} varies; "
                             "NormalizationLayer needs fixed sizes at its levels.")
    eps = _positive(args.get("Epsilon", 0.001), path, "Epsilon")
    shape = tuple(t.dims[a] for a in scale_axes)
    m = NormalizationLayer(agg, shape, eps, scaling=not removed(spec, "Scaling"),
                           biases=not removed(spec, "Biases"))
    m._view = (1, *(d if isinstance(d, int) and i in scale_axes else 1
                    for i, d in enumerate(t.dims)))
    m.options = read_options(args, t.dims, agg, path)
    return m, {"Output": TensorType(t.dims)}
