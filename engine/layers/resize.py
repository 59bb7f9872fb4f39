"""ResizeLayer: resampling of the spatial dimensions, the first (channel) dimension unchanged
(its page). args "Specification": one entry per spatial dim, an int size, ("Scaled", r) or
"All"; "Resampling": "Linear" (default; ArrayResample's point sampling, which maps the first and
last elements onto the first and last: torch's align_corners=True) or "Nearest" (bin sampling,
for integer Scaled factors: each element repeated).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from engine.layers import register
from engine.layers.base import SimpleLayer, check_args, fail, fixed_dims, real_input
from engine.spec import LayerSpec, TensorType

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


class ResizeLayer(SimpleLayer):
    kind = "ResizeLayer"

    def __init__(self, sizes: tuple[int, ...], method: str, factors: tuple[int, ...]):
        super().__init__()
        self.sizes, self.method, self.factors = sizes, method, factors

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "Nearest":
            for d, f in enumerate(self.factors, 2):
                if f != 1:
                    x = x.repeat_interleave(f, d)
            return x
        return F.interpolate(x, size=self.sizes, mode=_MODES[len(self.sizes)], align_corners=True)


@register("ResizeLayer")
def build_resize(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Specification", "Resampling", "Interleaving"}, path)
    t = real_input(in_types, "Input", path, min_rank=2)
    dims = fixed_dims(t, path, "ResizeLayer")
    entries: tuple[Any, ...] = tuple(args.get("Specification") or ())
    if len(entries) != len(dims) - 1 or len(entries) > 3:
        raise fail(path, f"the resize specification has {len(entries)} dimensions, but the input "
                         f"{list(dims)} has {len(dims) - 1} spatial dimensions (1 to 3 are supported).")
    method = args.get("Resampling") or "Linear"
    sizes, factors = [], []
    for e, d in zip(entries, dims[1:], strict=True):
        if e == "All":
            sizes.append(d)
            factors.append(1)
        elif isinstance(e, tuple):  # ("Scaled", r)
            sizes.append(max(1, int(math.floor(d * e[1] + 1e-9))))
            factors.append(int(e[1]) if float(e[1]).is_integer() else 0)
        else:
            sizes.append(int(e))
            factors.append(int(e) // d if int(e) % d == 0 else 0)
    if method == "Nearest" and any(f < 1 for f in factors):
        raise fail(path, "Resampling -> \"Nearest\" supports only integer Scaled factors (each element repeated).")
    return ResizeLayer(tuple(sizes), method, tuple(factors)), {"Output": TensorType((dims[0], *sizes))}
