"""DeconvolutionLayer (the transpose of ConvolutionLayer), channels-first, as its page defines it.

args: "OutputChannels" n, "KernelSize" (int or per-dim), "Stride" 1, "Dilation" 1,
"ChannelGroups" 1, "PaddingSize" (how much to *crop* from the output: n, {n1, ...},
{{lo, hi}, ...} or "Same", which makes the output the input size times the stride),
"Dimensionality", "Biases" None removes the bias. "Weights" is {in, out/groups, k...}, torch's
ConvTranspose layout (NeuralNetworks 12.0, wl-nets.md §2.22). Output size per spatial dim:
(in - 1) stride + dilation (k - 1) + 1 - lo - hi.
"""

from __future__ import annotations

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
from engine.layers.conv import _per_dim
from engine.spec import LayerSpec, TensorType

_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _crops(value, n: int, full: tuple[int, ...], want_same: tuple[int, ...], path: tuple[str, ...]):
    if value == "Same":
        return tuple(((f - w) // 2, f - w - (f - w) // 2) for f, w in zip(full, want_same, strict=True))
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    if isinstance(value, (tuple, list)) and len(value) == n:
        pairs = [(v, v) if isinstance(v, int) else tuple(v) for v in value]
        if all(len(p) == 2 and all(isinstance(q, int) and q >= 0 for q in p) for p in pairs):
            return tuple(pairs)
    raise fail(path, f"the PaddingSize {value!r} should be an integer, a list of {n} integers, "
                     f"a list of {n} {{lo, hi}} pairs, or \"Same\".")


class DeconvolutionLayer(SimpleLayer):
    kind = "DeconvolutionLayer"
    array_names = ("Weights", "Biases")

    def __init__(self, c_in: int, c_out: int, kernel, stride, dilation, groups: int, crops, bias: bool):
        super().__init__()
        self.Weights = nn.Parameter(torch.empty(c_in, c_out // groups, *kernel))
        self.Biases = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.stride, self.dilation, self.groups, self.crops = stride, dilation, groups, crops
        self._f = _DECONV[len(kernel)]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        y = self._f(x, self.Weights, self.Biases, self.stride, 0, 0, self.groups, self.dilation)
        index = [slice(None), slice(None)]
        for (lo, hi), size in zip(self.crops, y.shape[2:], strict=True):
            index.append(slice(lo, size - hi))
        return y[tuple(index)]


@register("DeconvolutionLayer")
def build_deconvolution(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"OutputChannels", "KernelSize", "Stride", "PaddingSize", "Dilation",
                             "ChannelGroups", "Dimensionality", "Interleaving", "Biases", "Weights"}, path)
    t = real_input(in_types, "Input", path, min_rank=2)
    dims = fixed_dims(t, path, "DeconvolutionLayer")
    k_arg = args.get("KernelSize")
    n = args.get("Dimensionality") or (len(k_arg) if isinstance(k_arg, (tuple, list)) else len(dims) - 1)
    if n not in (1, 2, 3) or len(dims) != n + 1:
        raise fail(path, f"a {n}D DeconvolutionLayer needs an input of rank {n + 1} ({{channels, ...}}), "
                         f"but got shape {format_dims(dims)}.")
    kernel = _per_dim(k_arg, n, path, "KernelSize")
    stride = _per_dim(args.get("Stride", 1), n, path, "Stride")
    dilation = _per_dim(args.get("Dilation", 1), n, path, "Dilation")
    groups, c_out, c_in = args.get("ChannelGroups", 1), args.get("OutputChannels"), dims[0]
    if c_in % groups or c_out % groups:
        raise fail(path, f"ChannelGroups -> {groups} must divide both the {c_in} input and the "
                         f"{c_out} output channels.")
    full = tuple((s - 1) * st + d * (k - 1) + 1 for s, st, d, k in zip(dims[1:], stride, dilation, kernel, strict=True))
    crops = _crops(args.get("PaddingSize", 0), n, full, tuple(s * st for s, st in zip(dims[1:], stride, strict=True)),
                   path)
    out = tuple(f - lo - hi for f, (lo, hi) in zip(full, crops, strict=True))
    if any(o < 1 for o in out):
        raise fail(path, f"the PaddingSize {args.get('PaddingSize')!r} crops the whole output {format_dims(full)}.")
    m = DeconvolutionLayer(c_in, c_out, kernel, stride, dilation, groups, crops, not removed(spec, "Biases"))
    return m, {"Output": TensorType((c_out, *out))}
