"""Table rows for ContrastiveLossLayer, CTCLossLayer, RandomArrayLayer and SequenceAttentionLayer:
``ContrastiveLossLayer[margin]`` (0.5), ``CTCLossLayer[]`` (ports "Input", "Target" -> "Output"),
``RandomArrayLayer[dist, "Output" -> dims]`` with ``NormalDistribution[mu, sigma]`` or
``UniformDistribution[{a, b}]``, and ``SequenceAttentionLayer[scoring]`` (ports "Input", "Query")."""

from __future__ import annotations

from typing import Any

from wlbridge.nets.exprs import head_name, short, to_number
from wlbridge.nets.layers import BadParam, LayerDef, real
from wlbridge.nets.layers_attention import WRITERS as ATTENTION_WRITERS
from wlbridge.nets.layers_attention import scoring_net


def distribution(v: Any) -> tuple[str, float, float]:
    head, args = head_name(v), getattr(v, "args", ())
    nums = [to_number(a) for a in args]
    if head == "NormalDistribution" and len(args) in (0, 2) and None not in nums:
        mu, sigma = (float(nums[0]), float(nums[1])) if args else (0.0, 1.0)
        if sigma > 0:
            return ("Normal", mu, sigma)
    if head == "UniformDistribution":
        if not args:
            return ("Uniform", 0.0, 1.0)
        if len(args) == 1 and isinstance(args[0], (tuple, list)) and len(args[0]) == 2:
            lo, hi = (to_number(x) for x in args[0])
            if lo is not None and hi is not None and hi > lo:
                return ("Uniform", float(lo), float(hi))
    raise BadParam(f"expected NormalDistribution[mu, sigma] or UniformDistribution[{{a, b}}], not {short(v)}")


ROWS = [
    LayerDef("ContrastiveLossLayer", (("Margin", real),), defaults={"Margin": 0.5},
             inputs=("Input", "Target"), outputs=("Loss",)),
    LayerDef("CTCLossLayer", inputs=("Input", "Target"), outputs=("Output",)),
    LayerDef("RandomArrayLayer", (("Distribution", distribution),), inputs=(),
             defaults={"Distribution": ("Normal", 0.0, 1.0)}),
    LayerDef("SequenceAttentionLayer", (("ScoringNet", scoring_net),), inputs=("Input", "Query"),
             defaults={"ScoringNet": "Bilinear"}),
]
WRITERS = {"SequenceAttentionLayer": ATTENTION_WRITERS["AttentionLayer"]}
