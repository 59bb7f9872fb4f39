"""Layers holding one learned array: ConstantPlusLayer ("Biases", added), ConstantTimesLayer
("Scaling", multiplied elementwise), NetArrayLayer / ConstantArrayLayer ("Array", output as is).

The array has the input's dimensions (ConstantPlus/Times) or the declared "Output" dimensions
(NetArrayLayer), or those of an array given in the constructor. Initial values by name
(`engine.init`): "Biases" 0, "Scaling" 1; "Array" by the rank rule (Xavier for rank 2 and up).

NetArrayLayer has no input: the graph gives it the batch as ``inputs["$Batch"]`` (any tensor of
the call, read only for its batch size), and it outputs the array repeated per example.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.layers import register
from engine.layers.base import (
    SimpleLayer,
    WolframLayer,
    check_args,
    declared_output,
    fail,
    format_dims,
    real_input,
)
from engine.spec import LayerSpec, TensorType


class ConstantLayer(SimpleLayer):
    """x + Biases or x * Scaling, the array shaped like one example."""

    def __init__(self, kind: str, dims: tuple[int, ...]):
        super().__init__()
        self.kind = kind
        self.array_names = ("Biases",) if kind == "ConstantPlusLayer" else ("Scaling",)
        setattr(self, self.array_names[0], nn.Parameter(torch.zeros(dims)))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "ConstantPlusLayer":
            return x + self.Biases
        return x * self.Scaling


def _build_constant(kind: str, spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    name = "Biases" if kind == "ConstantPlusLayer" else "Scaling"
    check_args(spec, {name}, path)
    t = real_input(in_types, "Input", path)
    if t.varying:
        raise fail(path, f"{kind} needs fixed dimensions, not {format_dims(t.dims)}.")
    return ConstantLayer(kind, tuple(t.dims)), {"Output": TensorType(tuple(t.dims))}


@register("ConstantPlusLayer")
def build_constant_plus(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    return _build_constant("ConstantPlusLayer", spec, in_types, path)


@register("ConstantTimesLayer")
def build_constant_times(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    return _build_constant("ConstantTimesLayer", spec, in_types, path)


class NetArrayLayer(WolframLayer):
    """No input; the output is the learned "Array" for every example."""

    kind = "NetArrayLayer"
    array_names = ("Array",)

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.Array = nn.Parameter(torch.zeros(dims))

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        ref = inputs.get("$Batch")
        batch = 1 if ref is None else ref.shape[0]
        return {"Output": self.Array.unsqueeze(0).expand(batch, *self.Array.shape)}


def _build_array(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, {"Array"}, path)
    given = spec.arrays.get("Array")
    hint = declared_output(spec)
    dims = None if given is None else tuple(given.shape)
    if hint is not None and hint.dims is not None and all(isinstance(d, int) for d in hint.dims):
        if dims is not None and dims != tuple(hint.dims):
            raise fail(path, f"the \"Array\" has dimensions {format_dims(dims)} but the \"Output\" "
                             f"is declared as {format_dims(hint.dims)}.")
        dims = tuple(hint.dims)
    if dims is None:
        raise fail(path, "the dimensions of the array could not be inferred; give \"Array\" -> "
                         "values or \"Output\" -> {d1, d2, ...}.")
    return NetArrayLayer(dims), {"Output": TensorType(dims)}


@register("NetArrayLayer", inputs=())
def build_net_array(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    return _build_array(spec, in_types, path)


@register("ConstantArrayLayer", inputs=())
def build_constant_array(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    """ConstantArrayLayer[...] evaluates to NetArrayLayer[...] (its documentation page)."""
    return _build_array(spec, in_types, path)


class RandomArrayLayer(WolframLayer):
    """No input; a fresh random array per example at every evaluation (its page: samples of a
    univariate distribution): ("Normal", mu, sigma) or ("Uniform", lo, hi)."""

    kind = "RandomArrayLayer"

    def __init__(self, dims: tuple[int, ...], distribution: tuple[str, float, float]):
        super().__init__()
        self.dims, self.distribution = dims, distribution

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        ref = inputs.get("$Batch")
        batch = 1 if ref is None else ref.shape[0]
        device = None if ref is None else ref.device
        name, a, b = self.distribution
        if name == "Normal":
            return {"Output": torch.randn(batch, *self.dims, device=device) * b + a}
        return {"Output": torch.rand(batch, *self.dims, device=device) * (b - a) + a}


@register("RandomArrayLayer", inputs=())
def build_random_array(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Distribution"}, path)
    hint = declared_output(spec)
    if hint is None or hint.dims is None or not all(isinstance(d, int) for d in hint.dims):
        raise fail(path, "the output dimensions could not be inferred; give \"Output\" -> {d1, d2, ...}.")
    dims = tuple(hint.dims)
    return RandomArrayLayer(dims, args.get("Distribution", ("Normal", 0.0, 1.0))), {"Output": TensorType(dims)}
