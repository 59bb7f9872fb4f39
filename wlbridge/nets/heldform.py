"""The net structure the kernel sends: ``Information[net0, "InputForm"]`` -> `NetSpec`.

A real kernel's evaluated net is not its constructor (its InputForm is the internal association,
wl-nets.md §3.1). The paclet therefore sends the held constructor form that NeuralNetworks'
``ToNetInputForm`` writes (DESIGN rule 6): ``HoldForm[NetChain[{LinearLayer[{32}],
ElementwiseLayer[Ramp], ...}, "Input" -> {784}]]``. What that writer does, and so what this
reader accepts beyond the user-facing syntax of `wlbridge.nets.convert`:

* a ``HoldForm``/``Hold``/``HoldComplete``/``Defer`` wrapper, or none; text or an expression;
* each layer's parameters in declaration order: positional ones first (sizes as lists, functions
  as symbols, Wolfram levels and spans as stored), the rest as ``"Key" -> value`` rules with
  string keys; defaults, ``$``-parameters and ``"Dimensionality"`` left out;
* inferred sizes that are not constructor options (BatchNormalization's ``"Channels"``): read
  and dropped, since the engine infers them again from the input;
* the container's inputs appended as ``"port" -> spec`` (``"Inputs" -> {specs}`` for a multiport
  net), outputs and coders never (the paclet sends the output coders in the port table);
* list-form nodes when the keys are "1", "2", ...; edges as ``NetGraph`` writes them.

Layers the engine lacks are refused before anything else happens, naming the layer and its
position in the net (``{2, "lstm"}``), so no data is sent for a net that cannot train.
"""

from __future__ import annotations

from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLFunction

from engine.spec import NetSpec
from wlbridge.nets.convert import CONTAINERS, node_ports, to_net_spec
from wlbridge.nets.exprs import head_name, invnet, is_rule, short, split_args
from wlbridge.nets.layers import LAYERS

__all__ = ["held_net", "held_net_spec", "unwrap"]

_WRAPPERS = ("HoldForm", "Hold", "HoldComplete", "Defer", "Unevaluated")
#: Parameters ToNetInputForm writes (they have no "$") that only repeat a size the engine
#: infers from the input: BatchNormalization's and (before 12.0) Pooling's "Channels",
#: Convolution's "InputChannels". Dropped wherever the layer table does not take them.
_INFERRED = ("Channels", "InputChannels")
_OPERATORS = ("NetMapOperator",)


def unwrap(structure: Any) -> Any:
    """The constructor inside any hold wrapper; text is parsed first."""
    if isinstance(structure, str):
        from wlbridge.syntax import parse

        structure = parse(structure)
    while head_name(structure) in _WRAPPERS and len(structure.args) == 1:
        structure = structure.args[0]
    return structure


def held_net(structure: Any, ports: dict[str, Any] | None = None) -> Any:
    """The constructor expression the converter reads: wrapper gone, inferred parameters
    dropped, unsupported layers refused, and the output coders of the port table attached."""
    expr = unwrap(structure)
    head = head_name(expr)
    if head not in CONTAINERS and head not in LAYERS and head not in _OPERATORS:
        raise invnet(f"the net structure should be a held NetChain[...] or NetGraph[...] "
                     f"(Information[net, \"InputForm\"]), not {short(expr)}")
    expr = _clean(expr, ())
    return _with_coders(expr, ports or {})


def held_net_spec(structure: Any, ports: dict[str, Any] | None = None) -> tuple[Any, NetSpec]:
    """(constructor expression, `NetSpec`) of a held structure; see `held_net`."""
    expr = held_net(structure, ports)
    return expr, to_net_spec(expr)


# ---------------------------------------------------------------------------------------------
# walking the held form


def _where(position: tuple[Any, ...]) -> str:
    return "{" + ", ".join(f'"{p}"' if isinstance(p, str) else str(p) for p in position) + "}"


def _clean(expr: Any, position: tuple[Any, ...]) -> Any:
    """One node: containers recurse, layers lose inferred parameters, anything else that looks
    like a layer or operator is refused."""
    head = head_name(expr)
    if isinstance(expr, (tuple, list)):  # a nested chain written as a list
        return tuple(_clean(v, (*position, i)) for i, v in enumerate(expr, 1))
    if head in CONTAINERS:
        positional, options = split_args(expr.args)
        if not positional:
            return expr
        nodes = positional[0]
        if isinstance(nodes, dict):
            nodes = {k: _clean(v, (*position, k)) for k, v in nodes.items()}
        elif isinstance(nodes, (tuple, list)):
            nodes = tuple(_clean(v, (*position, i)) for i, v in enumerate(nodes, 1))
        else:
            nodes = _clean(nodes, position)
        rules = [wl.Rule(k, v) for k, v in options if k != "Inputs"]
        rules += _multiport_inputs(dict(options).get("Inputs"))
        return WLFunction(expr.head, nodes, *positional[1:], *rules)
    if head in _OPERATORS:
        positional, options = split_args(expr.args)
        inner = [_clean(positional[0], (*position, "Net"))] if positional else []
        return WLFunction(expr.head, *inner, *positional[1:], *(wl.Rule(k, v) for k, v in options))
    if head in LAYERS:
        d = LAYERS[head]
        taken = {*d.options, *(n for n, _ in d.positional), *d.arrays, *d.aliases}
        drop = [n for n in _INFERRED if n not in taken]
        kept = [a for a in expr.args
                if not (is_rule(a) and isinstance(a.args[0], str)
                        and (a.args[0] in drop or a.args[0].startswith("$")))]
        return WLFunction(expr.head, *kept)
    if head is not None and (head.endswith("Layer") or head.endswith("Operator")):
        where = f" at position {_where(position)}" if position else ""
        raise invnet(f"the layer {head}{where} is not supported by wlbridge's PyTorch engine "
                     f"(supported: {', '.join(sorted([*LAYERS, *_OPERATORS]))})")
    return expr  # short forms (Ramp, 10, Plus) and anything the converter names itself


def _multiport_inputs(specs: Any) -> list[Any]:
    """``"Inputs" -> {s1, s2}`` of a multiport net -> its ports "1", "2", ... (12.0 names)."""
    if not isinstance(specs, (tuple, list)):
        return []
    return [wl.Rule(str(i), s) for i, s in enumerate(specs, 1)]


# ---------------------------------------------------------------------------------------------
# output coders from the port table


def _with_coders(expr: Any, ports: dict[str, Any]) -> Any:
    """Attach NetDecoder["Class"]/["Boolean"] to the outputs the port table marks, so that
    targets train as class indices (the labels stay in the kernel: 1..n stand for them)."""
    rules = []
    outputs = _outputs(expr)
    for port, info in ports.items():
        if port not in outputs or not isinstance(info, dict):
            continue
        kind = info.get("Kind")
        if kind == "Class":
            n = _class_count(port, info)
            rules.append(wl.Rule(port, wl.NetDecoder(("Class", tuple(range(1, n + 1))))))
        elif kind == "Boolean":
            rules.append(wl.Rule(port, wl.NetDecoder("Boolean")))
    if not rules:
        return expr
    head = head_name(expr)
    if head not in CONTAINERS:  # a bare layer: hold it in a one-layer chain, as the engine does
        expr = wl.NetChain((expr,))
    named = {r.args[0] for r in rules}
    keep = [a for a in expr.args if not (is_rule(a) and a.args[0] in named)]
    return WLFunction(expr.head, *keep, *rules)


def _outputs(expr: Any) -> tuple[str, ...]:
    """The output port names of the net (read from a first conversion of the structure)."""
    try:
        spec = to_net_spec(expr)
    except Exception:  # the real conversion below gives the message
        return ("Output",)
    return node_ports(spec)[1] or ("Output",)


def _class_count(port: str, info: dict[str, Any]) -> int:
    labels = info.get("Labels")
    if isinstance(labels, (tuple, list)) and labels:
        return len(labels)
    dims = info.get("Dimensions")
    if isinstance(dims, (tuple, list)) and dims and isinstance(dims[-1], int):
        return int(dims[-1])
    raise invnet(f'the port "{port}" is a "Class" port without "Labels" or "Dimensions"')

