"""Table rows for the net operators (engine.layers.operators) and how trained ones are written.

Forms as on their pages: ``NetBidirectionalOperator[net]`` (two independently trained copies),
``NetBidirectionalOperator[{fnet, bnet}]``, ``NetBidirectionalOperator[nets, agg]`` with agg
Catenate (default), Total or Mean; ``NetFoldOperator[net]`` ("Output" fed back to "State");
``NetNestOperator[net, n]``; ``NetMapThreadOperator[net]``; ``NetPairEmbeddingOperator[net,
DistanceFunction -> EuclideanDistance | CosineDistance]`` (its "Input" is a pair {2, ...}).
A trained operator is written with its inner nets' arrays in place (a bidirectional operator
built from one net is written as ``{forward, backward}``, since the two copies differ).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wolframclient.language.expression import WLFunction

from wlbridge.nets.exprs import head_name, short, split_args, symbol_name
from wlbridge.nets.layers import BadParam, LayerDef, pos_int


def inner_net(v: Any) -> Any:
    """A layer or container expression -> its `LayerSpec` / `NetSpec`."""
    from wlbridge.messages import WLMessage
    from wlbridge.nets.convert import to_layer_spec, to_net_spec  # convert reads this table

    try:
        if head_name(v) in ("NetChain", "NetGraph"):
            return to_net_spec(v)
        return to_layer_spec(v)
    except WLMessage as err:
        raise BadParam(f"the inner net: {err.text}") from None


def net_pair(v: Any) -> tuple[Any, Any]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise BadParam(f"expected a net or a list {{fnet, bnet}}, not {short(v)}")
        return inner_net(v[0]), inner_net(v[1])
    return inner_net(v), inner_net(v)


def aggregation(v: Any) -> str:
    name = symbol_name(v) or v
    if name in ("Catenate", "Total", "Mean"):
        return name
    raise BadParam(f"expected Catenate, Total or Mean, not {short(v)}")


def distance(v: Any) -> str:
    name = symbol_name(v) or v
    if name in ("EuclideanDistance", "CosineDistance"):
        return name
    raise BadParam(f"expected EuclideanDistance or CosineDistance, not {short(v)}")


def feedback_rules(v: Any) -> dict[str, str]:
    """{"out1" -> "in1", ...}: outputs fed back to inputs at the next step."""
    rules = v if isinstance(v, (tuple, list)) else (v,)
    if rules and all(head_name(r) == "Rule" and all(isinstance(a, str) for a in r.args) for r in rules):
        return {r.args[0]: r.args[1] for r in rules}
    raise BadParam(f'expected feedback rules {{"out" -> "in", ...}}, not {short(v)}')


def port_names(v: Any) -> tuple[str, ...]:
    if isinstance(v, (tuple, list)) and all(isinstance(p, str) for p in v):
        return tuple(v)
    raise BadParam(f'expected a list of port names {{"name", ...}}, not {short(v)}')


def _fold_ports(spec: Any) -> tuple[str, ...]:
    """The operator's inputs: the net's inputs less the fed-back ones, constants last."""
    from wlbridge.nets.edges import _all_ports

    feedback = spec.args.get("Feedback") or {"Output": "State"}
    constants = spec.args.get("Constants") or ()
    names = _all_ports(spec.args["Net"])[0]
    mapped = tuple(p for p in names if p not in feedback.values() and p not in constants)
    return (*mapped, *constants)


def _map_thread_ports(spec: Any) -> tuple[str, ...]:
    from wlbridge.nets.edges import node_ports

    return node_ports(spec.args["Net"])[0]


ROWS = [
    LayerDef("NetBidirectionalOperator", (("Net", net_pair), ("Aggregation", aggregation)), required=1,
             defaults={"Aggregation": "Catenate"}),
    LayerDef("NetFoldOperator", (("Net", inner_net), ("Feedback", feedback_rules), ("Constants", port_names),
                                 ("Outputs", port_names)), required=1, ports=_fold_ports),
    LayerDef("NetNestOperator", (("Net", inner_net), ("Times", pos_int)), required=2),
    LayerDef("NetMapThreadOperator", (("Net", inner_net),), required=1, ports=_map_thread_ports),
    LayerDef("NetPairEmbeddingOperator", (("Net", inner_net),),
             {"DistanceFunction": ("EuclideanDistance", distance)}, required=1),
]


def _write_inner(expr: Any, node: Any, path: tuple[str, ...], arrays: dict, write_node: Callable,
                 write_rules: Callable) -> Any:
    positional, options = split_args(expr.args)
    inner = write_node(positional[0], node.args["Net"], (*path, "Net"), arrays)
    return WLFunction(expr.head, inner, *positional[1:], *write_rules(options))


def _write_bidirectional(expr: Any, node: Any, path: tuple[str, ...], arrays: dict, write_node: Callable,
                         write_rules: Callable) -> Any:
    positional, options = split_args(expr.args)
    nets = positional[0] if isinstance(positional[0], (tuple, list)) else (positional[0], positional[0])
    fwd, bwd = node.args["Net"]
    pair = (write_node(nets[0], fwd, (*path, "ForwardNet"), arrays),
            write_node(nets[1], bwd, (*path, "BackwardNet"), arrays))
    return WLFunction(expr.head, pair, *positional[1:], *write_rules(options))


WRITERS = {"NetBidirectionalOperator": _write_bidirectional, "NetFoldOperator": _write_inner,
           "NetNestOperator": _write_inner, "NetMapThreadOperator": _write_inner,
           "NetPairEmbeddingOperator": _write_inner}
