"""Wolfram net constructor expressions -> `NetSpec` / `LayerSpec` (wl-nets.md §1, §2).

Accepts NetChain (list and association forms), NetGraph (all edge forms of §1.2), the short forms
(an integer, an elementwise symbol, a nested list; ``Plus``/``Times``/... in graphs), port specs
and coders, layer options as symbols or strings, LearningRateMultipliers, and arrays given as
lists or NumericArray. Every problem is one ``NetTrain::invnet`` line naming the layer's position.

For graphs the converter makes every connection explicit: unconnected layer inputs become graph
inputs named after the port (shared when several have the same name), unconnected outputs become
graph outputs ("Output", or "Output1", "Output2", ... when several are called "Output"), and
``{a, b} -> cat`` feeds a multiport layer's ports "1", "2", ... in order.
"""

from __future__ import annotations

from typing import Any

from engine.spec import DecoderSpec, EncoderSpec, LayerSpec, NetSpec
from wlbridge.messages import WLMessage
from wlbridge.nets.array_checks import check_arrays
from wlbridge.nets.edges import chain_as_graph, graph_edges, node_ports
from wlbridge.nets.exprs import (
    head_name,
    invnet,
    is_int,
    option_name,
    short,
    split_args,
    symbol_name,
    to_array,
    to_number,
)
from wlbridge.nets.functions import NARY, UNARY
from wlbridge.nets.layers import COMMON_OPTIONS, LAYERS, BadParam, LayerDef
from wlbridge.nets.ports import Ctx, port_spec

CONTAINERS = ("NetChain", "NetGraph")


# ---------------------------------------------------------------------------------------------
# entry points


def to_net_spec(expr: Any) -> NetSpec:
    """A `NetSpec` from a net expression (or Wolfram text).

    A single layer at top level is wrapped in a one-layer chain with key "1", so every net the
    engine sees is a container.
    """
    expr = _parsed(expr)
    ctx = Ctx()
    head = head_name(expr)
    if head in CONTAINERS:
        return _container(expr, head, ctx)
    if head == "NetMapOperator" or head in LAYERS:
        return NetSpec("chain", {"1": _layer(expr, ctx, head)})
    raise invnet(_unknown(expr, "the net"))


def to_layer_spec(expr: Any, where: str | None = None) -> LayerSpec:
    """A `LayerSpec` from one layer expression (short forms included)."""
    expr = _parsed(expr)
    node = _node(expr, Ctx(), where or _describe(expr), allow_threading=True)
    if isinstance(node, NetSpec):
        raise invnet(f"{where or short(expr)} is a container, not a layer")
    return node


def _parsed(expr: Any) -> Any:
    if isinstance(expr, str):
        from wlbridge.syntax import parse

        return parse(expr)
    return expr


# ---------------------------------------------------------------------------------------------
# nodes and layers


def _describe(expr: Any) -> str:
    return head_name(expr) or short(expr)


def _unknown(expr: Any, where: str) -> str:
    head = head_name(expr)
    if head is not None:
        return f"{where}: unknown or unsupported layer {head}"
    return f"{where}: {short(expr)} is not a layer"


def _node(expr: Any, ctx: Ctx, where: str, allow_threading: bool) -> LayerSpec | NetSpec:
    """One vertex of a container, short forms expanded (wl-nets.md §1.1, §1.2)."""
    if is_int(expr):
        if expr < 0:
            raise invnet(f"{where}: {expr} is not a valid layer size")
        return LayerSpec("LinearLayer", {"OutputDimensions": (int(expr),)})
    name = symbol_name(expr)
    if name is not None:
        if name in UNARY:
            return LayerSpec("ElementwiseLayer", {"Function": name})
        if allow_threading and name in NARY:
            return LayerSpec("ThreadingLayer", {"Function": name})
        raise invnet(f"{where}: the symbol {name} is not a layer")
    if isinstance(expr, (tuple, list)):
        return _chain(expr, (), ctx, where)
    head = head_name(expr)
    if head in CONTAINERS:
        return _container(expr, head, ctx, where)
    if head == "NetMapOperator" or head in LAYERS:
        return _layer(expr, ctx, where)
    raise invnet(_unknown(expr, where))


def _layer(expr: Any, ctx: Ctx, where: str) -> LayerSpec:
    head = head_name(expr)
    try:
        positional, options = split_args(expr.args)
    except WLMessage as err:
        raise invnet(f"{where}: {err.text}") from None
    if head == "NetMapOperator":
        if len(positional) != 1:
            raise invnet(f"{where}: NetMapOperator takes one net")
        inner = _node(positional[0], ctx, f"the net inside {where}", allow_threading=False)
        spec = LayerSpec("NetMapOperator", {"Net": inner})
        _layer_options(spec, options, LayerDef("NetMapOperator"), ctx, where)
        return spec
    d = LAYERS[head]
    spec = LayerSpec(head)
    if len(positional) > len(d.positional):
        raise invnet(f"{where}: too many parameters ({len(positional)} given, at most {len(d.positional)})")
    if len(positional) < d.required:
        names = ", ".join(n for n, _ in d.positional[: d.required])
        raise invnet(f"{where}: missing parameter ({names} must be given)")
    for (pname, norm), value in zip(d.positional, positional, strict=False):
        spec.args[pname] = _norm(norm, value, where, pname)
    for pname, _ in d.positional[len(positional):]:
        if pname in d.defaults:
            spec.args[pname] = d.defaults[pname]
    for oname, (default, _) in d.options.items():
        spec.args.setdefault(oname, default)
    _layer_options(spec, options, d, ctx, where)
    check_arrays(spec, where)
    return spec


def _norm(norm: Any, value: Any, where: str, name: str) -> Any:
    try:
        return norm(value)
    except BadParam as err:
        raise invnet(f'{where}: bad value for "{name}": {err}') from None


def _layer_options(spec: LayerSpec, options: list[tuple[Any, Any]], d: LayerDef, ctx: Ctx, where: str) -> None:
    positional_names = {n for n, _ in d.positional}
    seen: set[str] = set()
    for name, value in options:
        if not isinstance(name, str):
            raise invnet(f"{where}: {short(name)} is not an option name")
        if name in seen:
            raise invnet(f'{where}: the option "{name}" is given twice')
        seen.add(name)
        array = d.aliases.get(name, name)
        if array in d.arrays:
            if value is None or symbol_name(value) == "None":
                if array not in d.nullable:
                    raise invnet(f'{where}: the array "{array}" cannot be None')
                spec.arrays[array] = None
                spec.args[array] = None
            elif symbol_name(value) != "Automatic":
                arr = to_array(value, f'{where}: the array "{array}"')
                spec.arrays[array] = arr
        elif name in ("Input", "Output") or name in d.inputs or name in d.outputs:
            is_in = name == "Input" or (name in d.inputs and name != "Output")
            t, coder = port_spec(value, ctx, f'{where}: port "{name}"', is_in)
            if coder is not None and coder.kind != "Scalar":  # "Scalar" is just {1} on a layer
                raise invnet(f"{where}: coders can only be attached to the ports of the whole net")
            (spec.inputs if is_in else spec.outputs)[name] = t
        elif name == "LearningRateMultipliers":
            spec.lr_multiplier = _lr(value, where)
        elif name in d.options or name in positional_names:
            norm = d.options[name][1] if name in d.options else dict(d.positional)[name]
            spec.args[name] = _norm(norm, value, where, name)
        else:
            valid = [*d.options, *d.arrays, *COMMON_OPTIONS]
            raise invnet(f'{where}: unknown option "{name}" (valid options: {", ".join(valid)})')


def _lr(value: Any, where: str) -> float:
    n = to_number(value)
    if n is None or isinstance(value, bool):
        raise invnet(f"{where}: LearningRateMultipliers should be a number, not {short(value)}")
    return float(n)


# ---------------------------------------------------------------------------------------------
# containers


def _container(expr: Any, head: str, ctx: Ctx, where: str | None = None) -> NetSpec:
    positional, options = _split(expr, where or head)
    if not positional:
        raise invnet(f"{where or head}: no layers given")
    if head == "NetChain":
        if len(positional) != 1:
            raise invnet(f"{where or head}: NetChain takes one list or association of layers")
        return _chain(positional[0], options, ctx, where)
    if len(positional) == 1 and head_name(positional[0]) == "NetChain":
        # NetGraph[chain]: the chain's layers connected in order
        chain = _container(positional[0], "NetChain", ctx, where)
        return _apply_graph_options(chain_as_graph(chain), options, ctx, where or "NetGraph")
    if len(positional) == 1 and head_name(positional[0]) in LAYERS:
        layer = _layer(positional[0], ctx, f"{where or 'NetGraph'} layer")
        return _apply_graph_options(chain_as_graph(NetSpec("chain", {"1": layer})), options, ctx, where or "NetGraph")
    if len(positional) != 2:
        raise invnet(f"{where or head}: NetGraph takes the vertices and a list of edges")
    return _graph(positional[0], positional[1], options, ctx, where)


def _split(expr: Any, where: str) -> tuple[list[Any], list[tuple[Any, Any]]]:
    try:
        positional, options = split_args(expr.args)
    except WLMessage as err:
        raise invnet(f"{where}: {err.text}") from None
    return positional, [(option_name(k), v) for k, v in options]


def _members(layers: Any, kind: str, where: str) -> list[tuple[str, Any]]:
    if isinstance(layers, dict):
        out = []
        for k, v in layers.items():
            if not isinstance(k, str):
                raise invnet(f"{where}: the {kind} key {short(k)} should be a string")
            out.append((k, v))
        return out
    if isinstance(layers, (tuple, list)):
        return [(str(i), v) for i, v in enumerate(layers, 1)]
    raise invnet(f"{where}: the {kind}s should be a list or an association, not {short(layers)}")


def _position(key: str, value: Any, container: str, where: str | None, named: bool) -> str:
    label = f'"{key}"' if named else key
    inside = f"{container} at {where}" if where else container
    return f"{'vertex' if container == 'NetGraph' else 'layer'} {label} ({_describe(value)}) of {inside}"


def _chain(layers: Any, options: Any, ctx: Ctx, where: str | None) -> NetSpec:
    members = _members(layers, "layer", where or "NetChain")
    if not members:
        raise invnet(f"{where or 'NetChain'}: the chain has no layers")
    named = isinstance(layers, dict)
    nodes = {k: _node(v, ctx, _position(k, v, "NetChain", where, named), allow_threading=False)
             for k, v in members}
    spec = NetSpec("chain", nodes)
    here = where or "NetChain"
    first_in, _ = node_ports(next(iter(nodes.values())))
    _, last_out = node_ports(list(nodes.values())[-1])
    for name, value in options:
        if name == "LearningRateMultipliers":
            _container_lr(spec, value, here)
        elif name in first_in or name == "Input":
            _set_port(spec, name, value, ctx, here, is_input=True)
        elif name in last_out or name == "Output":
            _set_port(spec, name, value, ctx, here, is_input=False)
        else:
            raise invnet(
                f'{here}: "{name}" is neither an input port of the first layer nor an output port '
                f'of the last layer (ports: {", ".join(dict.fromkeys([*first_in, *last_out]))})'
            )
    return spec


def _set_port(spec: NetSpec, name: str, value: Any, ctx: Ctx, where: str, is_input: bool) -> None:
    t, coder = port_spec(value, ctx, f'{where}: port "{name}"', is_input)
    (spec.inputs if is_input else spec.outputs)[name] = t
    if isinstance(coder, EncoderSpec):
        spec.encoders[name] = coder
    elif isinstance(coder, DecoderSpec):
        spec.decoders[name] = coder


def _container_lr(spec: NetSpec, value: Any, where: str) -> None:
    """A number for the whole net, or rules ``key -> r`` for its members; ``All -> r`` and the
    pattern ``_ -> r`` set the rest (rules written first win, so ``{"a" -> 1, _ -> None}``
    trains "a" alone); None means 0 (frozen)."""
    rules = value if isinstance(value, (tuple, list)) else (value,)
    rest_set = False
    for r in rules:
        if head_name(r) == "Rule":
            key, rate = r.args
            rate_f = 0.0 if rate is None or symbol_name(rate) == "None" else _lr(rate, where)
            if symbol_name(key) == "All" or (head_name(key) == "Blank" and not key.args):
                if not rest_set:
                    spec.lr_multiplier, rest_set = rate_f, True
                continue
            k = str(key) if is_int(key) else key
            if not isinstance(k, str) or k not in spec.nodes:
                raise invnet(f"{where}: LearningRateMultipliers names {short(key)}, which is not a layer of the net")
            if not rest_set:  # after All/_ nothing is left for a later rule to match
                spec.nodes[k].lr_multiplier = rate_f
        else:
            spec.lr_multiplier = _lr(r, where)


# ---------------------------------------------------------------------------------------------
# graphs


def _graph(vertices: Any, edges_expr: Any, options: Any, ctx: Ctx, where: str | None) -> NetSpec:
    here = where or "NetGraph"
    members = _members(vertices, "vertex", here)
    if not members:
        raise invnet(f"{here}: the graph has no vertices")
    named = isinstance(vertices, dict)
    nodes = {k: _node(v, ctx, _position(k, v, "NetGraph", where, named), allow_threading=True)
             for k, v in members}
    edges = graph_edges(nodes, edges_expr, here)
    spec = NetSpec("graph", nodes, edges)
    return _apply_graph_options(spec, options, ctx, here)


def _apply_graph_options(spec: NetSpec, options: Any, ctx: Ctx, where: str) -> NetSpec:
    ins, outs = node_ports(spec)
    for name, value in options:
        if name == "LearningRateMultipliers":
            _container_lr(spec, value, where)
        elif name in ins:
            _set_port(spec, name, value, ctx, where, is_input=True)
        elif name in outs:
            _set_port(spec, name, value, ctx, where, is_input=False)
        else:
            raise invnet(f'{where}: "{name}" is not a port of the graph '
                         f'(inputs: {", ".join(ins) or "none"}; outputs: {", ".join(outs) or "none"})')
    return spec
