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

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from wolframclient.language.expression import WLSymbol

from engine.spec import DecoderSpec, EncoderSpec, LayerSpec, LengthVar, NetSpec, PortRef, TensorType
from wlbridge.coders import decoder_type, encoder_type, to_decoder_spec, to_encoder_spec
from wlbridge.messages import WLMessage
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

CONTAINERS = ("NetChain", "NetGraph")


@dataclass
class _Ctx:
    """Per-conversion state: fresh ids for each "Varying" dimension."""

    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def length_var(self) -> LengthVar:
        return LengthVar(next(self.ids))


# ---------------------------------------------------------------------------------------------
# entry points


def to_net_spec(expr: Any) -> NetSpec:
    """A `NetSpec` from a net expression (or Wolfram text).

    A single layer at top level is wrapped in a one-layer chain with key "1", so every net the
    engine sees is a container.
    """
    expr = _parsed(expr)
    ctx = _Ctx()
    head = head_name(expr)
    if head in CONTAINERS:
        return _container(expr, head, ctx)
    if head == "NetMapOperator" or head in LAYERS:
        return NetSpec("chain", {"1": _layer(expr, ctx, head)})
    raise invnet(_unknown(expr, "the net"))


def to_layer_spec(expr: Any, where: str | None = None) -> LayerSpec:
    """A `LayerSpec` from one layer expression (short forms included)."""
    expr = _parsed(expr)
    node = _node(expr, _Ctx(), where or _describe(expr), allow_threading=True)
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


def _node(expr: Any, ctx: _Ctx, where: str, allow_threading: bool) -> LayerSpec | NetSpec:
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


def _layer(expr: Any, ctx: _Ctx, where: str) -> LayerSpec:
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
    _check_arrays(spec, where)
    return spec


def _norm(norm: Any, value: Any, where: str, name: str) -> Any:
    try:
        return norm(value)
    except BadParam as err:
        raise invnet(f'{where}: bad value for "{name}": {err}') from None


def _layer_options(spec: LayerSpec, options: list[tuple[Any, Any]], d: LayerDef, ctx: _Ctx, where: str) -> None:
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
        elif name in ("Input", "Output") or name in _input_names(d, spec) or name in d.outputs:
            is_in = name == "Input" or (name in _input_names(d, spec) and name != "Output")
            t, coder = port_spec(value, ctx, f'{where}: port "{name}"', is_in)
            if coder is not None:
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


def _input_names(d: LayerDef, spec: LayerSpec) -> tuple[str, ...]:
    """The layer's input ports; a layer whose ports follow its parameters (FunctionLayer) says so."""
    return d.ports(spec) if d.ports is not None else d.inputs


def _lr(value: Any, where: str) -> float:
    n = to_number(value)
    if n is None or isinstance(value, bool):
        raise invnet(f"{where}: LearningRateMultipliers should be a number, not {short(value)}")
    return float(n)


def _check_arrays(spec: LayerSpec, where: str) -> None:
    """Shape checks that need no shape inference (the engine checks the rest when it builds)."""
    a, args = spec.arrays, spec.args

    def bad(name: str, expected: str) -> WLMessage:
        got = "x".join(str(s) for s in a[name].shape) or "a scalar"  # type: ignore[union-attr]
        return invnet(f'{where}: the array "{name}" should be {expected}, but has dimensions {got}')

    if spec.kind == "LinearLayer":
        out = args.get("OutputDimensions")
        size = int(np.prod(out)) if out is not None else None
        w, b = a.get("Weights"), a.get("Biases")
        if w is not None and (w.ndim != 2 or (size is not None and w.shape[0] != size)):
            raise bad("Weights", f"a matrix with {size} rows" if size is not None else "a matrix")
        if b is not None:
            rows = size if size is not None else (w.shape[0] if w is not None else None)
            if b.ndim != 1 or (rows is not None and b.shape[0] != rows):
                raise bad("Biases", f"a vector of length {rows}" if rows is not None else "a vector")
    elif spec.kind == "ConvolutionLayer":
        n, k = args["OutputChannels"], args["KernelSize"]
        w, b = a.get("Weights"), a.get("Biases")
        if w is not None:
            kdims = k if isinstance(k, tuple) else None
            ok = w.ndim >= 3 and w.shape[0] == n
            ok = ok and (kdims is None or tuple(w.shape[2:]) == kdims)
            ok = ok and (kdims is not None or all(s == k for s in w.shape[2:]))
            if not ok:
                raise bad("Weights", f"an array {{{n}, inputChannels, kernel...}} with kernel {k}")
        if b is not None and (b.ndim != 1 or b.shape[0] != n):
            raise bad("Biases", f"a vector of length {n}")
    elif spec.kind == "EmbeddingLayer":
        w = a.get("Weights")
        n, size = args.get("InputDimensions"), args["OutputDimensions"]
        if w is not None and (w.ndim != 2 or w.shape[1] != size or (n is not None and w.shape[0] != n)):
            raise bad("Weights", f"a matrix {{{n or 'classes'}, {size}}}")
    elif spec.kind in ("BatchNormalizationLayer",):
        for name, arr in a.items():
            if arr is not None and arr.ndim != 1:
                raise bad(name, "a vector")
        lengths = {arr.shape[0] for arr in a.values() if arr is not None}
        if len(lengths) > 1:
            raise invnet(f"{where}: the arrays have different lengths {sorted(lengths)}")
    elif spec.kind in ("LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer"):
        n = args["OutputSize"]
        for name, arr in a.items():
            if arr is None:
                continue
            if name.endswith("Biases") and arr.shape != (n,):
                raise bad(name, f"a vector of length {n}")
            if name.endswith("StateWeights") and arr.shape != (n, n):
                raise bad(name, f"a {n}x{n} matrix")
            if name.endswith("InputWeights") and (arr.ndim != 2 or arr.shape[0] != n):
                raise bad(name, f"a matrix with {n} rows")


# ---------------------------------------------------------------------------------------------
# port specs


def port_spec(value: Any, ctx: _Ctx, where: str, is_input: bool) -> tuple[TensorType, EncoderSpec | DecoderSpec | None]:
    """A port spec (wl-nets.md §1.1 table) as a type, plus the coder when one is given."""
    head = head_name(value)
    if head == "NetEncoder":
        if not is_input:
            raise invnet(f"{where}: a NetEncoder can only be attached to an input")
        enc = _coder(to_encoder_spec, value, where)
        return encoder_type(enc, ctx.length_var().id), enc
    if head == "NetDecoder":
        if is_input:
            raise invnet(f"{where}: a NetDecoder can only be attached to an output")
        dec = _coder(to_decoder_spec, value, where)
        return decoder_type(dec), dec
    elem = _element_type(value)
    if elem is not False:
        return TensorType((), elem), None
    if value == "Varying":
        return TensorType((ctx.length_var(),)), None
    if is_int(value) and value > 0:
        return TensorType((int(value),)), None
    if isinstance(value, (tuple, list)):
        items = list(value)
        index = None
        if items:
            last = _element_type(items[-1])
            if last is not False:
                index = last
                items = items[:-1]
        dims: list[Any] = []
        for i, d in enumerate(items):
            if d == "Varying" and i == 0:
                dims.append(ctx.length_var())
            elif is_int(d) and d > 0:
                dims.append(int(d))
            elif symbol_name(d) == "Automatic":
                dims.append(None)
            else:
                raise invnet(f"{where}: bad dimension {short(d)} in the port specification {short(value)}")
        return TensorType(tuple(dims), index), None
    raise invnet(
        f'{where}: invalid port specification {short(value)} (use "Real", "Integer", '
        'Restricted["Integer", n], n, {n1, n2, ...}, "Varying", {"Varying", n}, NetEncoder or NetDecoder)'
    )


def _coder(reader: Any, value: Any, where: str) -> Any:
    try:
        return reader(value)
    except WLMessage as err:
        raise invnet(f"{where}: {err.text}") from None


def _element_type(value: Any) -> Any:
    """The index range of a scalar element spec, None for "Real", False if not an element spec."""
    if value == "Real":
        return None
    if value == "Integer":
        return 0  # IndexIntegerT[All]: an integer of unknown range
    if head_name(value) == "Restricted" and len(value.args) == 2 and value.args[0] == "Integer":
        n = value.args[1]
        if is_int(n) and n > 0:
            return int(n)
    return False


# ---------------------------------------------------------------------------------------------
# containers


def _container(expr: Any, head: str, ctx: _Ctx, where: str | None = None) -> NetSpec:
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
        return _apply_graph_options(_chain_as_graph(chain), options, ctx, where or "NetGraph")
    if len(positional) == 1 and head_name(positional[0]) in LAYERS:
        layer = _layer(positional[0], ctx, f"{where or 'NetGraph'} layer")
        return _apply_graph_options(_chain_as_graph(NetSpec("chain", {"1": layer})), options, ctx, where or "NetGraph")
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


def _chain(layers: Any, options: Any, ctx: _Ctx, where: str | None) -> NetSpec:
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


def _set_port(spec: NetSpec, name: str, value: Any, ctx: _Ctx, where: str, is_input: bool) -> None:
    t, coder = port_spec(value, ctx, f'{where}: port "{name}"', is_input)
    (spec.inputs if is_input else spec.outputs)[name] = t
    if isinstance(coder, EncoderSpec):
        spec.encoders[name] = coder
    elif isinstance(coder, DecoderSpec):
        spec.decoders[name] = coder


def _container_lr(spec: NetSpec, value: Any, where: str) -> None:
    """A number for the whole net, or rules ``key -> r`` for its members (``All -> r`` too)."""
    rules = value if isinstance(value, (tuple, list)) else (value,)
    for r in rules:
        if head_name(r) == "Rule":
            key, rate = r.args
            rate_f = _lr(rate, where)
            if symbol_name(key) == "All":
                spec.lr_multiplier = rate_f
                continue
            k = str(key) if is_int(key) else key
            if not isinstance(k, str) or k not in spec.nodes:
                raise invnet(f"{where}: LearningRateMultipliers names {short(key)}, which is not a layer of the net")
            spec.nodes[k].lr_multiplier = rate_f
        else:
            spec.lr_multiplier = _lr(r, where)


# ---------------------------------------------------------------------------------------------
# graphs


def node_ports(node: LayerSpec | NetSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (required input, output) port names of a vertex; multiport layers have no fixed
    inputs (their ports "1", "2", ... come from the edges)."""
    if isinstance(node, LayerSpec):
        if node.kind == "NetMapOperator":
            return ("Input",), ("Output",)
        d = LAYERS[node.kind]
        if d.ports is not None:
            return d.ports(node), d.outputs
        if d.multiport:
            return (), d.outputs
        keep = [p for p in d.inputs if p not in d.optional_ports]
        return tuple(keep), tuple(p for p in d.outputs if p not in d.optional_ports)
    if node.kind == "chain":
        nodes = list(node.nodes.values())
        first_in, _ = node_ports(nodes[0])
        _, last_out = node_ports(nodes[-1])
        return first_in, last_out
    ins = tuple(dict.fromkeys(s[1] for s, _ in node.edges if s[0] is None))
    outs = tuple(dict.fromkeys(d[1] for _, d in node.edges if d[0] is None))
    return ins, outs


def _all_ports(node: LayerSpec | NetSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every port an explicit ``NetPort[v, "p"]`` may name (state ports included)."""
    if isinstance(node, LayerSpec) and node.kind in LAYERS:
        d = LAYERS[node.kind]
        if d.ports is not None:
            return d.ports(node), d.outputs
        return (() if d.multiport else d.inputs), d.outputs
    return node_ports(node)


def _chain_as_graph(chain: NetSpec) -> NetSpec:
    keys = list(chain.nodes)
    edges: list[tuple[PortRef, PortRef]] = []
    first_in, _ = node_ports(chain.nodes[keys[0]])
    for p in first_in:
        edges.append(((None, p), (keys[0], p)))
    for a, b in itertools.pairwise(keys):
        edges.append(((a, node_ports(chain.nodes[a])[1][0]), (b, node_ports(chain.nodes[b])[0][0])))
    for p in node_ports(chain.nodes[keys[-1]])[1]:
        edges.append(((keys[-1], p), (None, p)))
    return NetSpec("graph", chain.nodes, edges, chain.inputs, chain.outputs, chain.encoders,
                   chain.decoders, chain.lr_multiplier)


def _flatten_edges(e: Any, where: str) -> tuple[list[Any], list[Any], list[tuple[Any, Any]]]:
    """(heads, tails, pairs) of an edge expression: ``a -> b -> c``, lists on either side,
    nested forms; pairs keep the written order, which sets multiport numbering."""
    if isinstance(e, (tuple, list)):
        heads, tails, pairs = [], [], []
        for x in e:
            h, t, p = _flatten_edges(x, where)
            heads += h
            tails += t
            pairs += p
        return heads, tails, pairs
    if head_name(e) == "Rule" and len(e.args) == 2:
        ha, ta, pa = _flatten_edges(e.args[0], where)
        hb, tb, pb = _flatten_edges(e.args[1], where)
        return ha, tb, pa + [(s, d) for d in hb for s in ta] + pb
    return [e], [e], []


def _graph(vertices: Any, edges_expr: Any, options: Any, ctx: _Ctx, where: str | None) -> NetSpec:
    here = where or "NetGraph"
    members = _members(vertices, "vertex", here)
    if not members:
        raise invnet(f"{here}: the graph has no vertices")
    named = isinstance(vertices, dict)
    nodes = {k: _node(v, ctx, _position(k, v, "NetGraph", where, named), allow_threading=True)
             for k, v in members}
    if not isinstance(edges_expr, (tuple, list)):
        edges_expr = (edges_expr,)
    _, _, pairs = _flatten_edges(edges_expr, here)
    if not pairs and len(nodes) > 1:
        raise invnet(f"{here}: no edges given")

    edges: list[tuple[PortRef, PortRef]] = []
    muted: set[PortRef] = set()
    pending: dict[str, list[PortRef]] = {}  # destination vertex -> sources, port still to assign
    for s, d in pairs:
        src = _endpoint(s, nodes, here, source=True)
        if d is None or symbol_name(d) == "None":
            muted.add(src)
            continue
        dst = _endpoint(d, nodes, here, source=False)
        if dst[1] is None:
            pending.setdefault(dst[0], []).append(src)  # type: ignore[index]
        else:
            edges.append((src, dst))  # type: ignore[arg-type]
    explicit_dst = {d for _, d in edges}
    for key, sources in pending.items():
        ins, _ = node_ports(nodes[key])
        if not ins:  # multiport: "1", "2", ... in order
            edges.extend((s, (key, str(i))) for i, s in enumerate(sources, 1))
            continue
        free = [p for p in ins if (key, p) not in explicit_dst]
        if len(sources) > len(free):
            raise invnet(f'{here}: {len(sources)} edges go into vertex "{key}", which has only '
                         f'{len(free)} free input port(s) ({", ".join(free) or "none"})')
        edges.extend((s, (key, p)) for s, p in zip(sources, free, strict=False))

    # unconnected ports become ports of the graph
    fed = {d for _, d in edges}
    used = {s for s, _ in edges} | muted
    for key, node in nodes.items():
        ins, _ = node_ports(node)
        for p in ins:
            if (key, p) not in fed:
                edges.append(((None, p), (key, p)))
        if isinstance(node, LayerSpec) and node.kind in LAYERS and LAYERS[node.kind].multiport:
            if not any(d[0] == key for _, d in edges):
                raise invnet(f'{here}: vertex "{key}" ({node.kind}) has no inputs connected')
    loose = [(key, p) for key, node in nodes.items() for p in node_ports(node)[1] if (key, p) not in used]
    explicit_out = {d[1] for _, d in edges if d[0] is None}
    counts: dict[str, int] = {}
    for _, p in loose:
        counts[p] = counts.get(p, 0) + 1
    numbering: dict[str, int] = {}
    for key, p in loose:
        name = p
        if counts[p] > 1:
            numbering[p] = numbering.get(p, 0) + 1
            name = f"{p}{numbering[p]}"
        if name in explicit_out:
            raise invnet(f'{here}: the output "{name}" of vertex "{key}" clashes with a graph output of the same name')
        edges.append(((key, p), (None, name)))
    _check_graph_wiring(edges, nodes, here)
    spec = NetSpec("graph", nodes, edges)
    return _apply_graph_options(spec, options, ctx, here)


def _endpoint(e: Any, nodes: dict[str, Any], where: str, source: bool) -> tuple[str | None, str | None]:
    """An edge end: a vertex (port to assign), a graph port, or a vertex's named port."""
    side = "source" if source else "destination"
    if is_int(e) or isinstance(e, str):
        key = str(e)
        if key not in nodes:
            raise invnet(f"{where}: the edge {side} {short(e)} is not a vertex of the graph "
                         f"(vertices: {', '.join(nodes)})")
        if source:
            outs = node_ports(nodes[key])[1]
            if len(outs) != 1:
                raise invnet(f'{where}: vertex "{key}" has several outputs ({", ".join(outs)}); '
                             f'name one with NetPort["{key}", "port"]')
            return key, outs[0]
        return key, None
    if head_name(e) == "NetPort":
        args = e.args
        if len(args) == 1 and isinstance(args[0], str):
            return None, args[0]
        if len(args) == 1 and isinstance(args[0], (tuple, list)) and len(args[0]) == 2:
            args = tuple(args[0])
        if len(args) == 2 and (is_int(args[0]) or isinstance(args[0], str)) and isinstance(args[1], str):
            key, port = str(args[0]), args[1]
            if key not in nodes:
                raise invnet(f"{where}: {short(e)} refers to a missing vertex {short(args[0])} "
                             f"(vertices: {', '.join(nodes)})")
            ins, outs = _all_ports(nodes[key])
            ports = outs if source else ins
            multi = not ins and not source
            if not multi and port not in ports:
                kind = "output" if source else "input"
                raise invnet(f'{where}: vertex "{key}" has no {kind} port "{port}" '
                             f'({kind}s: {", ".join(ports) or "none"})')
            return key, port
        raise invnet(f"{where}: cannot read the port {short(e)}")
    if isinstance(e, WLSymbol) and symbol_name(e) == "None" and not source:
        return None, None
    raise invnet(f"{where}: cannot read the edge {side} {short(e)}")


def _check_graph_wiring(edges: list[tuple[PortRef, PortRef]], nodes: dict[str, Any], where: str) -> None:
    seen: dict[PortRef, PortRef] = {}
    for s, d in edges:
        if d in seen and seen[d] != s:
            who = f'vertex "{d[0]}" port "{d[1]}"' if d[0] is not None else f'graph output "{d[1]}"'
            raise invnet(f"{where}: {who} is fed by more than one edge")
        seen[d] = s
    # cycles
    graph: dict[str, set[str]] = {k: set() for k in nodes}
    for s, d in edges:
        if s[0] is not None and d[0] is not None:
            graph[s[0]].add(d[0])
    state: dict[str, int] = {}

    def visit(k: str) -> None:
        state[k] = 1
        for n in graph[k]:
            if state.get(n) == 1:
                raise invnet(f'{where}: the edges form a cycle through vertex "{n}"')
            if n not in state:
                visit(n)
        state[k] = 2

    for k in nodes:
        if k not in state:
            visit(k)


def _apply_graph_options(spec: NetSpec, options: Any, ctx: _Ctx, where: str) -> NetSpec:
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
