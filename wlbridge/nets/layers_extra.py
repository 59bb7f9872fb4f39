"""Table rows for DeconvolutionLayer, PaddingLayer, ParametricRampLayer, UnitVectorLayer,
InstanceNormalizationLayer and SequenceReverseLayer, with the forms of their pages:
``DeconvolutionLayer[n, k, opts]``; ``PaddingLayer[{{m1, n1}, ...}, Padding -> v | "Fixed" |
"Reflected" | "Periodic"]``; ``ParametricRampLayer[]``, ``ParametricRampLayer[levels]``
(``{}`` for one shared slope); ``UnitVectorLayer[n]``; ``InstanceNormalizationLayer[]``;
``SequenceReverseLayer[]``; ``LocalResponseNormalizationLayer[opts]``; ``ResizeLayer[{d1, ...},
Resampling -> "Linear" | "Nearest"]``."""

from __future__ import annotations

from typing import Any

from wlbridge.nets.exprs import head_name, is_int, short, symbol_name, to_number
from wlbridge.nets.layers import (
    _SPATIAL,
    BadParam,
    LayerDef,
    auto_pos_int,
    boolean,
    levels,
    one_of,
    pos_int,
    positive_real,
    real,
)


def pad_spec(v: Any) -> tuple[tuple[int, int], ...]:
    if isinstance(v, (tuple, list)) and v and all(
            isinstance(p, (tuple, list)) and len(p) == 2 and all(is_int(q) and q >= 0 for q in p) for p in v):
        return tuple((int(p[0]), int(p[1])) for p in v)
    raise BadParam(f"expected {{{{m1, n1}}, {{m2, n2}}, ...}} with non-negative integers, not {short(v)}")


def padding_value(v: Any) -> Any:
    n = to_number(v)
    if n is not None and not isinstance(v, bool):
        return float(n)
    return one_of("Fixed", "Reflected", "Periodic")(v)


def resize_spec(v: Any) -> tuple[Any, ...]:
    """{d1, ...} with n, Scaled[r] or All per spatial dimension."""
    if isinstance(v, (tuple, list)) and v:
        out: list[Any] = []
        for d in v:
            if symbol_name(d) == "All":
                out.append("All")
            elif is_int(d) and d > 0:
                out.append(int(d))
            elif head_name(d) == "Scaled" and len(d.args) == 1 and (to_number(d.args[0]) or 0) > 0:
                out.append(("Scaled", float(to_number(d.args[0]))))
            else:
                break
        else:
            return tuple(out)
    raise BadParam(f"expected {{d1, ...}} with positive sizes, Scaled[r] or All, not {short(v)}")


def slope_levels(v: Any) -> Any:
    if isinstance(v, (tuple, list)) and not v:
        return ()
    return levels(v)


ROWS = [
    LayerDef("DeconvolutionLayer", (("OutputChannels", pos_int), ("KernelSize", _SPATIAL["Stride"][1])),
             {**_SPATIAL, "ChannelGroups": (1, pos_int)},
             arrays=("Weights", "Biases"), nullable=("Biases",), required=2),
    LayerDef("PaddingLayer", (("Specification", pad_spec),), {"Padding": (0.0, padding_value)}, required=1),
    LayerDef("ParametricRampLayer", (("Levels", slope_levels),), arrays=("Slope",), defaults={"Levels": 1}),
    LayerDef("UnitVectorLayer", (("Size", auto_pos_int),), defaults={"Size": None}),
    LayerDef("InstanceNormalizationLayer", (), {"Epsilon": (0.001, positive_real), "Interleaving": (False, boolean)},
             arrays=("Scaling", "Biases"), aliases={"Gamma": "Scaling", "Beta": "Biases"}),
    LayerDef("SequenceReverseLayer"),
    LayerDef("LocalResponseNormalizationLayer", (),
             {"ChannelWindowSize": (2, pos_int), "Alpha": (1.0, real), "Beta": (0.5, real), "Bias": (1.0, real)}),
    LayerDef("ResizeLayer", (("Specification", resize_spec),),
             {"Resampling": ("Linear", one_of("Linear", "Nearest")), "Interleaving": (False, boolean)}, required=1),
]
