"""PaddingLayer: ArrayPad on each example, per level {lo, hi} (its page; levels include channels).

args "Specification": a tuple of (lo, hi) pairs, one per leading level; "Padding": a number
(constant value, default 0), "Fixed" (repeat the boundary element), "Reflected" (mirror without
repeating the boundary) or "Periodic" (wrap around). Non-constant padding indexes each padded
level with a precomputed gather, so it works at any rank.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from engine.layers import register
from engine.layers.base import SimpleLayer, check_args, fail, fixed_dims, real_input
from engine.spec import LayerSpec, TensorType


def pad_index(size: int, lo: int, hi: int, method: str) -> torch.Tensor:
    """For each output position, the input position it copies."""
    i = torch.arange(-lo, size + hi)
    if method == "Fixed":
        return i.clamp(0, size - 1)
    if method == "Periodic":
        return i % size
    period = 2 * (size - 1)  # Reflected: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
    j = i.abs() % period if period else torch.zeros_like(i)
    return torch.where(j < size, j, period - j)


class PaddingLayer(SimpleLayer):
    kind = "PaddingLayer"

    def __init__(self, pads: tuple[tuple[int, int], ...], padding: Any, dims: tuple[int, ...]):
        super().__init__()
        self.pads, self.padding = pads, padding
        self.index = [None if (lo, hi) == (0, 0) or isinstance(padding, float) else pad_index(d, lo, hi, padding)
                      for (lo, hi), d in zip(pads, dims, strict=False)]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.padding, float):
            return F.pad(x, _torch_order(self.pads, x.dim() - 1), value=self.padding)
        for level, ix in enumerate(self.index, 1):
            if ix is not None:
                x = x.index_select(level, ix.to(x.device))
        return x


def _torch_order(pads: tuple[tuple[int, int], ...], rank: int) -> list[int]:
    """F.pad's order: last dim first, (lo, hi) each."""
    full = list(pads) + [(0, 0)] * (rank - len(pads))
    out: list[int] = []
    for lo, hi in reversed(full):
        out += [lo, hi]
    return out


@register("PaddingLayer")
def build_padding(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Specification", "Padding"}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    dims = fixed_dims(t, path, "PaddingLayer")
    pads = tuple(args.get("Specification") or ())
    if len(pads) > len(dims):
        raise fail(path, f"the padding specification has {len(pads)} levels, but the input has rank {len(dims)}.")
    padding = args.get("Padding", 0.0)
    padding = float(padding) if isinstance(padding, (int, float)) else padding
    if isinstance(padding, str) and padding != "Fixed":
        for (lo, hi), d in zip(pads, dims, strict=False):
            if padding == "Reflected" and max(lo, hi) > d - 1 and (lo or hi):
                raise fail(path, f"\"Reflected\" padding of {max(lo, hi)} needs a dimension larger than {d}.")
    out = tuple(d + lo + hi for (lo, hi), d in zip(pads, dims, strict=False)) + tuple(dims[len(pads):])
    return PaddingLayer(pads, padding, dims), {"Output": TensorType(out)}
