"""ConvolutionLayer and PoolingLayer: channels-first, per-dim (lo, hi) padding, Wolfram strides.

PoolingLayer's stride defaults to 1 (torch's to the kernel size). Asymmetric padding is applied
with ``F.pad`` before a padding-free torch op. "Same" padding makes the output ceil(in/stride)
and puts the odd cell, if any, at the high end. Max pooling ignores padded cells (pads with
-inf, as MXNet and torch do); Mean and Total count them as zeros (MXNet's count-include-pad).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.layers import register
from engine.layers.base import (
    SimpleLayer,
    check_args,
    fail,
    fixed_dims,
    format_dims,
    real_input,
    removed,
)
from engine.spec import LayerSpec, TensorType


def _per_dim(value: Any, n: int, path: tuple[str, ...], what: str, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    if (not isinstance(value, (tuple, list)) or len(value) != n
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value)):
        raise fail(path, f"the {what} {value!r} should be an integer >= {minimum} or a list of "
                         f"{n} such integers (one per spatial dimension).")
    return tuple(value)


def _padding(value: Any, n: int, spatial: tuple[int, ...], kernel: tuple[int, ...],
             stride: tuple[int, ...], dilation: tuple[int, ...],
             path: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    if value == "Same":
        pads = []
        for size, k, s, d in zip(spatial, kernel, stride, dilation, strict=True):
            out = -(-size // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    if isinstance(value, (tuple, list)) and len(value) == n:
        pairs = []
        for v in value:
            if isinstance(v, int) and not isinstance(v, bool):
                v = (v, v)
            if (not isinstance(v, (tuple, list)) or len(v) != 2
                    or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in v)):
                break
            pairs.append((v[0], v[1]))
        else:
            return tuple(pairs)
    raise fail(path, f"the PaddingSize {value!r} should be an integer, a list of {n} integers, "
                     f"a list of {n} {{lo, hi}} pairs, or \"Same\".")


def _torch_pad(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """F.pad wants the last dim first: (w_lo, w_hi, h_lo, h_hi, ...)."""
    flat: list[int] = []
    for lo, hi in reversed(pads):
        flat += [lo, hi]
    return tuple(flat)


def _out_size(size: int, lo: int, hi: int, k: int, s: int, d: int) -> int:
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _spatial_geometry(spec: LayerSpec, args: dict[str, Any], t: TensorType, path: tuple[str, ...],
                      what: str, with_dilation: bool):
    dims = fixed_dims(t, path, what)
    kernel_arg = args.get("KernelSize")
    if kernel_arg is None:
        raise fail(path, f"{what} needs a kernel size.")
    n = args.get("Dimensionality")
    if n is None:
        n = len(kernel_arg) if isinstance(kernel_arg, (tuple, list)) else len(dims) - 1
        if n < 1:
            raise fail(path, f"{what} needs an input of rank 2, 3 or 4 ({{channels, ...}}), "
                             f"but got shape {format_dims(dims)}.")
    if not isinstance(n, int) or n not in (1, 2, 3):
        raise fail(path, f"{what} supports 1, 2 or 3 spatial dimensions, not {n!r}.")
    if len(dims) != n + 1:
        raise fail(path, f"a {n}D {what} needs an input of rank {n + 1} ({{channels, ...}}), "
                         f"but got shape {format_dims(dims)}.")
    kernel = _per_dim(kernel_arg, n, path, "KernelSize")
    stride = _per_dim(args.get("Stride", 1), n, path, "Stride")
    dilation = _per_dim(args.get("Dilation", 1), n, path, "Dilation") if with_dilation else (1,) * n
    pads = _padding(args.get("PaddingSize", 0), n, dims[1:], kernel, stride, dilation, path)
    out = []
    for size, (lo, hi), k, s, d in zip(dims[1:], pads, kernel, stride, dilation, strict=True):
        o = _out_size(size, lo, hi, k, s, d)
        if o < 1:
            raise fail(path, f"the kernel (size {k}, dilation {d}) is larger than the padded input "
                             f"(size {size + lo + hi}) for input shape {format_dims(dims)}.")
        out.append(o)
    return dims, n, kernel, stride, dilation, pads, tuple(out)


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class ConvolutionLayer(SimpleLayer):
    """Cross-correlation; Weights is {out, in/groups, k...}, the torch layout."""

    kind = "ConvolutionLayer"
    array_names = ("Weights", "Biases")

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, ...], stride: tuple[int, ...],
                 dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...], groups: int,
                 bias: bool):
        super().__init__()
        self.Weights = nn.Parameter(torch.empty(c_out, c_in // groups, *kernel))
        self.Biases = nn.Parameter(torch.zeros(c_out)) if bias else None
        self._conv = _CONV[len(kernel)]
        self.stride, self.dilation, self.groups = stride, dilation, groups
        symmetric = all(lo == hi for lo, hi in pads)
        self._padding = tuple(lo for lo, _ in pads) if symmetric else 0
        self._pre_pad = None if symmetric else _torch_pad(pads)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self._pre_pad is not None:
            x = F.pad(x, self._pre_pad)
        return self._conv(x, self.Weights, self.Biases, self.stride, self._padding,
                          self.dilation, self.groups)


@register("ConvolutionLayer")
def build_conv(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"OutputChannels", "KernelSize", "Stride", "PaddingSize", "Dilation",
                             "ChannelGroups", "Dimensionality", "Biases", "Weights",
                             "Interleaving"}, path)
    t = real_input(in_types, "Input", path)
    dims, _, kernel, stride, dilation, pads, out = _spatial_geometry(
        spec, args, t, path, "ConvolutionLayer", with_dilation=True)
    c_out = args.get("OutputChannels")
    if isinstance(c_out, bool) or not isinstance(c_out, int) or c_out < 1:
        raise fail(path, f"the number of output channels should be a positive integer, not {c_out!r}.")
    groups = args.get("ChannelGroups", 1)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise fail(path, f"ChannelGroups should be a positive integer, not {groups!r}.")
    if dims[0] % groups or c_out % groups:
        raise fail(path, f"ChannelGroups -> {groups} must divide both the input channels "
                         f"({dims[0]}) and the output channels ({c_out}).")
    m = ConvolutionLayer(dims[0], c_out, kernel, stride, dilation, pads, groups,
                         bias=not removed(spec, "Biases"))
    return m, {"Output": TensorType((c_out, *out))}


_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class PoolingLayer(SimpleLayer):
    """Max, Mean or Total over windows; stride 1 unless given."""

    kind = "PoolingLayer"

    def __init__(self, function: str, kernel: tuple[int, ...], stride: tuple[int, ...],
                 pads: tuple[tuple[int, int], ...]):
        super().__init__()
        n = len(kernel)
        self.function, self.kernel, self.stride = function, kernel, stride
        self._op = _MAX[n] if function == "Max" else _AVG[n]
        self._pad_value = -math.inf if function == "Max" else 0.0
        self._pre_pad = _torch_pad(pads) if any(lo or hi for lo, hi in pads) else None
        self._scale = float(math.prod(kernel)) if function == "Total" else None

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self._pre_pad is not None:
            x = F.pad(x, self._pre_pad, value=self._pad_value)
        y = self._op(x, self.kernel, self.stride)
        return y * self._scale if self._scale is not None else y


@register("PoolingLayer")
def build_pool(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"KernelSize", "Stride", "PaddingSize", "Function", "Dimensionality",
                             "Interleaving"}, path)
    function = args.get("Function", "Max")
    if function not in ("Max", "Mean", "Total"):
        raise fail(path, f"the pooling Function {function!r} is not supported; use Max, Mean or Total.")
    t = real_input(in_types, "Input", path)
    dims, _, kernel, stride, _, pads, out = _spatial_geometry(
        spec, args, t, path, "PoolingLayer", with_dilation=False)
    return PoolingLayer(function, kernel, stride, pads), {"Output": TensorType((dims[0], *out))}
