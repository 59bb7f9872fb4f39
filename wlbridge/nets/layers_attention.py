"""Table rows for DotLayer and AttentionLayer (engine.layers.attention), and how a trained
AttentionLayer is written back.

``AttentionLayer[]`` is ``AttentionLayer["Bilinear"]``; ``AttentionLayer["Dot"]``;
``AttentionLayer[net]`` with a scoring ``NetGraph`` taking "Input" (key) and "Query" vectors to a
scalar. Options as on the documentation page: "Dropout" (0), "Mask" (None, "Causal",
``{"Causal", n}``), "MultiHead" (False), "ScoreRescaling" (None, "LengthSqrt", "DimensionSqrt"),
LearningRateMultipliers, and the ports "Key", "Value", "Query", "Output".

Write-back: the "Bilinear" scoring net holds a learned matrix, and AttentionLayer has no option
to carry it, so a trained layer is written with its scoring net spelled out as NeuralNetworks
defines it: ``AttentionLayer[NetGraph[<|"Linear" -> LinearLayer["Biases" -> None, "Weights" ->
W], "Dot" -> DotLayer[]|>, {{NetPort["Query"], "Linear"} -> "Dot"}], opts]``, which reads back
to the same layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLFunction

from wlbridge.nets.exprs import head_name, is_int, numeric_array, short, split_args, symbol_name
from wlbridge.nets.layers import BadParam, LayerDef, boolean, one_of, probability


def scoring_net(v: Any) -> Any:
    """"Dot" | "Bilinear" | a NetGraph/NetChain expression (-> its `NetSpec`)."""
    if v in ("Dot", "Bilinear"):
        return v
    if head_name(v) in ("NetGraph", "NetChain"):
        from wlbridge.messages import WLMessage
        from wlbridge.nets.convert import to_net_spec  # convert reads this table: import late

        try:
            return to_net_spec(v)
        except WLMessage as err:
            raise BadParam(f"the scoring net: {err.text}") from None
    raise BadParam(f'expected "Dot", "Bilinear" or a scoring NetGraph, not {short(v)}')


def attention_mask(v: Any) -> Any:
    """None | "Causal" -> ("Causal", None) | {"Causal", n} -> ("Causal", n)."""
    if v is None or symbol_name(v) == "None":
        return None
    if v == "Causal":
        return ("Causal", None)
    if isinstance(v, (tuple, list)) and len(v) == 2 and v[0] == "Causal" and is_int(v[1]) and v[1] > 0:
        return ("Causal", int(v[1]))
    raise BadParam(f'expected None, "Causal" or {{"Causal", n}}, not {short(v)}')


def rescaling(v: Any) -> Any:
    if v is None or symbol_name(v) == "None":
        return None
    return one_of("LengthSqrt", "DimensionSqrt")(v)


ROWS = [
    LayerDef("DotLayer", multiport=True),
    LayerDef("AttentionLayer", (("ScoringNet", scoring_net),),
             {"Mask": (None, attention_mask), "ScoreRescaling": (None, rescaling),
              "MultiHead": (False, boolean), "Dropout": (0.0, probability)},
             inputs=("Key", "Value", "Query"), defaults={"ScoringNet": "Bilinear"}),
]


# ---------------------------------------------------------------------------------------------
# write-back

NodeWriter = Callable[[Any, Any, tuple[str, ...], dict], Any]


def write_attention(expr: Any, node: Any, path: tuple[str, ...], arrays: dict, write_node: NodeWriter,
                    write_rules: Callable[[list], list]) -> Any:
    """The trained AttentionLayer ``expr`` with its scoring net's arrays written in."""
    positional, options = split_args(expr.args)
    inner_path = (*path, "ScoringNet")
    scoring = node.args.get("ScoringNet", "Bilinear")
    rules = write_rules(options)
    if scoring == "Dot":
        return expr
    if scoring == "Bilinear":
        w = arrays[(*inner_path, "Linear", "Weights")]
        net = wl.NetGraph(
            {"Linear": wl.LinearLayer(int(w.shape[0]), wl.Rule("Biases", getattr(wl, "None")),
                                      wl.Rule("Weights", numeric_array(w))),
             "Dot": wl.DotLayer()},
            (wl.Rule((wl.NetPort("Query"), "Linear"), "Dot"),))
        return WLFunction(expr.head, net, *rules)
    return WLFunction(expr.head, write_node(positional[0], scoring, inner_path, arrays), *rules)


WRITERS = {"AttentionLayer": write_attention}
