"""LinearLayer, SoftmaxLayer, DropoutLayer and EmbeddingLayer with Wolfram's conventions.

LinearLayer flattens its whole input (Wolfram's Linear is not per-last-axis as torch's is);
EmbeddingLayer takes 1-based indices; Softmax levels count from 1 without the batch dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import EngineError
from engine.layers import register
from engine.layers.base import (
    SimpleLayer,
    check_args,
    declared_output,
    fail,
    fixed_dims,
    format_dims,
    real_input,
    removed,
    resolve_level,
)
from engine.spec import LayerSpec, TensorType


def _dims_arg(value: object, path: tuple[str, ...], what: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        raise fail(path, f"{what} should be a positive integer or a list of them, not {value!r}.")
    return tuple(value)


class LinearLayer(SimpleLayer):
    """y = W . flatten(x) + b, reshaped to the output dimensions; W is {out, in} as in torch."""

    kind = "LinearLayer"
    array_names = ("Weights", "Biases")

    def __init__(self, in_dims: tuple[int, ...], out_dims: tuple[int, ...], bias: bool):
        super().__init__()
        n_in, n_out = math.prod(in_dims), math.prod(out_dims)
        self.Weights = nn.Parameter(torch.empty(n_out, n_in))
        self.Biases = nn.Parameter(torch.zeros(n_out)) if bias else None
        self._flatten = len(in_dims) != 1
        self._out_shape = out_dims if len(out_dims) != 1 else None

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self._flatten:
            x = x.reshape(x.shape[0], -1)
        y = F.linear(x, self.Weights, self.Biases)
        if self._out_shape is not None:
            y = y.reshape((y.shape[0], *self._out_shape))
        return y


@register("LinearLayer")
def build_linear(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"OutputDimensions", "Biases", "Weights"}, path)
    t = real_input(in_types, "Input", path)
    in_dims = fixed_dims(t, path, "LinearLayer")
    out = args.get("OutputDimensions")
    if out is None:
        hint = declared_output(spec)
        if hint is None or hint.dims is None or any(not isinstance(d, int) for d in hint.dims):
            raise fail(path, "the output size of LinearLayer[] could not be inferred; "
                             "give it as LinearLayer[n].")
        out = hint.dims
    out_dims = () if out == () else _dims_arg(out, path, "the output size")
    m = LinearLayer(in_dims, out_dims, bias=not removed(spec, "Biases"))
    return m, {"Output": TensorType(out_dims)}


class SoftmaxLayer(SimpleLayer):
    """Softmax over one level (Wolfram level k is torch dim k thanks to the batch dim)."""

    kind = "SoftmaxLayer"

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, self.dim)


@register("SoftmaxLayer")
def build_softmax(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Level"}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    axis = resolve_level(args.get("Level", -1), len(t.dims), path, "softmax level")
    if t.dims[axis] == 1:
        raise fail(path, "the softmax level has size 1, so every output would be 1.")
    return SoftmaxLayer(axis + 1), {"Output": TensorType(t.dims)}


class DropoutLayer(SimpleLayer):
    """Inverted dropout in training (survivors scaled by 1/(1-p)); identity at evaluation."""

    kind = "DropoutLayer"

    def __init__(self, p: float, alpha: bool):
        super().__init__()
        self.p = p
        self._f = F.alpha_dropout if alpha else F.dropout

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return self._f(x, self.p, True)


@register("DropoutLayer")
def build_dropout(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"DropoutProbability", "Method"}, path)
    p = args.get("DropoutProbability", 0.5)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise fail(path, f"the dropout probability should be a number in [0, 1), not {p!r}.")
    method = args.get("Method", "Dropout")
    if method not in ("Dropout", "AlphaDropout"):
        raise fail(path, f"the Method {method!r} is not supported; use \"Dropout\" or \"AlphaDropout\".")
    t = real_input(in_types, "Input", path)
    return DropoutLayer(float(p), method == "AlphaDropout"), {"Output": TensorType(t.dims)}


class EmbeddingLayer(SimpleLayer):
    """Row lookup with 1-based indices; Weights is {n, size} as in torch."""

    kind = "EmbeddingLayer"
    array_names = ("Weights",)

    def __init__(self, n: int, size: int, padded: bool):
        super().__init__()
        self.Weights = nn.Parameter(torch.empty(n, size))
        self._padded = padded  # varying inputs are padded with 0 past each sequence's end

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        idx = x.long() - 1
        if self._padded:
            idx = idx.clamp_min(0)
        try:
            return F.embedding(idx, self.Weights)
        except (IndexError, RuntimeError) as e:
            n = self.Weights.shape[0]
            raise EngineError("invindata", f"EmbeddingLayer: an index is outside 1..{n}.") from e


@register("EmbeddingLayer")
def build_embedding(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"OutputDimensions", "InputDimensions", "Weights"}, path)
    t = in_types.get("Input")
    if t is None or t.dims is None:
        raise fail(path, "the shape of the input of EmbeddingLayer could not be inferred; "
                         "declare the net's \"Input\".")
    size = args.get("OutputDimensions")
    if isinstance(size, (tuple, list)) and len(size) == 1:
        size = size[0]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise fail(path, f"the embedding size should be a positive integer, not {size!r}.")
    n = args.get("InputDimensions") or t.index_range
    if n is None and "Weights" in spec.arrays and spec.arrays["Weights"] is not None:
        n = len(spec.arrays["Weights"])
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise fail(path, "the number of classes n of EmbeddingLayer could not be inferred; "
                         "give it as EmbeddingLayer[size, n] or feed it Restricted[\"Integer\", n].")
    if t.index_range is not None and t.index_range > n:
        raise fail(path, f"the input holds integers up to {t.index_range} but the embedding "
                         f"has only {n} rows.")
    if any(d is None for d in t.dims):
        raise fail(path, f"the input shape {format_dims(t.dims)} is not fully known.")
    m = EmbeddingLayer(n, size, padded=t.varying)
    m.input_types = {"Input": TensorType(t.dims, index_range=n)}
    return m, {"Output": TensorType((*t.dims, size))}
