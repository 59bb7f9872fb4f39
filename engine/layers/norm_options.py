"""NormalizationLayer's options beyond the plain standardisation (its page):

* "GroupNumber" -> {g1, ..., gn} (one per aggregation level, in order): level a_j is split into
  g_j groups normalised separately (group normalization);
* Method -> "RMS": x / sqrt(mean(x^2) + eps) instead of (x - mean) / sqrt(var + eps);
* "Unbiased" -> True: the variance divides by (count - 1).

Layers without them build exactly as engine.layers.norm builds them; this module re-registers
"NormalizationLayer" and hands those over.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.layers import register
from engine.layers.base import fail, resolve_levels
from engine.layers.norm import NormalizationLayer, build_normalization
from engine.spec import LayerSpec, TensorType

_EXTRA = ("GroupNumber", "Method", "Unbiased")


class NormalizationWithOptions(NormalizationLayer):
    """NormalizationLayer with groups, RMS or the unbiased variance."""

    def configure(self, groups: dict[int, int], rms: bool, unbiased: bool) -> NormalizationWithOptions:
        self.groups, self.rms, self.unbiased = groups, rms, unbiased
        return self

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        shape, dims, offset = list(x.shape), [], 0
        for d in range(1, x.dim()):
            g = self.groups.get(d)
            if g is None:
                if d in self._dims:
                    dims.append(d + offset)
                continue
            at = d + offset  # split this level into (g, size/g); normalise within each group
            shape[at: at + 1] = [g, shape[at] // g]
            dims.append(at + 1)
            offset += 1
        z = x.reshape(shape)
        if self.rms:
            z = z * torch.rsqrt(z.square().mean(dims, keepdim=True) + self.epsilon)
        else:
            var, mean = torch.var_mean(z, dims, correction=1 if self.unbiased else 0, keepdim=True)
            z = (z - mean) * torch.rsqrt(var + self.epsilon)
        y = z.reshape(x.shape)
        if self.Scaling is not None:
            y = y * self.Scaling.reshape(self._view)
        if self.Biases is not None:
            y = y + self.Biases.reshape(self._view)
        return y


@register("NormalizationLayer")
def build_normalization_with_options(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    groups_arg: Any = spec.args.get("GroupNumber")
    method = spec.args.get("Method", "Standardize")
    unbiased = bool(spec.args.get("Unbiased", False))
    plain = LayerSpec(spec.kind, {k: v for k, v in spec.args.items() if k not in _EXTRA},
                      spec.arrays, spec.inputs, spec.outputs, spec.lr_multiplier)
    m, out = build_normalization(plain, in_types, path)
    if groups_arg is None and method == "Standardize" and not unbiased:
        return m, out
    if method not in ("Standardize", "RMS"):
        raise fail(path, f"the Method {method!r} is not supported; use \"Standardize\" or \"RMS\".")
    dims = in_types["Input"].dims
    agg = resolve_levels(spec.args.get("AggregationLevels", slice(2, None)), len(dims), path, "aggregation levels")
    groups: dict[int, int] = {}
    if groups_arg is not None:
        if len(groups_arg) != len(agg):
            raise fail(path, f"\"GroupNumber\" needs one group count per aggregation level ({len(agg)}), "
                             f"not {len(groups_arg)}.")
        for a, g in zip(agg, groups_arg, strict=True):
            if dims[a] % g:
                raise fail(path, f"level {a + 1} has size {dims[a]}, which {g} groups do not divide.")
            if g > 1:
                groups[a + 1] = g
    if unbiased and not groups and math.prod(dims[a] for a in agg) < 2:
        raise fail(path, "\"Unbiased\" -> True needs at least two aggregated elements.")
    m.__class__ = NormalizationWithOptions
    return m.configure(groups, method == "RMS", unbiased), out
