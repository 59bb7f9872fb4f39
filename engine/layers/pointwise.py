"""ParametricRampLayer, UnitVectorLayer and InstanceNormalizationLayer, as their pages define them.

* ParametricRampLayer "Levels" (a levels spec; default 1, ``()`` for one slope): x for x > 0,
  Slope x otherwise, with one learned "Slope" per element of the given levels (shared across
  the others), initialised to 0.1.
* UnitVectorLayer "Size" n (None: the input's integer range): an integer k in 1..n becomes the
  length-n vector with a 1 at position k.
* InstanceNormalizationLayer "Epsilon" (0.001): each channel of each example normalised over its
  other levels, then times "Scaling" and plus "Biases" (one per channel; 1 and 0 initially).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.layers import register
from engine.layers.base import SimpleLayer, check_args, fail, fixed_dims, real_input, resolve_levels
from engine.spec import LayerSpec, TensorType


class ParametricRampLayer(SimpleLayer):
    kind = "ParametricRampLayer"
    array_names = ("Slope",)

    def __init__(self, dims: tuple[int, ...], shape: tuple[int, ...]):
        super().__init__()
        self.Slope = nn.Parameter(torch.full(dims, 0.1))
        self._shape = shape  # Slope reshaped to broadcast over one example

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, x * self.Slope.reshape(1, *self._shape))

    def wolfram_initialize(self, next_function: str | None = None) -> None:
        """The page's rule: slopes start at 0.1 (unless given)."""
        if "Slope" not in self.given:
            with torch.no_grad():
                self.Slope.fill_(0.1)


@register("ParametricRampLayer")
def build_parametric_ramp(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Levels", "Slope"}, path)
    t = real_input(in_types, "Input", path)
    dims = fixed_dims(t, path, "ParametricRampLayer")
    levels: Any = args.get("Levels", 1)
    axes = () if levels == () else resolve_levels(levels, len(dims), path, "slope levels")
    slope = tuple(dims[a] for a in axes)
    shape = tuple(d if i in axes else 1 for i, d in enumerate(dims))
    return ParametricRampLayer(slope, shape), {"Output": TensorType(tuple(dims))}


class UnitVectorLayer(SimpleLayer):
    kind = "UnitVectorLayer"

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot((x.long() - 1).clamp(0, self.n - 1), self.n).to(torch.get_default_dtype())


@register("UnitVectorLayer")
def build_unit_vector(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Size"}, path)
    t = in_types.get("Input")
    n = args.get("Size") or (t.index_range if t is not None else None)
    if not n:
        raise fail(path, "the vector size of UnitVectorLayer could not be inferred; give it as "
                         "UnitVectorLayer[n] or feed it Restricted[\"Integer\", n].")
    dims = () if t is None or t.dims is None else tuple(t.dims)
    m = UnitVectorLayer(n)
    m.input_types = {"Input": TensorType(dims, n)}
    return m, {"Output": TensorType((*dims, n))}


class InstanceNormalizationLayer(SimpleLayer):
    kind = "InstanceNormalizationLayer"
    array_names = ("Scaling", "Biases")

    def __init__(self, channels: int, epsilon: float):
        super().__init__()
        self.Scaling = nn.Parameter(torch.ones(channels))
        self.Biases = nn.Parameter(torch.zeros(channels))
        self.epsilon = epsilon

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.dim()))
        mean = x.mean(dims, keepdim=True)
        var = x.var(dims, keepdim=True, unbiased=False)
        shape = (1, -1, *([1] * (x.dim() - 2)))
        return (x - mean) / torch.sqrt(var + self.epsilon) * self.Scaling.reshape(shape) + self.Biases.reshape(shape)


@register("InstanceNormalizationLayer")
def build_instance_norm(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Epsilon", "Scaling", "Biases", "Interleaving"}, path)
    t = real_input(in_types, "Input", path, min_rank=2)
    dims = fixed_dims(t, path, "InstanceNormalizationLayer")
    return InstanceNormalizationLayer(dims[0], float(args.get("Epsilon", 0.001))), {"Output": TensorType(dims)}


class LocalResponseNormalizationLayer(SimpleLayer):
    """T / D with D = (alpha/(2c+1) * sum of T^2 over the channels i-c..i+c (clipped) + b)^beta."""

    kind = "LocalResponseNormalizationLayer"

    def __init__(self, window: int, alpha: float, beta: float, bias: float):
        super().__init__()
        self.window, self.alpha, self.beta, self.bias = window, alpha, beta, bias

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        c = self.window
        sq = F.pad(x.square(), (0, 0, 0, 0, c, c))  # zeros past the channel ends (the clipped sum)
        total = sq.unfold(1, 2 * c + 1, 1).sum(-1)
        return x / (self.alpha / (2 * c + 1) * total + self.bias) ** self.beta


@register("LocalResponseNormalizationLayer")
def build_lrn(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"ChannelWindowSize", "Alpha", "Beta", "Bias"}, path)
    t = real_input(in_types, "Input", path, min_rank=3)
    dims = fixed_dims(t, path, "LocalResponseNormalizationLayer")
    if len(dims) != 3:
        raise fail(path, f"the input should be an array of rank 3 ({{channels, h, w}}), not {len(dims)}.")
    c = int(args.get("ChannelWindowSize", 2))
    if dims[0] < 2 * c + 1:
        raise fail(path, f"the input has {dims[0]} channels, fewer than 2 x \"ChannelWindowSize\" + 1 = {2 * c + 1}.")
    m = LocalResponseNormalizationLayer(c, float(args.get("Alpha", 1.0)), float(args.get("Beta", 0.5)),
                                        float(args.get("Bias", 1.0)))
    return m, {"Output": TensorType(dims)}
