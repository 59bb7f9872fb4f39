"""NormalizationLayer's options beyond the plain standardisation (its page):

* "GroupNumber" -> {g1, ..., gn} (one per aggregation level, in order): level a_j is split into
  g_j groups normalised separately (group normalization);
* Method -> "RMS": x / sqrt(mean(x^2) + eps) instead of (x - mean) / sqrt(var + eps);
* "Unbiased" -> True: the variance divides by (count - 1).

`engine.layers.norm` builds the layer; this module reads the options (`read_options`) and does
the arithmetic they need (`normalize_with_options`), so a layer without them keeps the plain
path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from engine.layers.base import fail

OPTION_NAMES = ("GroupNumber", "Method", "Unbiased")


@dataclass(frozen=True)
class NormOptions:
    """Groups by (1-based, batch-first) axis, RMS instead of standardising, unbiased variance."""

    groups: dict[int, int]
    rms: bool
    unbiased: bool


def read_options(args: dict[str, Any], dims: tuple[Any, ...], agg: tuple[int, ...],
                 path: tuple[str, ...]) -> NormOptions | None:
    """The options as given, checked against the input dims; None when none is set."""
    groups_arg: Any = args.get("GroupNumber")
    method = args.get("Method", "Standardize")
    unbiased = bool(args.get("Unbiased", False))
    if groups_arg is None and method == "Standardize" and not unbiased:
        return None
    if method not in ("Standardize", "RMS"):
        raise fail(path, f"the Method {method!r} is not supported; use \"Standardize\" or \"RMS\".")
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
    return NormOptions(groups, method == "RMS", unbiased)


def normalize_with_options(x: torch.Tensor, dims: list[int], opts: NormOptions,
                           epsilon: float) -> torch.Tensor:
    """x normalised over `dims` with groups, RMS or the unbiased variance (before Scaling)."""
    shape, over, offset = list(x.shape), [], 0
    for d in range(1, x.dim()):
        g = opts.groups.get(d)
        if g is None:
            if d in dims:
                over.append(d + offset)
            continue
        at = d + offset  # split this level into (g, size/g); normalise within each group
        shape[at: at + 1] = [g, shape[at] // g]
        over.append(at + 1)
        offset += 1
    z = x.reshape(shape)
    if opts.rms:
        z = z * torch.rsqrt(z.square().mean(over, keepdim=True) + epsilon)
    else:
        var, mean = torch.var_mean(z, over, correction=1 if opts.unbiased else 0, keepdim=True)
        z = (z - mean) * torch.rsqrt(var + epsilon)
    return z.reshape(x.shape)
